"""The gradebook (/classes/<id>/gradebook/, its CSV and its API twin), and
tests counted by the class of the cards they asked, whatever the scope."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from learning import study
from learning.models import Card, CardState
from tests.factories import UserFactory
from tests.learning.study_setup import make_class, take_test


def page_url(classroom):
    return f"/classes/{classroom.pk}/gradebook/"


def csv_url(classroom):
    return f"/classes/{classroom.pk}/gradebook.csv"


def api_url(classroom):
    return f"/api/v1/classrooms/{classroom.pk}/gradebook/"


def counted(client, path, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, params)
    return response, len(ctx.captured_queries)


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def _take_all_my_cards_test(student, answers_right: set[int]):
    """A real test from "All my cards": typed answers through the service."""
    session = study.session_start(student=student, scope_type="all", mode="test", size=50)
    for card_id in list(session.queue):
        card = Card.objects.get(pk=card_id)
        answer = card.back if card_id in answers_right else "no idea"
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, answer=answer)
    session.refresh_from_db()
    assert session.status == "completed"
    return session


def test_a_test_from_all_my_cards_counts_for_each_class_by_its_own_cards(client_for, api_for, teacher, student):
    biology = make_class(teacher, [student], cards_per_deck=5, name="Biology")
    chemistry = make_class(teacher, [student], cards_per_deck=5, name="Chemistry")
    # 4 of 5 Biology cards right (80%), 1 of 5 Chemistry cards (20%): 50% overall.
    right = {c.pk for c in biology.cards[:4]} | {chemistry.cards[0].pk}
    session = _take_all_my_cards_test(student, right)
    assert session.score == 50.0 and session.classroom_id is None

    client = client_for(teacher)
    progress = client.get(f"/classes/{biology.classroom.pk}/progress/").content.decode()
    assert ">80%</span>" in progress
    student_page = client.get(f"/classes/{biology.classroom.pk}/progress/students/{student.pk}/").content.decode()
    assert "No tests taken in this class yet" not in student_page and ">80%</span>" in student_page
    chem = api_for(teacher).get(f"/api/v1/classrooms/{chemistry.classroom.pk}/progress/").json()
    assert [t["score"] for t in chem["students"][0]["latest_test_scores"]] == [20.0]
    assert chem["students"][0]["latest_test_scores"][0]["cards"] == 5

    book = api_for(teacher).get(api_url(biology.classroom)).json()
    assert book["students"][0]["latest_test"]["score"] == 80.0
    assert book["students"][0]["decks"][0]["test_score"] == 80.0
    rows = rows_of(client.get(csv_url(biology.classroom)))
    assert rows[0][:6] == ["username", "full name", "mastery %", "due", "last studied", "latest test %"]
    assert rows[1][0] == "sam" and rows[1][5] == "80.0"


def test_a_test_with_no_card_of_the_class_does_not_count_there(client_for, teacher, student):
    biology = make_class(teacher, [student], name="Biology")
    other = make_class(teacher, [student], name="Other")
    take_test(student, other.cards, 5, scope_type="classroom", scope_id=other.classroom.pk, classroom=other.classroom)
    page = client_for(teacher).get(page_url(biology.classroom)).content.decode()
    assert "test " not in page.split("<tbody>")[1] and "—" in page


def test_grid_shows_mastery_due_last_studied_and_test_per_deck(client_for, teacher, student):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=2)
    now = timezone.now()
    CardState.objects.create(student=student, card=setup.cards[0], interval=30, due_at=now, last_reviewed_at=now)
    CardState.objects.create(student=student, card=setup.cards[2], interval=2, due_at=now, last_reviewed_at=now)
    take_test(student, setup.cards[2:], 1)  # deck 2 only: 1 of 2
    response = client_for(teacher).get(page_url(setup.classroom))
    page = response.content.decode()
    assert response.status_code == 200
    deck1 = page.split(f'data-deck="{setup.decks[0].pk}">', 1)[1].split("</td>", 1)[0]
    deck2 = page.split(f'data-deck="{setup.decks[1].pk}">', 1)[1].split("</td>", 1)[0]
    assert "<strong>50%</strong>" in deck1 and "1 due" in deck1 and "test" not in deck1
    assert "<strong>0%</strong>" in deck2 and "test 50%" in deck2
    assert f'href="/classes/{setup.classroom.pk}/progress/students/{student.pk}/"' in page


def test_two_students_with_the_same_name_are_told_apart(client_for, teacher):
    first = UserFactory(username="sofia1", first_name="Sofia", last_name="Newstudent")
    second = UserFactory(username="sofia2", first_name="Sofia", last_name="Newstudent")
    setup = make_class(teacher, [first, second])
    client = client_for(teacher)
    for path in (page_url(setup.classroom), f"/classes/{setup.classroom.pk}/progress/"):
        page = client.get(path).content.decode()
        assert 'Sofia Newstudent <span class="username">@sofia1</span>' in page
        assert 'Sofia Newstudent <span class="username">@sofia2</span>' in page
    rows = rows_of(client.get(csv_url(setup.classroom)))
    assert [r[:2] for r in rows[1:]] == [["sofia1", "Sofia Newstudent"], ["sofia2", "Sofia Newstudent"]]


def test_columns_sort_both_ways(client_for, teacher):
    low = UserFactory(username="low")
    high = UserFactory(username="high")
    setup = make_class(teacher, [low, high], cards_per_deck=4)
    take_test(low, setup.cards, 1)
    take_test(high, setup.cards, 4)
    client = client_for(teacher)

    def order(**params):
        page = client.get(page_url(setup.classroom), params).content.decode()
        return page.index('data-student="low"') < page.index('data-student="high"')

    assert order(sort="test", dir="asc") and not order(sort="test", dir="desc")
    assert not order(sort="name") and order(sort="name", dir="desc")
    for key in ("mastery", "due", "last", f"d{setup.decks[0].pk}", "bogus", "d999"):
        assert client.get(page_url(setup.classroom), {"sort": key}).status_code == 200
    assert (
        'aria-sort="descending"'
        in client.get(page_url(setup.classroom), {"sort": "test", "dir": "desc"}).content.decode()
    )


def test_csv_cells_cannot_run_as_formulas(client_for, teacher):
    sly = UserFactory(username="sly", first_name="=HYPERLINK(1)", last_name="")
    setup = make_class(teacher, [sly])
    setup.decks[0].title = "+SUM(A1)"
    setup.decks[0].save()
    response = client_for(teacher).get(csv_url(setup.classroom))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="gradebook-biology-')
    rows = rows_of(response)
    assert rows[0][7] == "'+SUM(A1): mastery %"
    assert rows[1][1] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("who", "status"),
    [("teacher", 200), ("admin", 200), ("student", 403), ("rival_teacher", 404), ("outsider", 404)],
)
def test_who_may_see_the_gradebook(client_for, api_for, teacher, student, who, status, request):
    setup = make_class(teacher, [student])
    user = request.getfixturevalue(who)
    assert client_for(user).get(page_url(setup.classroom)).status_code == status
    assert client_for(user).get(csv_url(setup.classroom)).status_code == status
    api_response = api_for(user).get(api_url(setup.classroom))
    assert api_response.status_code == status
    if status != 200:
        assert "error" in api_response.json()


def test_anonymous_is_sent_to_log_in(client, api_for, teacher):
    setup = make_class(teacher)
    assert client.get(page_url(setup.classroom)).status_code == 302
    assert client.get(csv_url(setup.classroom)).status_code == 302
    assert api_for(None).get(api_url(setup.classroom)).status_code in (401, 403)


def test_query_count_does_not_grow_with_students_decks_or_tests(client_for, api_for, teacher):
    first = UserFactory(username="s0")
    setup = make_class(teacher, [first], decks=1, cards_per_deck=3)
    take_test(first, setup.cards, 2)
    client, api = client_for(teacher), api_for(teacher)
    client.get("/accounts/profile/")  # caches the signed-in user: every count below is warm
    _, page_few = counted(client, page_url(setup.classroom))
    _, csv_few = counted(client, csv_url(setup.classroom))
    _, api_few = counted(api, api_url(setup.classroom))

    more = make_class(teacher, [], decks=4, cards_per_deck=3, name="More")
    more.lesson.course.classroom = setup.classroom
    more.lesson.course.save()
    for i in range(1, 10):
        pupil = UserFactory(username=f"s{i}", first_name="Pat")
        setup.classroom.enrollments.create(student=pupil)
        take_test(pupil, setup.cards + more.cards, i)
        take_test(pupil, more.cards, 1)
    response, page_many = counted(client, page_url(setup.classroom))
    assert response.status_code == 200 and response.content.decode().count("data-student=") == 10
    # classroom (session and user cached); then students, decks, schedules per deck, tests per deck.
    assert page_few == page_many == 5
    assert counted(client, csv_url(setup.classroom))[1] == csv_few == 5
    assert counted(api, api_url(setup.classroom))[1] == api_few
