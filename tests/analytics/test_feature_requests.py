"""Feature requests: one vote each, merge, the brief's score and levels, roadmap, voters told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from analytics import feature_requests as fr
from analytics import flags
from analytics.models import FeatureRequest, FeatureVote, Notice
from lms.models import User


@pytest.mark.parametrize(
    ("votes", "impact", "alignment", "complexity", "score", "level"),
    [
        (0, None, None, None, 3.0, "BACKLOG"),  # all defaults: 0 + 1.5 + 1.0 + 0.5
        (100, 10, 10, 0, 10.0, "HIGH"),  # 4 + 3 + 2 + 1
        (250, 10, 10, 0, 10.0, "HIGH"),  # demand capped at 10
        (50, 8, 6, 4, 6.2, "MEDIUM"),  # 2 + 2.4 + 1.2 + 0.6
        (0, 10, 10, 0, 6.0, "MEDIUM"),  # exactly at the MEDIUM line
        (30, 6, 5, 5, 4.5, "LOW"),  # 1.2 + 1.8 + 1.0 + 0.5
        (7, 4, 3, 9, 2.18, "BACKLOG"),  # 0.28 + 1.2 + 0.6 + 0.1
    ],
)
def test_priority_score_and_level_follow_the_brief(votes, impact, alignment, complexity, score, level) -> None:
    assert fr.priority_score(votes, impact, alignment, complexity) == score
    assert fr.priority_level(score) == level


def test_the_sql_score_matches_and_orders_the_top_ten(admin) -> None:
    rows = [
        FeatureRequest(title=f"r{i}", votes=i * 7, business_impact=i % 11, complexity=(i * 3) % 11) for i in range(15)
    ]
    FeatureRequest.objects.bulk_create(rows)
    top = fr.top_ten()
    assert len(top) == 10
    for r in top:
        assert r.score == pytest.approx(
            fr.priority_score(r.votes, r.business_impact, r.strategic_alignment, r.complexity)
        )
    assert [r.score for r in top] == sorted((r.score for r in top), reverse=True)


def test_nobody_votes_twice_staff_included_and_a_vote_can_be_withdrawn(api_for, admin, student) -> None:
    item = fr.request_submit(user=student, title="Dark mode")
    assert item.votes == 1  # the author's
    api = api_for(admin)
    assert api.post(f"/api/v1/feature-requests/{item.pk}/vote/").json() == {"counted": True, "votes": 2}
    assert api.post(f"/api/v1/feature-requests/{item.pk}/vote/").json() == {"counted": False, "votes": 2}
    assert api.delete(f"/api/v1/feature-requests/{item.pk}/vote/").json() == {"withdrawn": True, "votes": 1}
    assert api.delete(f"/api/v1/feature-requests/{item.pk}/vote/").json() == {"withdrawn": False, "votes": 1}
    assert FeatureVote.objects.filter(request=item).count() == 1


def test_merging_a_duplicate_moves_votes_once_and_comments(admin, student, outsider) -> None:
    original = fr.request_submit(user=student, title="Dark mode")
    duplicate = fr.request_submit(user=outsider, title="Night theme")
    fr.vote(user=student, request=duplicate)  # voted for both
    fr.comment(user=outsider, request=duplicate, body="my eyes")
    merged = fr.request_merge(duplicate=duplicate, into=original, actor=admin)
    assert merged.votes == 2 and FeatureVote.objects.filter(request=original).count() == 2
    assert original.comments.count() == 1
    duplicate.refresh_from_db()
    assert duplicate.merged_into == original and duplicate.votes == 0
    # voting for the merged one counts for the original, still once
    assert fr.vote(user=outsider, request=duplicate) is False


def test_shipping_tells_every_voter_by_notice_and_email(
    admin, student, outsider, django_capture_on_commit_callbacks
) -> None:
    student.email, outsider.email = "sam@example.com", "olly@example.com"
    student.save(), outsider.save()
    item = fr.request_submit(user=student, title="Audio cards")
    fr.vote(user=outsider, request=item)
    with django_capture_on_commit_callbacks(execute=True):
        fr.request_update(request=item, actor=admin, status="shipped")
    assert Notice.objects.filter(message__startswith="Shipped").count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["olly@example.com", "sam@example.com"]


def test_a_flag_starting_to_roll_out_tells_the_voters(admin, student, django_capture_on_commit_callbacks) -> None:
    student.email = "sam@example.com"
    student.save(update_fields=["email"])
    flag = flags.flag_create(name="audio", actor=None, enabled=True, percentage=0)
    item = fr.request_submit(user=student, title="Audio cards")
    fr.request_update(request=item, actor=admin, flag=flag)
    with django_capture_on_commit_callbacks(execute=True):
        flags.flag_update(flag=flag, actor=admin, source="api", percentage=5)
    assert Notice.objects.filter(user=student, message__startswith="Rolling out").count() == 1
    assert [m.to for m in mail.outbox] == [["sam@example.com"]]  # and by email
    flags.flag_update(flag=flag, actor=admin, source="api", percentage=15)  # already rolling: no second notice
    assert Notice.objects.filter(user=student, message__startswith="Rolling out").count() == 1


def test_roadmap_is_public_and_lists_planned_in_progress_and_shipped(client_for, admin) -> None:
    FeatureRequest.objects.create(title="Planned thing", status="planned")
    FeatureRequest.objects.create(title="Doing thing", status="in_progress")
    FeatureRequest.objects.create(title="Idea thing")
    page = client_for(None).get("/roadmap/")
    html = page.content.decode()
    assert page.status_code == 200 and "Planned thing" in html and "Doing thing" in html and "Idea thing" not in html


def test_students_cannot_triage_or_merge(api_for, student) -> None:
    item = fr.request_submit(user=student, title="x")
    api = api_for(student)
    assert api.patch(f"/api/v1/feature-requests/{item.pk}/", {"status": "shipped"}, format="json").status_code == 403
    assert api.post(f"/api/v1/feature-requests/{item.pk}/merge/", {"into": item.pk}, format="json").status_code == 403
    assert api.get("/api/v1/feature-requests/top/").status_code == 403
    assert FeatureRequest.objects.get().status == "under_review"


def test_list_api_has_a_fixed_number_of_queries(api_for, student, django_assert_max_num_queries) -> None:
    users = User.objects.bulk_create([User(username=f"v{i}") for i in range(5)])
    for i in range(30):
        item = fr.request_submit(user=users[i % 5], title=f"request {i}")
        fr.vote(user=student, request=item)
    api = api_for(student)
    # count, the page (with its flag), my votes on the page; then the request's own
    # analytics event (savepoint, insert, release)
    with django_assert_max_num_queries(6):
        body = api.get("/api/v1/feature-requests/").json()
    assert body["count"] == 30 and all(r["voted"] for r in body["results"])


def test_pages_render(client_for, admin, student) -> None:
    item = fr.request_submit(user=student, title="Cloze cards")
    assert client_for(student).get("/feature-requests/").status_code == 200
    assert client_for(student).get(f"/feature-requests/{item.pk}/").status_code == 200
    assert client_for(admin).get("/analytics/requests/").status_code == 200
    assert client_for(student).get("/analytics/requests/").status_code == 403


def test_comments_through_the_api_and_refusals(api_for, student, outsider) -> None:
    item = fr.request_submit(user=student, title="Cloze cards")
    api = api_for(outsider)
    created = api.post(f"/api/v1/feature-requests/{item.pk}/comments/", {"body": "Yes, for anatomy"}, format="json")
    assert created.status_code == 201 and created.json()["body"] == "Yes, for anatomy"
    for body in ({"body": ""}, {"body": "x" * 5001}, {"text": "hi"}):
        response = api.post(f"/api/v1/feature-requests/{item.pk}/comments/", body, format="json")
        assert response.status_code == 400 and set(response.json()["error"]) == {"code", "message", "details"}
    assert api.post("/api/v1/feature-requests/999999/comments/", {"body": "x"}, format="json").status_code == 404
    assert api_for(None).post(f"/api/v1/feature-requests/{item.pk}/comments/", {"body": "x"}).status_code in (401, 403)
    listed = api_for(student).get(f"/api/v1/feature-requests/{item.pk}/comments/").json()
    assert listed["count"] == 1 and listed["results"][0]["author"] == "olly"


def test_roadmap_shows_recently_shipped_not_long_ago_or_declined(client_for) -> None:
    now = timezone.now()
    FeatureRequest.objects.create(title="Shipped last week", status="shipped", shipped_at=now - timedelta(days=7))
    FeatureRequest.objects.create(title="Shipped last year", status="shipped", shipped_at=now - timedelta(days=365))
    FeatureRequest.objects.create(title="Declined thing", status="declined")
    html = client_for(None).get("/roadmap/").content.decode()
    assert "Shipped last week" in html and "Shipped last year" not in html and "Declined thing" not in html


def test_staff_page_lists_the_top_ten_with_score_and_level(client_for, admin) -> None:
    FeatureRequest.objects.create(title="Loved", votes=100, business_impact=10, strategic_alignment=10, complexity=0)
    FeatureRequest.objects.create(title="Liked", votes=50, business_impact=8, strategic_alignment=6, complexity=4)
    FeatureRequest.objects.bulk_create(FeatureRequest(title=f"meh {i}", votes=i) for i in range(12))
    html = client_for(admin).get("/analytics/requests/").content.decode()
    top = html.split('id="top-h"')[1].split("</ol>")[0]
    assert top.count("<li>") == 10
    assert top.index("Loved") < top.index("Liked")
    assert '<strong>10.00</strong> <span class="badge bad">HIGH</span>' in top
    assert '<strong>6.20</strong> <span class="badge warn">MEDIUM</span>' in top


def test_staff_page_saves_scores_and_merges_with_messages_for_bad_input(client_for, admin, student, outsider) -> None:
    dark = fr.request_submit(user=student, title="Dark mode")
    night = fr.request_submit(user=outsider, title="Night theme")
    client = client_for(admin)
    url = f"/analytics/requests/{dark.pk}/"
    response = client.post(
        url,
        {
            "action": "update",
            "status": "planned",
            "business_impact": "8",
            "strategic_alignment": "6",
            "complexity": "4",
            "flag": "",
        },
    )
    assert response.status_code == 302
    dark.refresh_from_db()
    assert (dark.status, dark.business_impact, dark.strategic_alignment, dark.complexity) == ("planned", 8, 6, 4)
    for into in ("", "abc", "99999999999999999999", str(dark.pk), "424242"):
        page = client.post(url, {"action": "merge", "into": into}, follow=True)
        assert page.status_code == 200 and '<li class="message error">' in page.content.decode(), into
    page = client.post(url, {"action": "update", "business_impact": "11"}, follow=True)
    assert '<li class="message error">' in page.content.decode()
    assert FeatureRequest.objects.get(pk=dark.pk).business_impact == 8
    client.post(f"/analytics/requests/{night.pk}/", {"action": "merge", "into": str(dark.pk)})
    night.refresh_from_db()
    assert night.merged_into_id == dark.pk and FeatureRequest.objects.get(pk=dark.pk).votes == 2
    assert client_for(student).post(url, {"action": "update", "status": "shipped"}).status_code == 403
