"""One student's progress in one class: /classes/<id>/progress/students/<id>/
and its API twin. The class's teacher and admins see any enrolled student; a
student sees only themself."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory
from tests.learning.study_setup import make_class, take_test
from tests.learning.test_study_pages import _history


def url(classroom, student):
    return f"/classes/{classroom.pk}/progress/students/{student.pk}/"


def api_url(classroom, student):
    return f"/api/v1/classrooms/{classroom.pk}/progress/students/{student.pk}/"


def _test_session(student, setup, score):
    """A 20-answer test on the class's cards, `score` percent right."""
    return take_test(student, (setup.cards * 20)[:20], score * 20 // 100, scope_title=setup.decks[0].title)


def get_counted(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    return response, len(ctx.captured_queries)


def test_teacher_sees_mastery_activity_reviews_tests_and_leeches(client_for, teacher, student):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4)
    _history(student, setup, days=3)
    _test_session(student, setup, 45)
    response = client_for(teacher).get(url(setup.classroom, student))
    page = response.content.decode()
    assert response.status_code == 200
    assert student.display_name in page
    # Cards 1, 3, 5, 7 have a 25-day interval: 4 of 8 mastered.
    assert '50%</div><div class="stat-label">mastery · 4 of 8 cards' in page
    assert all(f'data-deck="{deck.pk}"' in page for deck in setup.decks)
    assert "Reviews per day, last 30 days" in page
    assert "45%" in page and "Biology deck 1" in page
    assert "9 lapses" in page  # card 0 is a leech
    assert page.count('<tr><td class="nowrap small">') == 20  # the 24 reviews, latest 20


def test_class_progress_rows_link_to_each_student(client_for, teacher, student):
    setup = make_class(teacher, [student])
    page = client_for(teacher).get(f"/classes/{setup.classroom.pk}/progress/").content.decode()
    assert f'href="{url(setup.classroom, student)}"' in page


def test_a_student_sees_their_own_page_and_the_class_links_to_it(client_for, teacher, student):
    setup = make_class(teacher, [student])
    client = client_for(student)
    response = client.get(url(setup.classroom, student))
    assert response.status_code == 200 and "My progress in Biology" in response.content.decode()
    class_page = client.get(f"/classes/{setup.classroom.pk}/").content.decode()
    assert f'href="{url(setup.classroom, student)}"' in class_page
    assert client_for(student).get(api_url(setup.classroom, student)).status_code == 200


@pytest.mark.parametrize(
    ("who", "status"),
    [("teacher", 200), ("admin", 200), ("classmate", 403), ("rival_teacher", 404), ("outsider", 404)],
)
def test_who_may_see_a_students_page(client_for, api_for, teacher, student, who, status, request):
    setup = make_class(teacher, [student])
    if who == "classmate":
        user = UserFactory(username="clara")
        setup.classroom.enrollments.create(student=user)
    else:
        user = request.getfixturevalue(who)
    assert client_for(user).get(url(setup.classroom, student)).status_code == status
    api_response = api_for(user).get(api_url(setup.classroom, student))
    assert api_response.status_code == status
    if status != 200:
        assert "error" in api_response.json()


def test_someone_not_in_the_class_is_404_even_for_the_teacher(client_for, api_for, teacher, student, outsider):
    setup = make_class(teacher, [student])
    assert client_for(teacher).get(url(setup.classroom, outsider)).status_code == 404
    assert api_for(teacher).get(api_url(setup.classroom, outsider)).status_code == 404
    assert client_for(teacher).get(f"/classes/{setup.classroom.pk}/progress/students/99999999/").status_code == 404


def test_anonymous_is_sent_to_log_in(client, api_for, teacher, student):
    setup = make_class(teacher, [student])
    assert client.get(url(setup.classroom, student)).status_code == 302
    assert api_for(None).get(api_url(setup.classroom, student)).status_code in (401, 403)


def test_api_gives_the_same_figures(api_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=4)
    _history(student, setup, days=2)
    _test_session(student, setup, 80)
    body = api_for(teacher).get(api_url(setup.classroom, student)).json()
    assert body["student"]["username"] == student.username
    # 8 reviews and the test's 20 typed answers.
    assert (body["total_cards"], body["mastered"], body["total_reviews"]) == (4, 2, 28)
    assert [d["cards"] for d in body["decks"]] == [4]
    assert len(body["activity"]) == 30 and sum(d["reviews"] for d in body["activity"]) == 28
    assert [t["score"] for t in body["tests"]] == [80.0]
    assert [leech["lapses"] for leech in body["leeches"]] == [9]
    assert len(body["recent_reviews"]) == 20


def test_query_count_does_not_grow_with_students_cards_or_history(client_for, api_for, teacher, student):
    setup = make_class(teacher, [student], decks=1, cards_per_deck=2)
    _history(student, setup, days=1)
    client, api = client_for(teacher), api_for(teacher)
    client.get("/accounts/profile/")  # caches the signed-in user: every count below is warm
    page_few = get_counted(client, url(setup.classroom, student))[1]
    api_few = get_counted(api, api_url(setup.classroom, student))[1]

    big = make_class(teacher, [student], decks=1, cards_per_deck=1, name="Other")  # noise in another class
    _history(student, big, days=2)
    more_decks = make_class(teacher, [], decks=5, cards_per_deck=12, name="More")
    more_decks.lesson.course.classroom = setup.classroom
    more_decks.lesson.course.save()
    for i in range(15):
        pupil = UserFactory(username=f"p{i}")
        setup.classroom.enrollments.create(student=pupil)
        _history(pupil, setup, days=2)
    _history(student, more_decks, days=6)
    for score in (40, 60, 90):
        _test_session(student, setup, score)
    response, page_many = get_counted(client, url(setup.classroom, student))
    assert response.status_code == 200 and "90%" in response.content.decode()
    assert page_few == page_many
    assert page_many == 9  # classroom, student, 7 progress reads (session and user cached)
    assert get_counted(api, api_url(setup.classroom, student))[1] == api_few
