"""The first minute: a new student's dashboard, joining, studying a class in
one click, and a teacher's empty class showing the steps."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from learning.models import Classroom, Course, StudySession
from tests.factories import UserFactory
from tests.learning.study_setup import make_class


def test_a_new_students_dashboard_offers_the_join_box_and_a_deck_of_their_own(client_for, student):
    page = client_for(student).get("/dashboard/").content.decode()
    steps = page.split("data-first-steps", 1)[1].split("</section>", 1)[0]
    assert 'action="/join/"' in steps and 'name="join_code"' in steps and '<label for="dash-join-code">' in steps
    assert 'href="/decks/new/">Create a deck' in steps
    assert "All caught up" not in page


def test_a_student_with_cards_gets_the_usual_dashboard(client_for, teacher, student):
    make_class(teacher, [student])
    page = client_for(student).get("/dashboard/").content.decode()
    assert "data-first-steps" not in page and "data-start-review" not in page and "Due today" in page


def test_join_then_one_click_starts_studying_the_class(client_for, teacher, student):
    setup = make_class(teacher, [], cards_per_deck=3)
    client = client_for(student)
    response = client.post("/join/", {"join_code": setup.classroom.join_code})
    assert response.status_code == 302 and response["Location"] == f"/classes/{setup.classroom.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "<strong>0</strong> cards due · <strong>3</strong> new today" in page
    form = page.split("data-study-class", 1)[0].rsplit("<form", 1)[1]
    assert 'name="mode" value="learn"' in form and f'name="scope_id" value="{setup.classroom.pk}"' in form
    started = client.post("/study/", {"scope_type": "classroom", "scope_id": setup.classroom.pk, "mode": "learn"})
    session = StudySession.objects.get(student=student)
    assert started["Location"] == f"/study/sessions/{session.pk}/"
    assert session.classroom_id == setup.classroom.pk and len(session.queue) == 3


def test_class_page_has_no_study_button_when_nothing_is_left(client_for, teacher, student):
    setup = make_class(teacher, [student], new_per_day=0)
    page = client_for(student).get(f"/classes/{setup.classroom.pk}/").content.decode()
    assert "data-study-class" not in page and "all caught up in this class" in page


def test_a_teachers_empty_class_shows_the_steps_with_links(client_for, teacher):
    classroom = Classroom.objects.create(name="Empty", teacher=teacher)
    client = client_for(teacher)
    page = client.get(f"/classes/{classroom.pk}/").content.decode()
    steps = page.split("data-first-steps", 1)[1].split("</section>", 1)[0]
    assert f'<a href="/classes/{classroom.pk}/courses/new/">Add a course</a>' in steps
    assert "Add a lesson" in steps and "Publish the lesson" in steps and "Invite students" in steps
    course = Course.objects.create(classroom=classroom, title="Term 1")
    steps = client.get(f"/classes/{classroom.pk}/").content.decode().split("data-first-steps", 1)[1]
    assert '<span class="badge ok">Done</span> Add a course' in steps
    assert f'<a href="/courses/{course.pk}/lessons/new/">Add a lesson</a>' in steps


def test_a_set_up_class_with_students_shows_no_steps(client_for, teacher, student):
    setup = make_class(teacher, [student])
    page = client_for(teacher).get(f"/classes/{setup.classroom.pk}/").content.decode()
    assert "data-first-steps" not in page


def test_the_students_class_page_costs_the_same_for_a_bigger_class(client_for, teacher, student):
    small = make_class(teacher, [student], cards_per_deck=2, name="Small")
    big = make_class(teacher, [student], decks=4, cards_per_deck=15, name="Big")
    for i in range(5):
        big.classroom.enrollments.create(student=UserFactory(username=f"mate{i}"))
    client = client_for(student)
    client.get("/dashboard/")  # the signed-in user is then read from the cache (lms.auth), as on every later page

    def count(classroom):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/classes/{classroom.pk}/").status_code == 200
        return len(ctx.captured_queries)

    assert count(small.classroom) == count(big.classroom)
