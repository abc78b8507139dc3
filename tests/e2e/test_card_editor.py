"""The card editor in Chromium: the cursor is back in Front after "Add and
start another", the toolbar and its shortcuts insert the tags the sanitizer
keeps, a cloze moves the selection to the back, and the chosen image shows in
the preview before saving."""

from __future__ import annotations

import base64

import pytest

from learning.models import Card, Classroom, Course, Deck, Lesson
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

# A 1×1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_card_editor_toolbar_shortcuts_cloze_focus_and_image_preview(page, live_server, login, transactional_db):
    teacher = UserFactory(username="tess", role="teacher")
    classroom = Classroom.objects.create(name="Chem", teacher=teacher)
    lesson = Lesson.objects.create(course=Course.objects.create(classroom=classroom, title="C"), title="L")
    deck = Deck.objects.create(title="Elements", owner=teacher, lesson=lesson)
    login("tess")

    page.goto(f"{live_server.url}/decks/{deck.pk}/cards/new/")
    front = page.locator("#id_front")
    assert page.evaluate("document.activeElement.id") == "id_front"  # a new card starts in Front

    front.fill("The lightest metal is lithium")
    # Select "lightest" and make it bold with the shortcut, then use the toolbar's Italic.
    page.evaluate("const t = document.getElementById('id_front'); t.setSelectionRange(4, 12)")
    front.press("Control+b")
    assert front.input_value() == "The <b>lightest</b> metal is lithium"
    page.evaluate("const t = document.getElementById('id_front'); t.setSelectionRange(0, 3)")
    page.get_by_role("toolbar", name="Formatting for front").get_by_role("button", name="I Italic").click()
    assert front.input_value().startswith("<i>The</i> <b>")
    # Cloze: "lithium" leaves the front for the back.
    value = front.input_value()
    start = value.index("lithium")
    page.evaluate(f"document.getElementById('id_front').setSelectionRange({start}, {start + 7})")
    front.press("Control+Shift+C")
    assert front.input_value().endswith("metal is […]") and page.locator("#id_back").input_value() == "lithium"
    # The server preview shows the formatting it keeps.
    page.locator("#card-preview [data-preview=front] b", has_text="lightest").wait_for()

    # The chosen image appears in the preview before saving.
    page.set_input_files("#id_image", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PIXEL}])
    page.locator("#card-preview-media img[data-chosen=image]").wait_for()

    with page.expect_navigation():
        page.click("button[name=add_another]")
    assert Card.objects.filter(deck=deck).count() == 1
    card = Card.objects.get(deck=deck)
    assert "<b>lightest</b>" in card.front and card.back == "lithium" and card.image
    assert page.evaluate("document.activeElement.id") == "id_front"  # ready for the next card, no click
