"""Drafts: a teacher sees a draft as a draft wherever it shows (lesson, deck,
course and class pages), is told students cannot see it, and publishes it in
one click; nobody else can."""

from __future__ import annotations

import pytest

from learning.models import Lesson
from tests.learning.study_setup import make_class


@pytest.fixture
def draft(teacher, student):
    setup = make_class(teacher, [student])
    Lesson.objects.filter(pk=setup.lesson.pk).update(published=False)
    setup.lesson.refresh_from_db()
    return setup


def test_every_teacher_page_says_draft_and_offers_publish(client_for, teacher, draft):
    client = client_for(teacher)
    lesson_page = client.get(f"/lessons/{draft.lesson.pk}/").content.decode()
    assert "Students cannot see this lesson or its decks yet." in lesson_page and "data-publish" in lesson_page
    deck_page = client.get(f"/decks/{draft.decks[0].pk}/").content.decode()
    assert "students cannot see this deck yet" in deck_page and '<span class="badge warn">Draft</span>' in deck_page
    for path in (f"/courses/{draft.course.pk}/", f"/classes/{draft.classroom.pk}/"):
        page = client.get(path).content.decode()
        assert f'action="/lessons/{draft.lesson.pk}/publish/"' in page, path


def test_one_click_publishes_and_returns_to_the_page(client_for, teacher, student, draft):
    deck_url = f"/decks/{draft.decks[0].pk}/"
    assert client_for(student).get(deck_url).status_code == 404
    response = client_for(teacher).post(f"/lessons/{draft.lesson.pk}/publish/", {"next": deck_url})
    assert response.status_code == 302 and response["Location"] == deck_url
    draft.lesson.refresh_from_db()
    assert draft.lesson.published
    assert client_for(student).get(deck_url).status_code == 200
    assert "data-draft-notice" not in client_for(teacher).get(deck_url).content.decode()


def test_publish_ignores_an_offsite_next(client_for, teacher, draft):
    response = client_for(teacher).post(f"/lessons/{draft.lesson.pk}/publish/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/lessons/{draft.lesson.pk}/"


@pytest.mark.parametrize(("who", "status"), [("student", 404), ("rival_teacher", 404), ("outsider", 404)])
def test_only_the_teacher_may_publish(client_for, draft, who, status, request):
    response = client_for(request.getfixturevalue(who)).post(f"/lessons/{draft.lesson.pk}/publish/")
    assert response.status_code == status
    draft.lesson.refresh_from_db()
    assert not draft.lesson.published


def test_publish_is_a_post(client_for, teacher, draft):
    assert client_for(teacher).get(f"/lessons/{draft.lesson.pk}/publish/").status_code == 405


def test_students_never_see_the_notice_on_published_lessons(client_for, teacher, student):
    setup = make_class(teacher, [student])
    for user in (teacher, student):
        page = client_for(user).get(f"/lessons/{setup.lesson.pk}/").content.decode()
        assert "data-draft-notice" not in page and "data-publish" not in page
