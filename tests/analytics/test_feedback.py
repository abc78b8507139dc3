"""Feedback: context captured, students see only their own, staff triage, NPS at most every 90 days."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from analytics import feedback, flags
from analytics.models import Feedback, Flag, Notice, NpsResponse
from learning.models import StudySession
from ops.models import Incident


def test_the_control_on_any_page_sends_feedback_with_its_context(client_for, student) -> None:
    flags.flag_create(name="shiny", actor=None, enabled=True, strategy="all_users")
    Incident.objects.create(title="Slow reviews", severity=3)
    client = client_for(student)
    page = client.get("/accounts/profile/")
    html = page.content.decode()
    assert 'action="/feedback/"' in html and 'name="page_url" value="/accounts/profile/"' in html
    response = client.post(
        "/feedback/",
        {
            "type": "bug",
            "rating": "2",
            "message": "The save button hides on my phone",
            "page_url": "/accounts/profile/",
        },
        HTTP_USER_AGENT="Mozilla/5.0 (Android)",
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    item = Feedback.objects.get()
    assert (item.kind, item.rating, item.role, item.page_url) == ("bug", 2, "student", "/accounts/profile/")
    assert item.browser == "Mozilla/5.0 (Android)" and item.app_version
    assert item.flags.get("shiny") is True
    assert item.incidents[0]["title"] == "Slow reviews"


def test_bad_feedback_is_refused_and_nothing_is_written(api_for, student) -> None:
    api = api_for(student)
    for body in (
        {"type": "rant", "message": "x"},
        {"type": "bug", "message": ""},
        {"type": "bug", "message": "x", "rating": 9},
        {"type": "bug", "message": "x" * 5001},
    ):
        response = api.post("/api/v1/feedback/", body, format="json")
        assert response.status_code == 400 and "error" in response.json()
    assert not Feedback.objects.exists()


def test_students_cannot_read_others_feedback_or_triage(api_for, student, outsider, admin) -> None:
    mine = feedback.feedback_submit(user=student, kind="idea", message="dark mode")
    api = api_for(outsider)
    assert api.get(f"/api/v1/feedback/{mine.pk}/").status_code == 404
    assert api.get("/api/v1/feedback/").json()["count"] == 0
    assert api.get("/api/v1/feedback/all/").status_code == 403
    assert api.put(f"/api/v1/feedback/{mine.pk}/status/", {"status": "done"}, format="json").status_code == 403
    assert api_for(student).get(f"/api/v1/feedback/{mine.pk}/").json()["message"] == "dark mode"
    assert Feedback.objects.get().status == "new"


def test_staff_triage_reply_reaches_the_user(api_for, client_for, admin, student) -> None:
    item = feedback.feedback_submit(user=student, kind="content", message="Card 12 says mitochondria is a city")
    response = api_for(admin).put(
        f"/api/v1/feedback/{item.pk}/status/",
        {"status": "done", "response": "Fixed, thanks!", "assignee": "ada", "tags": ["Biology", "cards"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "done" and body["assignee"] == "ada" and body["tags"] == ["biology", "cards"]
    assert Notice.objects.filter(user=student).count() == 1
    page = client_for(student).get("/feedback/mine/").content.decode()
    assert "Fixed, thanks!" in page and "Staff replied" in page
    staff = api_for(admin).get("/api/v1/feedback/all/?status=done&tag=biology&q=mitochondria").json()
    assert staff["count"] == 1 and staff["results"][0]["user"] == "sam"


def test_triage_page_lists_with_a_fixed_number_of_queries(
    client_for, admin, student, django_assert_max_num_queries
) -> None:
    for i in range(30):
        feedback.feedback_submit(user=student, kind="bug", message=f"bug {i}")
    client = client_for(admin)
    client.get("/analytics/feedback/")
    with django_assert_max_num_queries(12):
        page = client.get("/analytics/feedback/")
    assert page.status_code == 200 and page.content.decode().count('class="feedback-item"') == 25


def _sessions(user, n: int) -> None:
    now = timezone.now()
    StudySession.objects.bulk_create(
        StudySession(
            student=user,
            mode="review",
            scope_type="all",
            status="completed",
            started_at=now,
            last_activity_at=now,
            answers_count=3,
        )
        for _ in range(n)
    )


def test_nps_is_asked_after_three_sessions_and_then_not_for_90_days(client_for, student) -> None:
    Flag.objects.filter(name="nps-survey").update(percentage=100)
    flags.forget_snapshot()
    assert not feedback.nps_due(student)
    _sessions(student, 3)
    feedback.forget_nps(student)
    assert feedback.nps_due(student)
    client = client_for(student)
    assert "recommend us" not in client.get("/accounts/profile/").content.decode()  # the page itself reads nothing
    assert "recommend us" in client.get("/feedback/prompt/").content.decode()
    client.post("/feedback/nps/", {"score": "9", "page_url": "/accounts/profile/"})
    assert NpsResponse.objects.get().score == 9
    assert "recommend us" not in client.get("/feedback/prompt/").content.decode()
    assert client.post("/feedback/nps/", {"score": "3"}).status_code == 302
    assert NpsResponse.objects.count() == 1  # refused: once per 90 days
    NpsResponse.objects.update(created_at=timezone.now() - timedelta(days=91))
    feedback.forget_nps(student)
    assert feedback.nps_due(student)


def test_nps_by_month_is_promoters_minus_detractors() -> None:
    from lms.models import User

    users = User.objects.bulk_create([User(username=f"n{i}") for i in range(10)])
    scores = [10, 9, 9, 8, 7, 6, 3, 10, 9, 0]  # 5 promoters, 3 detractors of 10 -> NPS 20
    NpsResponse.objects.bulk_create(NpsResponse(user=u, score=s) for u, s in zip(users, scores, strict=True))
    last = feedback.nps_by_month()[-1]
    assert last["responses"] == 10 and last["nps"] == 20


def test_a_page_url_that_is_not_a_local_path_is_dropped(student) -> None:
    for url in ("javascript:alert(1)", "https://evil.example/", "//evil.example/x", "/\\evil"):
        assert feedback.feedback_submit(user=student, kind="bug", message="x", page_url=url).page_url == ""
    assert (
        feedback.feedback_submit(user=student, kind="bug", message="x", page_url="/study/?a=1").page_url
        == "/study/?a=1"
    )


def test_the_control_is_on_every_kind_of_page_with_that_pages_url(client_for, student, admin) -> None:
    """base.html carries it, so any page of the site has it: a sample from each app."""
    for user, url in (
        (student, "/dashboard/"),
        (student, "/decks/"),
        (student, "/feature-requests/"),
        (student, "/roadmap/"),
        (student, "/feedback/mine/"),
        (admin, "/analytics/"),
        (admin, "/analytics/flags/"),
        (admin, "/ops/"),
    ):
        page = client_for(user).get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert 'class="feedback-control"' in html and f'name="page_url" value="{url}"' in html, url


def test_feedback_carries_the_experiment_variants_the_user_is_in(student) -> None:
    from analytics import experiments
    from analytics.models import Experiment, ExperimentExposure

    exp = experiments.experiment_create(
        name="copy",
        title="copy",
        actor=None,
        primary_metric={"kind": "reviews_per_day"},
        variants=[{"key": "control", "weight": 50}, {"key": "short", "weight": 50}],
    )
    experiments.experiment_start(experiment=exp)
    ExperimentExposure.objects.create(experiment=exp, user=student, variant="short")
    stopped = Experiment.objects.create(
        name="old", title="old", status="stopped", variants=exp.variants, primary_metric=exp.primary_metric
    )
    ExperimentExposure.objects.create(experiment=stopped, user=student, variant="control")
    item = feedback.feedback_submit(user=student, kind="idea", message="shorter is nicer")
    assert item.variants == {"copy": "short"}  # running experiments only


def test_triage_page_draws_nps_over_time(client_for, admin) -> None:
    from lms.models import User

    users = User.objects.bulk_create([User(username=f"q{i}") for i in range(4)])
    NpsResponse.objects.bulk_create(NpsResponse(user=u, score=s) for u, s in zip(users, [10, 10, 9, 2], strict=True))
    html = client_for(admin).get("/analytics/feedback/").content.decode()
    chart = html.split('id="nps-chart-h"')[1].split("</section>")[0]
    assert "<strong>50</strong> from 4 answers" in chart and "<svg" in chart
    labels = re.findall(r'text-anchor="\w+"><title>[^<]*</title>([^<]*)</text>', chart)  # the x labels
    assert labels[-1] in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{4}", labels[0])  # the year where the axis starts
