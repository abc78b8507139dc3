"""A small world of content shared by the content tests (imported, not a
conftest, so other test folders stay independent).

teacher teaches `classroom` (student enrolled): course -> published lesson
(deck with two cards) and draft lesson (deck with one card). rival_teacher
teaches `rival_class`. student owns a personal deck. outsider is in nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from learning import services
from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson


def png_bytes(size: tuple[int, int] = (8, 8), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, format=fmt)
    return out.getvalue()


def png_upload(name: str = "pic.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


def wav_bytes() -> bytes:
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


@dataclass
class World:
    classroom: Classroom
    course: Course
    lesson: Lesson
    draft: Lesson
    deck: Deck
    draft_deck: Deck
    card: Card
    draft_card: Card
    personal: Deck
    personal_card: Card
    rival_class: Classroom


@pytest.fixture
def world(teacher, rival_teacher, student, outsider, admin, settings, tmp_path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    classroom = Classroom.objects.create(name="Biology", teacher=teacher)
    Enrollment.objects.create(classroom=classroom, student=student)
    course = Course.objects.create(classroom=classroom, title="Cells", position=0)
    lesson = Lesson.objects.create(course=course, title="Organelles", published=True, position=0)
    draft = Lesson.objects.create(course=course, title="Secret draft", published=False, position=1)
    deck = Deck.objects.create(title="Organelle deck", owner=teacher, lesson=lesson)
    draft_deck = Deck.objects.create(title="Draft deck", owner=teacher, lesson=draft)
    card = services.card_create(deck=deck, front="Nucleus", back="Holds DNA", tags="cells", image=png_upload())
    Card.objects.create(deck=deck, front="Ribosome", back="Makes protein", tags="protein", position=1)
    draft_card = Card.objects.create(deck=draft_deck, front="Hidden", back="Card")
    personal = Deck.objects.create(title="Sam's deck", owner=student)
    personal_card = Card.objects.create(deck=personal, front="Mine", back="Only mine")
    rival_class = Classroom.objects.create(name="Chemistry", teacher=rival_teacher)
    return World(
        classroom, course, lesson, draft, deck, draft_deck, card, draft_card, personal, personal_card, rival_class
    )
