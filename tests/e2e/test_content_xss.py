"""Card text written to attack the page renders as harmless text in a real browser."""

from __future__ import annotations

import pytest

from learning.models import Card, Classroom, Deck, Enrollment, Lesson
from learning.models import Course as CourseModel
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

ATTACKS = [
    ("<script>window.__pwned = 'script'</script>Script front", "back one"),
    ('<img src="x" onerror="window.__pwned = \'onerror\'">Image front', '<b onmouseover="window.__pwned=1">bold</b>'),
    ("<a href=\"javascript:window.__pwned='js-link'\">click me</a>", "<svg onload=\"window.__pwned='svg'\"></svg>back"),
]


def _world():
    teacher = UserFactory(username="tess", role="teacher")
    student = UserFactory(username="sam", role="student")
    classroom = Classroom.objects.create(name="Bio", teacher=teacher)
    Enrollment.objects.create(classroom=classroom, student=student)
    course = CourseModel.objects.create(classroom=classroom, title="Cells")
    lesson = Lesson.objects.create(
        course=course, title="L", published=True, body="<script>window.__pwned='md'</script>Hi"
    )
    deck = Deck.objects.create(title="Deck", owner=teacher, lesson=lesson)
    # Written straight to the table, as old data or an import could be: the
    # page must be safe even for rows that never went through the sanitizer.
    for i, (front, back) in enumerate(ATTACKS):
        Card.objects.create(deck=deck, front=front, back=back, position=i)
    return deck, lesson


def test_hostile_card_text_is_harmless_in_chromium(page, live_server, login, transactional_db):
    deck, lesson = _world()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login("sam")

    page.goto(f"{live_server.url}/decks/{deck.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("li.flash").count() == 3
    assert page.get_by_text("Script front").is_visible()
    assert page.locator(".card-text script, .card-text img, .card-text svg").count() == 0
    assert page.locator(".card-text [onerror], .card-text [onmouseover], .card-text [onload]").count() == 0
    link = page.get_by_text("click me")
    assert link.get_attribute("href") is None
    link.click()
    page.get_by_text("bold").hover()
    assert page.evaluate("window.__pwned") is None

    page.goto(f"{live_server.url}/lessons/{lesson.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []


def test_card_editor_preview_and_saved_card_are_harmless(page, live_server, login, transactional_db):
    deck, _ = _world()
    login("tess")
    page.goto(f"{live_server.url}/decks/{deck.pk}/cards/new/")
    page.fill("#id_front", "<b>Bold</b><img src=x onerror=\"window.__pwned='preview'\">")
    page.fill("#id_back", "<a href=\"javascript:window.__pwned='link'\">link</a>")
    # The live preview comes back from the server through htmx.
    page.locator("#card-preview b", has_text="Bold").wait_for()
    assert page.locator("#card-preview img").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.click("button:has-text('Add card')")
    page.wait_for_url(f"**/decks/{deck.pk}/")
    saved = Card.objects.filter(deck=deck).order_by("-id").first()
    assert saved.front == "<b>Bold</b>" and "javascript" not in saved.back
    assert page.evaluate("window.__pwned") is None
