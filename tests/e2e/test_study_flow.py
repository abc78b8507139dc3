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

    answered = 0
    while page.locator("[data-summary]").count() == 0:
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
