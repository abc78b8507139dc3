"""The student dashboard from the cache: equal to the live computation after
answers, undo, enrolments, publishing, card and deck deletion; the forecast
is counted per local day in the database."""

from __future__ import annotations

from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from learning import progress, study, study_views
from learning.models import Card, CardState, Enrollment
from tests.learning.study_setup import make_class


def assert_cached_is_live(user) -> None:
    cached = progress.cached_student_dashboard(user)
    assert cached.as_dict() == progress.student_dashboard(user).as_dict()


def test_the_cached_dashboard_follows_every_change(teacher, student, django_assert_num_queries):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4)
    assert_cached_is_live(student)
    with django_assert_num_queries(0):
        progress.cached_student_dashboard(student)  # served from the cache

    session = study.session_start(student=student, scope_type="classroom", scope_id=setup.classroom.pk, mode="learn")
    for card_id in session.queue[:3]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
        assert_cached_is_live(student)
    assert progress.cached_student_dashboard(student).as_dict()["reviews_today"] == 3
    study.session_undo(student=student, session_id=session.pk)
    assert_cached_is_live(student)

    other = make_class(teacher, [], name="Chemistry")
    Enrollment.objects.create(classroom=other.classroom, student=student)
    assert_cached_is_live(student)
    before = progress.cached_student_dashboard(student).new_available
    Card.objects.create(deck=other.decks[0], front="new", back="card")
    assert progress.cached_student_dashboard(student).new_available == before + 1
    Card.objects.filter(pk=setup.cards[0].pk).delete()
    assert_cached_is_live(student)
    other.lesson.published = False
    other.lesson.save()
    assert_cached_is_live(student)
    setup.decks[1].delete()
    assert_cached_is_live(student)
    Enrollment.objects.filter(student=student).delete()
    assert_cached_is_live(student)


@override_settings(DASHBOARD_CACHE_SECONDS=0)
def test_the_cache_can_be_turned_off(teacher, student, django_assert_max_num_queries):
    make_class(teacher, [student])
    progress.cached_student_dashboard(student)
    with django_assert_max_num_queries(20) as ctx:
        progress.cached_student_dashboard(student)
    assert len(ctx.captured_queries) > 0


def test_the_forecast_counts_each_local_day_and_puts_overdue_cards_on_today(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=6)
    now = timezone.now()
    offsets = [-3, -1, 0, 1, 1, 40]  # days from now
    for card, days in zip(setup.cards, offsets, strict=True):
        CardState.objects.create(student=student, card=card, status="review", interval=3, due_at=now + timedelta(days))
    data = progress.student_dashboard(student, now=now)
    expected = dict.fromkeys((d for d, _ in data.forecast), 0)
    for days in offsets:
        due = now + timedelta(days)
        day = max(data.today, study.study_day(student, due))
        if day in expected:
            expected[day] += 1
    assert dict(data.forecast) == expected
    assert data.forecast[0][1] == 3 and sum(n for _, n in data.forecast) == 5


def test_the_pages_cached_figures_follow_every_change(client, teacher, student, django_assert_num_queries):
    """The charts and tables are rendered once per change and cached with the
    figures: after answers, undo, an enrolment and deletions the page shows
    exactly what a live rendering of the live computation shows."""
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4)
    client.force_login(student)

    def assert_page_is_live() -> None:
        page = client.get("/dashboard/").content.decode()
        assert study_views._dashboard_figures(progress.student_dashboard(student)) in page

    assert_page_is_live()
    session = study.session_start(student=student, scope_type="classroom", scope_id=setup.classroom.pk, mode="learn")
    for card_id in session.queue[:3]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
        assert_page_is_live()
    assert "data-total-reviews>3<" in client.get("/dashboard/").content.decode()
    study.session_undo(student=student, session_id=session.pk)
    assert_page_is_live()
    other = make_class(teacher, [], name="Chemistry")
    Enrollment.objects.create(classroom=other.classroom, student=student)
    assert_page_is_live()
    Card.objects.filter(pk=setup.cards[0].pk).delete()
    assert_page_is_live()
    setup.decks[1].delete()
    assert_page_is_live()

    # From the cache: the session, the user and the figures; no query at all.
    client.get("/dashboard/")
    with django_assert_num_queries(0):
        client.get("/dashboard/")


def test_the_figures_follow_a_change_of_time_zone(teacher, student):
    make_class(teacher, [student])
    progress.cached_student_dashboard(student)
    student.timezone = "Pacific/Kiritimati" if student.timezone != "Pacific/Kiritimati" else "Pacific/Niue"
    student.save(update_fields=["timezone"])
    assert progress.cached_student_dashboard(student).today == study.study_day(student, timezone.now())
    assert_cached_is_live(student)
