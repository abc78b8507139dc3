# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from learning import services
from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from tests.factories import UserFactory
from tests.learning.content_world import World, png_bytes, world  # noqa: F401


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


# --- classes --------------------------------------------------------------------------


def test_teacher_creates_a_class_and_sees_its_code(teacher, client_for):
    client = client_for(teacher)
    response = client.post(reverse("learning:classroom_create"), {"name": "Biology", "description": "Cells"})
    classroom = Classroom.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "learning:classroom_detail", args=[classroom.pk]
    )
    page = client.get(response["Location"]).content.decode()
    assert classroom.join_code in page
    assert f"/join/{classroom.join_code}/" in page
    assert "No courses yet — add the first one" in page


def test_class_form_errors_come_back_as_400(teacher, client_for):
    response = client_for(teacher).post(reverse("learning:classroom_create"), {"name": ""})
    assert response.status_code == 400
    assert not Classroom.objects.exists()


def test_teacher_class_page_shows_tree_roster_and_drafts(world, teacher, student, client_for):
    page = client_for(teacher).get(reverse("learning:classroom_detail", args=[world.classroom.pk])).content.decode()
    assert "Organelles" in page and "Secret draft" in page and "Draft" in page
    assert student.username in page and "Remove" in page
    assert world.classroom.join_code in page


def test_student_class_page_hides_drafts_roster_and_code(world, student, client_for):
    page = client_for(student).get(reverse("learning:classroom_detail", args=[world.classroom.pk])).content.decode()
    assert "Organelles" in page
    assert "Secret draft" not in page
    assert world.classroom.join_code not in page
    assert "Remove" not in page and "Add course" not in page


def test_classroom_list_shows_taught_and_joined_classes(world, teacher, student, client_for):
    assert "Biology" in client_for(teacher).get(reverse("learning:classroom_list")).content.decode()
    page = client_for(student).get(reverse("learning:classroom_list")).content.decode()
    assert "Biology" in page and "Chemistry" not in page and "Join a class" in page


def test_teacher_class_list_links_progress_and_skips_the_student_join_box(world, teacher, client_for):
    page = client_for(teacher).get(reverse("learning:classroom_list")).content.decode()
    assert reverse("learning:class_progress", args=[world.classroom.pk]) in page
    assert "The 8-character code your teacher gave you" not in page


def test_empty_class_list_for_a_new_teacher_and_student(rival_teacher, outsider, client_for):
    Classroom.objects.all().delete()
    assert "No classes yet — create the first one" in client_for(rival_teacher).get("/classes/").content.decode()
    assert "not in any class yet" in client_for(outsider).get("/classes/").content.decode()


def test_regenerate_code_and_remove_student(world, teacher, student, client_for):
    client = client_for(teacher)
    old = world.classroom.join_code
    client.post(reverse("learning:classroom_regenerate_code", args=[world.classroom.pk]))
    assert Classroom.objects.get(pk=world.classroom.pk).join_code != old
    client.post(reverse("learning:enrollment_remove", args=[world.classroom.pk, student.pk]))
    assert not Enrollment.objects.filter(student=student).exists()


# --- joining ---------------------------------------------------------------------------


def test_join_by_code_form(world, outsider, client_for):
    client = client_for(outsider)
    response = client.post(reverse("learning:join"), {"join_code": world.classroom.join_code.lower()})
    assert response.status_code == 302
    assert Enrollment.objects.filter(classroom=world.classroom, student=outsider).exists()
    again = client.post(reverse("learning:join"), {"join_code": world.classroom.join_code}, follow=True)
    assert "already in" in again.content.decode()
    assert Enrollment.objects.filter(student=outsider).count() == 1


def test_unknown_code_is_a_clear_404(world, outsider, client_for):
    response = client_for(outsider).post(reverse("learning:join"), {"join_code": "ZZZZZZZZ"})
    assert response.status_code == 404
    assert "No class has that code" in response.content.decode()
    assert not Enrollment.objects.filter(student=outsider).exists()


def test_archived_class_join_is_refused_with_a_message(world, outsider, client_for):
    services.classroom_update(classroom=world.classroom, archived=True)
    response = client_for(outsider).post(reverse("learning:join"), {"join_code": world.classroom.join_code})
    assert response.status_code == 409
    assert "archived" in response.content.decode()
    assert not Enrollment.objects.filter(student=outsider).exists()


def test_invite_link_shows_the_class_and_joins_only_on_post(world, outsider, client_for):
    client = client_for(outsider)
    url = reverse("learning:join_code", args=[world.classroom.join_code])
    page = client.get(url)
    assert page.status_code == 200 and "Biology" in page.content.decode()
    assert not Enrollment.objects.filter(student=outsider).exists()
    assert client.post(url).status_code == 302
    assert Enrollment.objects.filter(student=outsider, classroom=world.classroom).exists()


def test_invite_link_with_unknown_code_is_404(outsider, client_for):
    response = client_for(outsider).get(reverse("learning:join_code", args=["ZZZZZZZZ"]))
    assert response.status_code == 404 and "No class has the code" in response.content.decode()


def test_joining_by_a_stale_invite_link_is_a_404_with_a_message_not_a_500(world, outsider, client_for):
    # The teacher renewed the code while the student had the invite page open.
    client = client_for(outsider)
    url = reverse("learning:join_code", args=["ZZZZZZZZ"])
    response = client.post(url)
    assert response.status_code == 404
    assert "No class has the code" in response.content.decode()
    assert not Enrollment.objects.filter(student=outsider).exists()


def test_joining_by_an_overlong_invite_link_is_a_clear_4xx(outsider, client_for):
    response = client_for(outsider).post(reverse("learning:join_code", args=["X" * 200]))
    assert response.status_code == 404
    assert not Enrollment.objects.filter(student=outsider).exists()


def test_bulk_add_message_counts_cards_and_lines_in_good_english(world, teacher, client_for):
    response = client_for(teacher).post(
        reverse("learning:cards_bulk_add", args=[world.deck.pk]),
        {"text": "Nucleus;Holds the DNA\nno separator here", "action": "create"},
        follow=True,
    )
    text = response.content.decode()
    assert "Added 1 card. 1 line could not be read and was skipped." in text


def test_class_page_offers_a_copy_button_for_the_invite_link(world, teacher, client_for):
    text = client_for(teacher).get(reverse("learning:classroom_detail", args=[world.classroom.pk])).content.decode()
    assert 'data-copy="invite-link"' in text and 'id="invite-link-status"' in text
    # Removing a student and renewing the code are one click: both ask first.
    assert 'data-confirm="Make a new code?' in text and 'data-confirm="Remove ' in text


def test_invite_link_sends_anonymous_visitors_to_log_in_first(world, client):
    url = reverse("learning:join_code", args=[world.classroom.join_code])
    response = client.get(url)
    assert response.status_code == 302 and f"next={url}" in response["Location"]


# --- courses, lessons, decks -------------------------------------------------------------


def test_create_course_lesson_and_deck_through_pages(world, teacher, client_for):
    client = client_for(teacher)
    client.post(reverse("learning:course_create", args=[world.classroom.pk]), {"title": "Genetics"})
    course = Course.objects.get(title="Genetics")
    page = client.get(reverse("learning:course_detail", args=[course.pk])).content.decode()
    assert "No lessons yet — add the first one" in page
    client.post(
        reverse("learning:lesson_create", args=[course.pk]), {"title": "DNA", "body": "**bold**", "published": "on"}
    )
    lesson = Lesson.objects.get(title="DNA")
    assert lesson.published
    page = client.get(reverse("learning:lesson_detail", args=[lesson.pk])).content.decode()
    assert "<strong>bold</strong>" in page and "No decks yet — add the first one" in page
    client.post(
        reverse("learning:lesson_deck_create", args=[lesson.pk]),
        {"title": "Bases", "new_cards_per_day": 10, "reviews_per_day": 100},
    )
    deck = Deck.objects.get(title="Bases")
    assert deck.lesson == lesson and deck.new_cards_per_day == 10
    assert (
        "No cards yet — add the first one"
        in client.get(reverse("learning:deck_detail", args=[deck.pk])).content.decode()
    )


def test_lesson_markdown_cannot_inject_script(world, teacher, client_for):
    services.lesson_update(lesson=world.lesson, body="Hi <script>alert(1)</script> [x](javascript:alert(1))")
    page = client_for(teacher).get(reverse("learning:lesson_detail", args=[world.lesson.pk])).content.decode()
    assert "alert(1)" not in page and "javascript:" not in page


def test_deleting_something_with_children_asks_first(world, teacher, client_for):
    client = client_for(teacher)
    url = reverse("learning:classroom_delete", args=[world.classroom.pk])
    page = client.get(url).content.decode()
    assert "This also deletes everything inside it" in page
    assert "<strong>1</strong> courses" in page and "<strong>3</strong> cards" in page
    assert Classroom.objects.filter(pk=world.classroom.pk).exists()
    assert client.post(url).status_code == 302
    assert not Classroom.objects.filter(pk=world.classroom.pk).exists()


def test_move_buttons_reorder(world, teacher, client_for):
    second = services.course_create(classroom=world.classroom, title="Second")
    next_url = reverse("learning:classroom_detail", args=[world.classroom.pk])
    response = client_for(teacher).post(
        reverse("learning:course_move", args=[second.pk]), {"direction": "up", "next": next_url}
    )
    assert response["Location"] == next_url
    assert list(world.classroom.courses.values_list("title", flat=True)) == ["Second", "Cells"]


def test_move_does_not_redirect_off_site(world, teacher, client_for):
    response = client_for(teacher).post(
        reverse("learning:course_move", args=[world.course.pk]), {"direction": "up", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_personal_decks_page(student, client_for):
    client = client_for(student)
    assert "No personal decks yet — create the first one" in client.get(reverse("learning:deck_list")).content.decode()
    client.post(reverse("learning:deck_create"), {"title": "Vocab", "new_cards_per_day": 20, "reviews_per_day": 200})
    deck = Deck.objects.get(title="Vocab")
    assert deck.is_personal and deck.owner == student
    assert "Vocab" in client.get(reverse("learning:deck_list")).content.decode()


# --- cards -----------------------------------------------------------------------------


def test_card_editor_creates_sanitized_card_with_image(world, teacher, client_for):
    client = client_for(teacher)
    response = client.post(
        reverse("learning:card_create", args=[world.deck.pk]),
        {
            "front": "<b>Golgi</b><script>x()</script>",
            "back": "Packages <i>proteins</i>",
            "tags": "Cells Organelles",
            "image": SimpleUploadedFile("g.png", png_bytes(), content_type="image/png"),
        },
    )
    assert response.status_code == 302
    card = Card.objects.get(front="<b>Golgi</b>")
    assert card.tags == "cells organelles" and card.image.name.endswith(".png")
    image = client.get(reverse("learning:card_image", args=[card.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png_bytes()


def test_card_editor_refuses_a_fake_image_and_writes_nothing(world, teacher, client_for):
    before = Card.objects.count()
    response = client_for(teacher).post(
        reverse("learning:card_create", args=[world.deck.pk]),
        {"front": "F", "back": "B", "image": SimpleUploadedFile("x.png", b"<script>", content_type="image/png")},
    )
    assert response.status_code == 400
    assert "PNG, JPEG, GIF or WebP" in response.content.decode()
    assert Card.objects.count() == before


def test_card_editor_refuses_a_too_large_file_with_413(world, teacher, client_for, settings):
    settings.MAX_MEDIA_BYTES = 100
    before = Card.objects.count()
    response = client_for(teacher).post(
        reverse("learning:card_create", args=[world.deck.pk]),
        {
            "front": "F",
            "back": "B",
            "image": SimpleUploadedFile("x.png", png_bytes((50, 50)), content_type="image/png"),
        },
    )
    assert response.status_code == 413 and "limit" in response.content.decode()
    assert Card.objects.count() == before


def test_card_edit_can_remove_the_image(world, teacher, client_for):
    response = client_for(teacher).post(
        reverse("learning:card_edit", args=[world.card.pk]),
        {"front": "Nucleus", "back": "Holds DNA", "tags": "", "clear_image": "on"},
    )
    assert response.status_code == 302
    assert not Card.objects.get(pk=world.card.pk).image
    assert client_for(teacher).get(reverse("learning:card_image", args=[world.card.pk])).status_code == 404


def test_live_preview_returns_what_would_be_stored(teacher, client_for):
    response = client_for(teacher).post(
        reverse("learning:card_preview"),
        {"front": "<b>x</b><img src=x onerror=alert(1)>", "back": '<a href="javascript:alert(1)">y</a>'},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<b>x</b>" in body and "onerror" not in body and "javascript" not in body


def test_bulk_add_preview_then_create(world, teacher, client_for):
    client = client_for(teacher)
    url = reverse("learning:cards_bulk_add", args=[world.deck.pk])
    text = "Lysosome\tDigests waste\nbroken line\nVacuole;Stores water;plants"
    preview = client.post(url, {"text": text, "action": "preview"}, HTTP_HX_REQUEST="true")
    body = preview.content.decode()
    assert "2 cards will be added" in body and "1 line could not be read" in body and "broken line" in body
    assert "<html" not in body  # htmx gets the partial only
    before = world.deck.cards.count()
    assert world.deck.cards.count() == before
    response = client.post(url, {"text": text, "action": "create"}, follow=True)
    assert world.deck.cards.count() == before + 2
    assert "Added 2 cards. 1 line could not be read and was skipped." in response.content.decode()


def test_bulk_add_with_no_readable_line_is_422_and_writes_nothing(world, teacher, client_for):
    before = Card.objects.count()
    response = client_for(teacher).post(
        reverse("learning:cards_bulk_add", args=[world.deck.pk]), {"text": "nothing\nreadable", "action": "create"}
    )
    assert response.status_code == 422
    assert Card.objects.count() == before


def test_deck_page_search_by_text_and_tag(world, student, client_for):
    client = client_for(student)
    url = reverse("learning:deck_detail", args=[world.deck.pk])
    page = client.get(url, {"q": "dna"}).content.decode()
    assert "Nucleus" in page and "Ribosome" not in page and "1 of 2 cards match" in page
    page = client.get(url, {"tag": "protein"}).content.decode()
    assert "Ribosome" in page and "Nucleus" not in page
    page = client.get(url, {"q": "zebra"}).content.decode()
    assert "No cards match" in page


def test_deck_page_shows_counts_images_and_audio(world, student, client_for):
    services.card_create(
        deck=world.deck,
        front="Sound",
        back="Listen",
        audio=SimpleUploadedFile("s.ogg", b"OggS\x00\x02" + b"\x00" * 64, content_type="audio/ogg"),
    )
    page = client_for(student).get(reverse("learning:deck_detail", args=[world.deck.pk])).content.decode()
    assert f'src="/cards/{world.card.pk}/image/"' in page
    assert "<audio controls" in page
    assert '<div class="stat">3</div>' in page  # cards
    assert "Edit" not in page  # a student reads, never edits


def test_media_view_checks_permissions_not_just_the_path(world, outsider, client_for):
    assert client_for(outsider).get(reverse("learning:card_image", args=[world.card.pk])).status_code == 404


# --- query counts: constant in the number of rows -------------------------------------------


def _grow(world: World, teacher, n: int) -> None:
    """n more courses with lessons, decks, cards (with images), students and classes."""
    for i in range(n):
        course = Course.objects.create(classroom=world.classroom, title=f"C{i}", position=10 + i)
        lesson = Lesson.objects.create(course=course, title=f"L{i}", published=True)
        deck = Deck.objects.create(title=f"D{i}", owner=teacher, lesson=Lesson.objects.get(pk=world.lesson.pk))
        Deck.objects.create(title=f"P{i}", owner=teacher)
        Deck.objects.create(title=f"LD{i}", owner=teacher, lesson=lesson)
        Card.objects.bulk_create(
            [
                Card(deck=world.deck, front=f"F{i}-{j}", back="B", tags=f"t{j}", image=world.card.image.name)
                for j in range(3)
            ]
        )
        Card.objects.create(deck=deck, front="x", back="y")
        student = UserFactory()
        Enrollment.objects.create(classroom=world.classroom, student=student)
        Classroom.objects.create(name=f"Class {i}", teacher=teacher)


PAGES = [
    lambda w: reverse("learning:classroom_list"),
    lambda w: reverse("learning:classroom_detail", args=[w.classroom.pk]),
    lambda w: reverse("learning:course_detail", args=[w.course.pk]),
    lambda w: reverse("learning:lesson_detail", args=[w.lesson.pk]),
    lambda w: reverse("learning:deck_list"),
    lambda w: reverse("learning:deck_detail", args=[w.deck.pk]),
    lambda w: reverse("learning:deck_detail", args=[w.deck.pk]) + "?tag=cells&q=nuc",
]


@pytest.mark.parametrize("persona", ["teacher", "student"])
def test_page_queries_do_not_grow_with_rows(world, request, client_for, persona):
    teacher = request.getfixturevalue("teacher")
    client = client_for(request.getfixturevalue(persona))
    client.get(PAGES[0](world))  # the signed-in user is then read from the cache (lms.auth), as on every later page
    small = [queries_for(client, page(world)) for page in PAGES]
    _grow(world, teacher, 12)
    large = [queries_for(client, page(world)) for page in PAGES]
    assert large == small
    assert max(small) <= 12


def test_card_editor_help_lists_allowed_tags_as_text(world, teacher, client_for):
    page = client_for(teacher).get(reverse("learning:card_create", args=[world.deck.pk])).content.decode()
    assert "Allowed: &lt;b&gt;, &lt;i&gt;" in page
    assert 'hx-post="/cards/preview/"' in page and "js/card-editor.js" in page


def test_join_url_names():
    assert reverse("learning:join") == "/join/"
    assert reverse("learning:join", args=["ABCDEFGH"]) == "/join/ABCDEFGH/"
    assert reverse("learning:join_code", args=["ABCDEFGH"]) == "/join/ABCDEFGH/"


def test_nav_marks_classes_for_a_class_deck_and_my_decks_for_a_personal_one(world, student, client_for):
    client = client_for(student)
    class_deck = client.get(reverse("learning:deck_detail", args=[world.deck.pk])).content.decode()
    assert 'aria-current="page">Classes<' in class_deck and 'aria-current="page">My decks<' not in class_deck
    own = client.get(reverse("learning:deck_detail", args=[world.personal.pk])).content.decode()
    assert 'aria-current="page">My decks<' in own and 'aria-current="page">Classes<' not in own
