"""Study page, summary, dashboard and class progress pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from learning import study
from learning.models import CardState, Review, StudySession
from tests.factories import UserFactory
from tests.learning.study_setup import make_class, take_test


def test_home_sends_a_student_to_the_dashboard(client_for, student):
    response = client_for(student).get("/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


def test_start_page_offers_the_five_modes_and_starts_a_session(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    client = client_for(student)
    page = client.get("/study/", {"scope_type": "deck", "scope_id": setup.decks[0].pk})
    assert page.status_code == 200
    for mode in ("Learn", "Review", "Cram", "Practice", "Test"):
        assert f"Start {mode.lower()}" in page.content.decode()
    response = client.post("/study/", {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"})
    session = StudySession.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/study/sessions/{session.pk}/"


def mode_badges(page: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-mode-count="(\w+)">([^<]*)<', page))


def disabled_modes(page: str) -> set[str]:
    import re

    return set(re.findall(r'disabled aria-describedby="reason-(\w+)"', page))


def test_start_page_shows_what_each_mode_would_give_now(client_for, teacher, student):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4, new_per_day=3)
    deck = setup.decks[0]
    client = client_for(student)
    scope = {"scope_type": "deck", "scope_id": deck.pk}
    page = client.get("/study/", scope).content.decode()
    # Learn is capped by the deck's 3 new cards a day; nothing studied yet, so nothing due.
    assert mode_badges(page) == {
        "learn": "3 new cards today",
        "review": "0 cards due",
        "cram": "4 cards here",
        "practice": "4 cards here",
        "test": "4 cards here",
    }
    assert disabled_modes(page) == {"review"}
    assert "Nothing left to review today" in page

    # Learn two cards and make one due: the numbers follow.
    session = study.session_start(student=student, scope_type="deck", scope_id=deck.pk, mode="learn")
    for card_id in session.queue[:2]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
    CardState.objects.filter(student=student, card_id=session.queue[0]).update(
        due_at=timezone.now() - timedelta(hours=1)
    )
    badges = mode_badges(client.get("/study/", scope).content.decode())
    assert badges["learn"] == "1 new card today" and badges["review"] == "1 card due"

    # The whole class: both decks' new-card allowances, every card in scope.
    page = client.get("/study/", {"scope_type": "classroom", "scope_id": setup.classroom.pk}).content.decode()
    assert mode_badges(page)["learn"] == "4 new cards today" and mode_badges(page)["cram"] == "8 cards here"


def test_start_page_disables_every_mode_on_an_empty_deck(client_for, student):
    from learning.models import Deck

    deck = Deck.objects.create(title="My words", owner=student)
    page = client_for(student).get("/study/", {"scope_type": "deck", "scope_id": deck.pk}).content.decode()
    assert disabled_modes(page) == {"learn", "review", "cram", "practice", "test"}
    assert page.count("There are no cards here yet") == 5


def test_start_page_counts_in_a_fixed_number_of_queries(client_for, teacher, student, django_assert_num_queries):
    small = make_class(teacher, [student], decks=1, cards_per_deck=2, name="Small")
    client = client_for(student)

    def count(classroom):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/study/", {"scope_type": "classroom", "scope_id": classroom.pk})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    client.get("/accounts/profile/")  # caches the signed-in user: every count below is warm
    few = count(small.classroom)
    big = make_class(teacher, [student], decks=6, cards_per_deck=30, name="Big")
    session = study.session_start(student=student, scope_type="classroom", scope_id=big.classroom.pk, mode="learn")
    for card_id in session.queue[:10]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=4)
    many = count(big.classroom)
    assert few == many
    # classroom lookup (session and user cached), then the scope count, the learn
    # queue (today's studies + new cards) and the review queue (the same + due cards).
    with django_assert_num_queries(6):
        client.get("/study/", {"scope_type": "classroom", "scope_id": big.classroom.pk})


def test_start_on_a_hidden_deck_is_404(client_for, outsider, teacher):
    setup = make_class(teacher, [], cards_per_deck=3)
    client = client_for(outsider)
    assert client.get("/study/", {"scope_type": "deck", "scope_id": setup.decks[0].pk}).status_code == 404
    assert (
        client.post("/study/", {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "cram"}).status_code == 404
    )
    assert not StudySession.objects.exists()


def test_studying_an_empty_deck_says_it_has_no_cards(client_for, student):
    # Not "you have met them all or reached the daily limit" on a deck with
    # nothing in it — a new student would think something is broken.
    from learning.models import Deck

    deck = Deck.objects.create(title="My words", owner=student)
    for mode in ("learn", "review", "cram"):
        response = client_for(student).post(
            "/study/", {"scope_type": "deck", "scope_id": deck.pk, "mode": mode}, follow=True
        )
        text = response.content.decode()
        assert "There are no cards here yet" in text and "reached the daily limit" not in text, mode
    assert not StudySession.objects.exists()


def test_nothing_due_redirects_back_with_a_message(client_for, teacher, student):
    make_class(teacher, [student], cards_per_deck=3)
    response = client_for(student).post("/study/", {"scope_type": "all", "mode": "review"}, follow=True)
    assert "Nothing is due" in response.content.decode()


def test_study_page_shows_one_card_with_buttons_and_intervals_then_htmx_swaps_the_next(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    client = client_for(student)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    page = client.get(f"/study/sessions/{session.pk}/").content.decode()
    assert "Q0-0" in page and "Q0-1" not in page
    for label in ("Again", "Hard", "Good", "Easy"):
        assert label in page
    assert 'data-key="1"' in page and "&lt;10m" in page and "4d" in page
    assert "js/study.js" in page and "<script>" not in page  # CSP: no inline scripts

    partial = client.post(
        f"/study/sessions/{session.pk}/answer/",
        {"card": setup.cards[0].pk, "quality": "4", "idempotency_key": "p1", "response_ms": "1500"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<html" not in partial and "Q0-1" in partial
    assert Review.objects.get().response_ms == 1500

    # Easy graduates the second card; the first, ten minutes from its next
    # step, is shown early now that nothing else is left (learn ahead).
    again = client.post(
        f"/study/sessions/{session.pk}/answer/",
        {"card": setup.cards[1].pk, "quality": "5", "idempotency_key": "p2"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Q0-0" in again
    summary = client.post(
        f"/study/sessions/{session.pk}/answer/",
        {"card": setup.cards[0].pk, "quality": "4", "idempotency_key": "p3"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Session complete" in summary and "cards studied" in summary and "100%" in summary
    assert client.get(f"/study/sessions/{session.pk}/summary/").status_code == 200


def test_test_mode_page_has_a_text_box_and_reveals_right_or_wrong(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=1)
    client = client_for(student)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="test")
    page = client.get(f"/study/sessions/{session.pk}/").content.decode()
    assert 'name="answer"' in page and 'data-key="1"' not in page
    feedback = client.post(
        f"/study/sessions/{session.pk}/answer/",
        {"card": setup.cards[0].pk, "answer": "a0-0!", "idempotency_key": "t1"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Right" in feedback and "A0-0" in feedback and "Q0-0" in feedback
    summary = client.get(f"/study/sessions/{session.pk}/next/", HTTP_HX_REQUEST="true").content.decode()
    assert "Test finished" in summary and "100%" in summary


def test_answer_errors_on_the_page_show_a_message_not_a_500(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=1)
    client = client_for(student)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    response = client.post(
        f"/study/sessions/{session.pk}/answer/", {"card": setup.cards[0].pk, "quality": "9"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "quality" in response.content.decode()
    assert not Review.objects.exists()


def test_other_students_session_page_is_404(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=1)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    other = UserFactory(username="cleo")
    assert client_for(other).get(f"/study/sessions/{session.pk}/").status_code == 404
    assert client_for(other).post(f"/study/sessions/{session.pk}/answer/", {"card": 1}).status_code == 404


def _history(student, setup, days=5):
    now = timezone.now()
    for i, card in enumerate(setup.cards):
        CardState.objects.create(
            student=student,
            card=card,
            status="review",
            repetitions=3,
            interval=25 if i % 2 else 3,
            due_at=now + timedelta(days=i % 7 - 1),
            lapses=9 if i == 0 else 0,
        )
        for d in range(days):
            Review.objects.create(
                student=student,
                card=card,
                mode="review",
                quality=4 if d % 3 else 2,
                correct=bool(d % 3),
                reviewed_at=now - timedelta(days=d),
                status_before="review",
                repetitions_before=2,
                interval_before=6,
                ease_before=2.5,
                repetitions_after=3,
                interval_after=15,
                ease_after=2.5,
                changed_schedule=True,
            )


def dashboard_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/dashboard/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_dashboard_shows_due_forecast_heatmap_streak_mastery_and_leeches(client_for, teacher, student):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4)
    _history(student, setup)
    _, page = dashboard_queries(client_for(student))
    assert "Start review" in page
    assert "Cards due over the next 30 days" in page and "Reviews over the last year" in page
    assert (
        '<div class="chart-scroll"><div class="chart-box"><svg' in page
    )  # scrolls sideways on a phone, labels stay readable
    assert '5</div><div class="stat-label">day streak' in page
    assert "Biology deck 1" in page and "Biology deck 2" in page
    assert "Leeches" in page and "9 lapses" in page


def test_dashboard_query_count_does_not_grow_with_cards_or_history(client_for, teacher, student):
    small = make_class(teacher, [student], decks=1, cards_per_deck=2, name="Small")
    _history(student, small, days=2)
    few, _ = dashboard_queries(client_for(student))
    big = make_class(teacher, [student], decks=6, cards_per_deck=25, name="Big")
    _history(student, big, days=20)
    many, _ = dashboard_queries(client_for(student))
    assert few == many
    assert many <= 14  # user + 9 dashboard reads + a few for the layout


def test_empty_dashboard_explains_what_to_do(client_for, student):
    _, page = dashboard_queries(client_for(student))
    assert "No decks yet" in page and "No reviews yet" in page
    # An all-zero chart with a made-up axis says nothing: the empty state does.
    assert "Nothing due in the next 30 days" in page and "Cards due over the next 30 days" not in page


def test_dashboard_recent_sessions_skip_sessions_left_before_any_answer(client_for, student):
    now = timezone.now()

    def session(title, *, minutes_ago, answers, status=StudySession.Status.ABANDONED):
        at = now - timedelta(minutes=minutes_ago)
        return StudySession.objects.create(
            student=student,
            mode="review",
            scope_type="all",
            scope_title=title,
            status=status,
            answers_count=answers,
            answered_ids=list(range(answers)),
            started_at=at,
            last_activity_at=at,
        )

    session("Worked through", minutes_ago=90, answers=3, status=StudySession.Status.COMPLETED)
    session("Left at once", minutes_ago=60, answers=0)
    just_started = session("Just started", minutes_ago=1, answers=0, status=StudySession.Status.ACTIVE)
    _, page = dashboard_queries(client_for(student))
    recent = page.split("<h2>Recent sessions</h2>", 1)[1]
    assert "Worked through" in recent
    assert "Left at once" not in recent and "Just started" not in recent
    # Still kept for the record, and the one just started can be resumed.
    assert StudySession.objects.filter(answers_count=0).count() == 2
    assert f'href="/study/sessions/{just_started.pk}/">Resume review' in page


def class_page(client, classroom, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/classes/{classroom.pk}/progress/", params)
    return response, len(ctx.captured_queries)


def test_class_progress_for_the_teacher_sorted_and_highlighted(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=4)
    _history(student, setup)
    idle = UserFactory(username="ivy", first_name="Ivy")
    setup.classroom.enrollments.create(student=idle)
    response, _ = class_page(client_for(teacher), setup.classroom, sort="reviews", dir="desc")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index('data-student="sam"') < page.index('data-student="ivy"')
    assert 'class="behind" data-student="ivy"' in page and "Has not started" in page
    assert "Hardest cards" in page and "Q0-0" in page and "leech for 1" in page


def test_class_progress_query_count_does_not_grow_with_students(client_for, teacher):
    first = UserFactory(username="s0")
    setup = make_class(teacher, [first], cards_per_deck=5)
    _history(first, setup, days=1)
    client = client_for(teacher)
    client.get("/accounts/profile/")  # caches the signed-in user: every count below is warm
    _, few = class_page(client, setup.classroom)
    for i in range(1, 12):
        pupil = UserFactory(username=f"s{i}")
        setup.classroom.enrollments.create(student=pupil)
        _history(pupil, setup, days=2)
        take_test(pupil, setup.cards * 2, 7)  # 7 of 10 right, from "All my cards"
    response, many = class_page(client, setup.classroom)
    assert response.status_code == 200 and "70%" in response.content.decode()
    assert few == many and many <= 16


@pytest.mark.parametrize("who", ["rival_teacher", "student", "outsider"])
def test_class_progress_refuses_everyone_but_the_teacher(client_for, teacher, student, who, request):
    setup = make_class(teacher, [student])
    user = request.getfixturevalue(who)
    response = client_for(user).get(f"/classes/{setup.classroom.pk}/progress/")
    assert response.status_code == (403 if who == "student" else 404)


def test_demo_seed_gives_the_student_a_history_with_cards_due(transactional_db):
    from lms.demo import seed_demo

    users = seed_demo()
    seed_demo()  # idempotent
    student = users.student
    assert Review.objects.filter(student=student).count() > 50
    now = timezone.now()
    assert CardState.objects.filter(student=student, due_at__lte=now).count() >= 10
    oldest = Review.objects.filter(student=student).order_by("reviewed_at").first().reviewed_at
    assert oldest < now - timedelta(days=40)
    assert CardState.objects.filter(student=student, lapses__gte=8).exists()
    count = Review.objects.count()
    seed_demo()
    assert Review.objects.count() == count


def test_admin_lists_study_data(client_for, admin, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=1)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    study.session_answer(student=student, session_id=session.pk, card_id=setup.cards[0].pk, quality=4)
    client = client_for(admin)
    for url in ("/admin/learning/review/", "/admin/learning/cardstate/", "/admin/learning/studysession/"):
        assert client.get(url).status_code == 200


def test_demo_seed_on_a_small_class_still_leaves_ten_due(transactional_db):
    from lms.demo import seed_demo, seed_users

    users = seed_users()
    make_class(users.teacher, [users.student], cards_per_deck=6, name="Tiny")
    seed_demo()
    assert CardState.objects.filter(student=users.student, due_at__lte=timezone.now()).count() >= 10
    decks = {s.card.deck.title for s in CardState.objects.filter(student=users.student).select_related("card__deck")}
    assert "Tiny deck 1" in decks


def test_teacher_dashboard_links_to_class_progress(client_for, teacher, rival_teacher):
    setup = make_class(teacher, [], name="Physics")
    make_class(rival_teacher, [], name="Rival class")
    page = client_for(teacher).get("/dashboard/").content.decode()
    assert f"/classes/{setup.classroom.pk}/progress/" in page and "Rival class" not in page


def test_deck_shortcut_url_opens_the_start_page(client_for, teacher, student):
    from django.urls import reverse

    setup = make_class(teacher, [student], cards_per_deck=1)
    url = reverse("learning:study_start", args=[setup.decks[0].pk])
    assert url == f"/study/decks/{setup.decks[0].pk}/"
    page = client_for(student).get(url)
    assert page.status_code == 200 and "Biology deck 1" in page.content.decode()
    started = client_for(student).post(url, {"mode": "cram"})
    assert started.status_code == 302 and StudySession.objects.get().scope_type == "deck"


def test_last_active_reads_as_a_teacher_would_say_it():
    from learning.templatetags.study_tags import ago

    now = timezone.now()
    assert ago(now - timedelta(seconds=20)) == "just now"  # not "0 minutes ago"
    assert ago(now - timedelta(hours=20, minutes=39)).replace("\xa0", " ") == "20 hours ago"
    assert ago(now - timedelta(days=3, hours=2)).replace("\xa0", " ") == "3 days ago"
    assert ago(None) == ""


def test_summary_says_when_the_next_card_is_due_in_one_unit():
    from learning.templatetags.study_tags import due_in

    now = timezone.now()
    assert due_in(now + timedelta(hours=23, minutes=59)).replace("\xa0", " ") == "in 23 hours"
    assert due_in(now + timedelta(days=6, hours=1)).replace("\xa0", " ") == "in 6 days"
    assert due_in(now - timedelta(minutes=5)) == "now"
    assert due_in(None) == ""


def test_last_active_and_next_due_read_the_projects_clock(monkeypatch: pytest.MonkeyPatch):
    """Both read timezone.now() (timesince alone reads the machine's clock):
    with the clock moved to a year's last evening they still say one unit."""
    from learning.templatetags.study_tags import ago, due_in

    moment = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    assert ago(moment - timedelta(hours=20, minutes=39)).replace("\xa0", " ") == "20 hours ago"
    assert due_in(moment + timedelta(hours=23, minutes=59)).replace("\xa0", " ") == "in 23 hours"


def test_the_answer_bar_is_a_flagged_study_screen_change_remembered_for_guardrails(
    client_for, teacher, student, django_capture_on_commit_callbacks
):
    """study-answer-bar (seeded at 10%) changes the study screen for the users it
    is on for, and the request remembers it so ops can compare them with the rest."""
    from analytics import flags
    from analytics.models import Flag, FlagExposure

    setup = make_class(teacher, [student], cards_per_deck=3)
    client = client_for(student)
    client.post("/study/", {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"})
    url = f"/study/sessions/{StudySession.objects.get().pk}/"
    flag = Flag.objects.get(name="study-answer-bar")
    assert float(flag.percentage) == 10 and flag.enabled
    with django_capture_on_commit_callbacks(execute=True):  # the change reaches the flag cache on commit
        flags.flag_update(flag=flag, actor=None, source="api", deny_users=[student.pk])
    page = client.get(url)
    assert "answers-bar" not in page.content.decode() and page.wsgi_request.flags_seen == {"study-answer-bar": "off"}
    with django_capture_on_commit_callbacks(execute=True):
        flags.flag_update(flag=flag, actor=None, source="api", deny_users=[], allow_users=[student.pk])
    page = client.get(url)
    assert 'class="study-answers answers-bar"' in page.content.decode()
    assert page.wsgi_request.flags_seen == {"study-answer-bar": "on"}
    assert FlagExposure.objects.filter(flag_name="study-answer-bar", user=student).count() == 1


def test_a_refused_start_goes_back_to_its_scope_or_to_the_dashboard(client_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    client = client_for(student)
    deck = setup.decks[0].pk
    response = client.post("/study/", {"scope_type": "deck", "scope_id": deck, "mode": "nonsense"})
    assert response.status_code == 302 and response["Location"] == f"/study/?scope_type=deck&scope_id={deck}"
    # A scope no address could carry (it was a 400 DisallowedRedirect), or none the page knows.
    for scope_type in ("A" * 20_000, "planet"):
        response = client.post("/study/", {"scope_type": scope_type, "scope_id": deck, "mode": "learn"})
        assert response.status_code == 302 and response["Location"] == "/dashboard/", scope_type[:10]
