from __future__ import annotations

import pytest
from django.urls import reverse

from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from lms.demo import seed_demo


@pytest.fixture
def demo(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return seed_demo()


def test_demo_class_with_real_cards_and_images(demo):
    classroom = Classroom.objects.get(name="Biology 101")
    assert classroom.teacher == demo.teacher
    assert Enrollment.objects.filter(classroom=classroom, student=demo.student).exists()
    assert classroom.courses.count() == 2
    assert all(c.lessons.filter(published=True).count() >= 2 for c in classroom.courses.all())
    class_cards = Card.objects.filter(deck__lesson__course__classroom=classroom)
    assert class_cards.count() >= 60
    with_images = class_cards.exclude(image="")
    assert with_images.count() >= 4
    image = with_images.first().image
    assert image.storage.exists(image.name) and image.read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(set(class_cards.values_list("front", flat=True))) == class_cards.count()  # no filler
    personal = Deck.objects.personal_for(demo.student)
    assert personal.count() == 1 and personal.first().cards.count() >= 5


def test_seed_is_idempotent(demo):
    counts = (
        Classroom.objects.count(),
        Course.objects.count(),
        Lesson.objects.count(),
        Deck.objects.count(),
        Card.objects.count(),
    )
    seed_demo()
    assert (
        Classroom.objects.count(),
        Course.objects.count(),
        Lesson.objects.count(),
        Deck.objects.count(),
        Card.objects.count(),
    ) == counts


def test_demo_class_is_shown_to_teacher_and_student(demo, client_for):
    for user in (demo.teacher, demo.student):
        assert "Biology 101" in client_for(user).get(reverse("learning:classroom_list")).content.decode()
    home = client_for(demo.teacher).get("/")
    assert home["Location"] == reverse("learning:classroom_list")


@pytest.mark.parametrize("model", ["classroom", "enrollment", "course", "lesson", "deck", "card"])
def test_admin_lists_search_and_edit_pages_work(demo, admin, client_for, model):
    client = client_for(admin)
    assert client.get(f"/admin/learning/{model}/").status_code == 200
    assert client.get(f"/admin/learning/{model}/?q=bio").status_code == 200
    obj = {
        "classroom": Classroom,
        "enrollment": Enrollment,
        "course": Course,
        "lesson": Lesson,
        "deck": Deck,
        "card": Card,
    }[model].objects.first()
    assert client.get(f"/admin/learning/{model}/{obj.pk}/change/").status_code == 200


def test_admin_sanitizes_card_text(demo, admin, client_for):
    card = Card.objects.filter(image="").first()
    response = client_for(admin).post(
        f"/admin/learning/card/{card.pk}/change/",
        {"deck": card.deck_id, "front": "<b>x</b><script>bad()</script>", "back": "ok", "tags": "A b", "position": 0},
    )
    assert response.status_code == 302, response.content[:2000]
    card.refresh_from_db()
    assert card.front == "<b>x</b>" and card.tags == "a b"


def test_admin_refuses_a_fake_image(demo, admin, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    card = Card.objects.filter(image="").first()
    response = client_for(admin).post(
        f"/admin/learning/card/{card.pk}/change/",
        {
            "deck": card.deck_id,
            "front": "x",
            "back": "ok",
            "tags": "",
            "position": 0,
            "image": SimpleUploadedFile("x.png", b"<html>", content_type="image/png"),
        },
    )
    assert response.status_code == 200 and "not an allowed image" in response.content.decode()
    card.refresh_from_db()
    assert not card.image
