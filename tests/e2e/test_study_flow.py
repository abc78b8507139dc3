"""A real Chromium: the demo student reviews with the keyboard only."""

from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.e2e

SHOTS = os.getenv("E2E_SCREENSHOTS", "")


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_demo_student_reviews_with_the_keyboard_and_sees_it_on_the_dashboard(
    page, live_server, login, transactional_db
):
    from lms.demo import seed_demo

    seed_demo()
    login("student")
    assert page.url.endswith("/dashboard/")
    due = int(page.locator("[data-due-today]").inner_text())
    reviews_before = int(page.locator("[data-total-reviews]").inner_text())
    assert due >= 10
    shot(page, "dashboard-before")

    page.locator("[data-start-review]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/study/sessions/\d+/$"))
    # Survives only if no full page load happens between cards.
    page.evaluate("window.__sameDocument = true")

    # Keyboard hints are on screen at desktop width.
    assert page.locator(".study-keys").is_visible()
    assert "Space" in page.locator(".study-keys").inner_text()

    answered = 0
    progress = -1
    while page.locator("[data-summary]").count() == 0:
        now_at = int(page.locator(".study-progress [role=progressbar]").get_attribute("aria-valuenow"))
        assert now_at > progress or (answered == 0 and now_at == 0), "the progress bar did not advance"
        progress = now_at
        card = page.locator(".study-card[data-card]")
        card_id = card.get_attribute("data-card")
        assert card.get_attribute("data-flipped") == "false"
        assert page.locator(".study-back").is_hidden()
        page.wait_for_selector(".study-answers[data-ready]", state="attached")
        if answered == 0:
            shot(page, "study-front")
        page.keyboard.press("Space")
        assert page.locator(".study-back").is_visible()
        assert re.search(r"\d+(d|mo|y)", page.locator(".answer-good .answer-interval").inner_text())
        if answered == 0:
            shot(page, "study-back")
        page.keyboard.press("3")  # Good
        answered += 1
        page.wait_for_function(
            "id => !document.querySelector(`.study-card[data-card='${id}']`) || document.querySelector('[data-summary]')",
            arg=card_id,
        )
        assert answered <= due, "more cards than were due"
    assert page.evaluate("window.__sameDocument") is True
    assert answered == due
    summary = page.locator("[data-summary]")
    assert "Session complete" in summary.inner_text()
    assert f"{due}\ncards studied" in summary.inner_text() or str(due) in summary.locator(".stat").first.inner_text()
    shot(page, "summary")

    page.locator("[data-dashboard]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert int(page.locator("[data-total-reviews]").inner_text()) == reviews_before + answered
    assert int(page.locator("[data-due-today]").inner_text()) == 0
    shot(page, "dashboard-after")


def test_demo_audio_plays_and_the_teacher_opens_a_students_progress(page, live_server, login, transactional_db):
    from learning.models import Card
    from lms.demo import seed_demo

    seed_demo()
    card = Card.objects.exclude(audio="").select_related("deck").get(front="Osmosis")
    login("student")
    page.goto(f"{live_server.url}/decks/{card.deck_id}/")
    player = page.locator(f"audio[src='/cards/{card.pk}/audio/']")
    assert player.count() == 1
    played = page.evaluate(
        """async (src) => {
            const audio = document.querySelector(`audio[src='${src}']`);
            audio.muted = true;
            await audio.play();
            await new Promise(done => audio.addEventListener("ended", done, {once: true}));
            return {duration: audio.duration, error: audio.error && audio.error.code};
        }""",
        f"/cards/{card.pk}/audio/",
    )
    assert played["error"] is None and played["duration"] > 0.3
    shot(page, "deck-with-audio")

    page.context.clear_cookies()
    login("teacher")
    classroom_id = card.deck.lesson.course.classroom_id
    page.goto(f"{live_server.url}/classes/{classroom_id}/progress/")
    page.locator("[data-student='student'] a").click()
    page.wait_for_url(re.compile(rf"/classes/{classroom_id}/progress/students/\d+/$"))
    assert page.locator("h1").inner_text() == "Sam Student"
    assert page.locator("[data-reviews] tbody tr").count() > 0
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shot(page, "class-student")
