"""A class's progress from the cache equals the live figures after answers
(in a class session and in an "all my cards" session), undo,
enrolments, schedule, card and deck deletion; an answer makes only its
student's and its card's figures read again, and renders again only that
student's row; another class's answers leave it cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from learning import progress, study
from learning.models import Card, CardState, Enrollment, Review
from learning.templatetags.study_tags import ago_at
from lms import cache as lms_cache
from tests.factories import UserFactory
from tests.learning.study_setup import make_class

NBSP = "\xa0"  # timesince's space between number and unit


def assert_cached_is_live(classroom) -> None:
    for sort, descending in (("name", False), ("mastery", True)):
        cached = progress.cached_class_progress(classroom, sort=sort, descending=descending)
        live = progress.class_progress(classroom, sort=sort, descending=descending)
        assert progress.class_progress_dict(cached) == progress.class_progress_dict(live)


def answer_some(student, scope_type, scope_id, count) -> None:
    session = study.session_start(student=student, scope_type=scope_type, scope_id=scope_id, mode="learn")
    for card_id in session.queue[:count]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)


def test_the_cached_class_progress_follows_every_change(teacher, rival_teacher, student, django_assert_num_queries):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4)
    classroom = setup.classroom
    assert_cached_is_live(classroom)
    with django_assert_num_queries(2):  # read live: the tests and the leeches (no card answered yet)
        progress.cached_class_progress(classroom)

    answer_some(student, "classroom", classroom.pk, 3)
    assert_cached_is_live(classroom)
    assert progress.class_progress_dict(progress.cached_class_progress(classroom))["students"][0]["studied"] == 3

    answer_some(student, "all", None, 2)  # no class on the session: every class of the student
    assert_cached_is_live(classroom)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[1].pk, mode="learn")
    study.session_answer(student=student, session_id=session.pk, card_id=session.queue[0], quality=1)
    study.session_undo(student=student, session_id=session.pk)
    assert_cached_is_live(classroom)

    newcomer = UserFactory(username="nina", role="student")
    Enrollment.objects.create(classroom=classroom, student=newcomer)
    assert_cached_is_live(classroom)
    Card.objects.filter(pk=setup.cards[0].pk).delete()
    assert_cached_is_live(classroom)
    setup.decks[1].delete()
    assert_cached_is_live(classroom)
    Enrollment.objects.filter(student=newcomer).delete()
    assert_cached_is_live(classroom)

    other = make_class(rival_teacher, [newcomer], name="Chemistry")
    progress.cached_class_progress(classroom)
    answer_some(newcomer, "classroom", other.classroom.pk, 2)  # another class: nothing of this one is read again
    with django_assert_num_queries(2):  # read live: the tests and the leeches (the hardest cards' texts are kept)
        progress.cached_class_progress(classroom)


def test_class_progress_pages_use_the_cache_and_refuse_outsiders(client_for, api_for, teacher, student, outsider):
    setup = make_class(teacher, [student])
    url = f"/api/v1/classrooms/{setup.classroom.pk}/progress/"
    assert api_for(teacher).get(url).status_code == 200
    assert api_for(outsider).get(url).status_code == 404
    assert api_for(student).get(url).status_code == 403


def test_an_answer_reads_again_only_its_student_and_card(teacher, django_assert_num_queries):
    students = [UserFactory(username=f"s{i}", role="student") for i in range(6)]
    setup = make_class(teacher, students, decks=2, cards_per_deck=4)
    classroom = setup.classroom
    for student in students:
        answer_some(student, "classroom", classroom.pk, 3)
    assert_cached_is_live(classroom)

    answer_some(students[2], "classroom", classroom.pk, 1)
    # Read live: the tests and the leeches; read again: that student's
    # activity and schedules, that card's lapses and answers; read once: the
    # text of that card, answered for the first time and now among the hardest.
    with django_assert_num_queries(2 + 4 + 1):
        progress.cached_class_progress(classroom)
    assert_cached_is_live(classroom)

    CardState.objects.filter(student=students[4]).first().delete()
    assert_cached_is_live(classroom)
    Enrollment.objects.filter(student=students[5]).delete()
    assert_cached_is_live(classroom)


def students_table(client, classroom, **params) -> str:
    """The page's main content (the rest of the page, such as a CSRF token, differs per request)."""
    page = client.get(f"/classes/{classroom.pk}/progress/", params).content.decode()
    return page[page.index('<main id="main"') : page.index("</main>")]


def test_the_page_from_cached_rows_and_tables_reads_as_the_page_rendered_live(client_for, teacher, settings):
    students = [UserFactory(username=f"s{i}", first_name=f"Sam{i}" if i % 2 else "", role="student") for i in range(5)]
    setup = make_class(teacher, students, decks=2, cards_per_deck=4)
    classroom, client = setup.classroom, client_for(teacher)
    answer_some(students[0], "classroom", classroom.pk, 3)
    students_table(client, classroom)  # every row and table rendered and cached
    answer_some(students[1], "classroom", classroom.pk, 2)
    answer_some(students[0], "deck", setup.decks[1].pk, 2)
    Enrollment.objects.filter(student=students[4]).delete()
    for params in ({}, {"sort": "backlog", "dir": "desc"}):
        cached = students_table(client, classroom, **params)
        settings.CLASS_PROGRESS_CACHE_SECONDS = 0  # nothing cached: read and rendered live
        live = students_table(client, classroom, **params)
        settings.CLASS_PROGRESS_CACHE_SECONDS = 60
        assert cached == live
        assert 'data-student="s4"' not in cached and "Sam1" in cached and "just now" in cached


def test_only_the_rows_of_students_who_moved_are_rendered_again(teacher):
    students = [UserFactory(username=f"s{i}", role="student") for i in range(6)]
    setup = make_class(teacher, students, decks=2, cards_per_deck=4)
    classroom = setup.classroom
    for student in students[:4]:
        answer_some(student, "classroom", classroom.pk, 2)
    rendered = []

    def render_row(row, now) -> str:
        rendered.append(row.student.username)
        return f"<tr><td>{row.student.username} {row.studied} {row.backlog}</td></tr>"

    first = progress.cached_class_progress(classroom, render_row=render_row)
    assert sorted(rendered) == [s.username for s in students]
    rendered.clear()
    assert progress.cached_class_progress(classroom, render_row=render_row).rows_html == first.rows_html
    assert rendered == []

    answer_some(students[2], "classroom", classroom.pk, 1)
    data = progress.cached_class_progress(classroom, render_row=render_row)
    assert rendered == ["s2"]
    assert data.rows_html == "".join(render_row(row, None) for row in progress.class_progress(classroom).students)


def test_a_cached_row_says_how_long_ago_as_of_each_view(client_for, teacher, student, monkeypatch):
    setup = make_class(teacher, [student])
    answer_some(student, "classroom", setup.classroom.pk, 1)
    client = client_for(teacher)
    answered = Review.objects.get(student=student).reviewed_at
    for minutes, says in ((5, "5 minutes"), (5, "5 minutes"), (7, "7 minutes"), (185, "3 hours")):
        monkeypatch.setattr(timezone, "now", lambda minutes=minutes: answered + timedelta(minutes=minutes, seconds=20))
        row = students_table(client, setup.classroom).split('data-student="sam"')[1].split("</tr>")[0]
        assert f">{says.replace(' ', NBSP)} ago</time>" in row, row


def test_the_relative_time_reads_the_same_for_one_stamp() -> None:
    """`ago_stamp` is a key for `ago`'s text: sampled across minutes, hours,
    days and month ends, every stamp reads one way only."""
    for value in (
        datetime(2026, 1, 31, 10, 0, 30, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
    ):
        texts: dict[tuple, str] = {}
        steps = [timedelta(seconds=7 * i) for i in range(-20, 1100)]
        steps += [timedelta(hours=2, minutes=13 * i) for i in range(400)]
        steps += [timedelta(days=3, hours=3 * i, seconds=i % 60) for i in range(6500)]
        for step in steps:
            now = value + step
            text = ago_at(value, now)
            assert texts.setdefault(progress.ago_stamp(value, now), text) == text, (value, step)
        expected = {"1 minute", "2 hours", "1 week", "1 month", "2 years"}
        assert {"just now"} | {f"{text.replace(' ', NBSP)} ago" for text in expected} <= set(texts.values())


@pytest.mark.django_db(transaction=True)  # real commits: the deletion's own transaction and its on-commit
def test_deleting_an_account_moves_each_figure_token_once(teacher, student, monkeypatch):
    setup = make_class(teacher, [student], decks=1, cards_per_deck=2)
    answer_some(student, "classroom", setup.classroom.pk, 2)
    first = Review.objects.filter(student=student).first()
    copies = []
    for _ in range(30):
        copy = Review.objects.get(pk=first.pk)
        copy.pk = None
        copies.append(copy)
    Review.objects.bulk_create(copies)
    assert Review.objects.filter(student=student).count() == 32
    progress.cached_class_progress(setup.classroom)  # read: a change moves the tokens at once again
    bumps: list[set[str]] = []
    real = progress._bump_figure_tokens
    monkeypatch.setattr(progress, "_bump_figure_tokens", lambda keys: bumps.append(set(keys)) or real(keys))
    # After the commit the tokens move in the transaction's one batch of cache writes.
    real_write = lms_cache.write_many

    def write_many(*, delete=(), values=None):
        bumps.append(set(values or {}))
        real_write(delete=delete, values=values)

    monkeypatch.setattr(lms_cache, "write_many", write_many)

    moved = {f"learning:class-progress:student:{student.pk}"} | {
        f"learning:class-progress:cards:{progress._card_bucket(card.pk)}" for card in setup.cards
    }
    with transaction.atomic():
        student.delete()  # 32 reviews and 2 schedules, deleted row by row with their signals
    # Each token once as it first moves, then all together after the commit
    # (was: two cache calls per row deleted).
    assert set().union(*bumps[:-1]) == moved and sum(map(len, bumps[:-1])) == len(moved)
    assert bumps[-1] == moved
    assert_cached_is_live(setup.classroom)
