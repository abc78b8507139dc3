"""A real Chromium: a student studies with the keyboard, sees the counts
move, and takes back a mistaken answer with z."""

from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.e2e

SHOTS = os.getenv("E2E_SCREENSHOTS", "")


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def flip_and_press(page, key):
    card_id = page.locator(".study-card[data-card]").get_attribute("data-card")
    page.wait_for_selector(".study-answers[data-ready]", state="attached")
    page.keyboard.press("Space")
    page.locator(".study-back").wait_for(state="visible")
    page.keyboard.press(key)
    page.wait_for_function(
        "id => !document.querySelector(`.study-card[data-card='${id}'][data-flipped='true']`)"
        " || document.querySelector('[data-summary]')",
        arg=card_id,
    )
    return card_id


def counts(page):
    # The visible figures (a visually hidden sentence says the same to screen readers).
    return page.locator("[data-counts] [aria-hidden]").inner_text().split("·")


def test_student_studies_with_the_keyboard_and_undoes_with_z(page, live_server, login, transactional_db):
    from learning.models import CardState, Review
    from tests.factories import UserFactory
    from tests.learning.study_setup import make_class

    teacher = UserFactory(username="tess", role="teacher")
    student = UserFactory(username="kim", role="student")
    student.set_password("demo-pass-123")
    student.save()
    setup = make_class(teacher, [student], cards_per_deck=3)
    login("kim")
    page.goto(f"{live_server.url}/study/decks/{setup.decks[0].pk}/")
    page.click("button:has-text('Start learn')")
    page.wait_for_url(re.compile(r"/study/sessions/\d+/$"))
    page.evaluate("window.__sameDocument = true")
    assert [c.strip() for c in counts(page)] == ["3", "0", "0"]

    # The four buttons of a new card say four different things.
    page.keyboard.press("Space")
    intervals = page.locator(".answer-interval").all_inner_texts()
    assert intervals == ["<1m", "<6m", "<10m", "4d"]
    shot(page, "study-new-card-previews")
    # htmx wires swapped content a moment after the swap (20 ms; longer on a
    # busy machine, where z once came first and posted the undo form as a
    # full page load). Here the moment lasts a second, so z always comes first.
    page.evaluate("htmx.config.defaultSettleDelay = 1000")
    page.keyboard.press("3")  # Good: to the 10-minute step
    page.wait_for_function("() => document.querySelector('[data-counts]').innerText.includes('1')")
    assert page.locator("form[data-undo-form]:not([data-ready])").count() == 1  # swapped, not wired yet
    first = setup.cards[0].pk
    assert page.locator(".study-card").get_attribute("data-card") != str(first)
    assert [c.strip() for c in counts(page)] == ["2", "1", "0"]
    assert Review.objects.count() == 1

    # A mistake: z takes it back, and the same card is shown again.
    page.keyboard.press("z")
    page.wait_for_selector(f".study-card[data-card='{first}']")
    assert [c.strip() for c in counts(page)] == ["3", "0", "0"]
    assert Review.objects.count() == 0 and not CardState.objects.exists()
    assert page.locator("[data-undo]").count() == 0  # once per answer
    assert page.evaluate("window.__sameDocument") is True  # undone through htmx, no page load
    page.evaluate("htmx.config.defaultSettleDelay = 20")
    shot(page, "study-after-undo")

    # Study everything with the keyboard: Easy graduates each card at once.
    for _ in range(3):
        flip_and_press(page, "4")
    page.locator("[data-summary]").wait_for()
    summary = page.locator("[data-summary]").inner_text()
    assert "Session complete" in summary and "Easy" in summary
    assert page.evaluate("window.__sameDocument") is True
    assert set(CardState.objects.values_list("status", flat=True)) == {"review"}
    shot(page, "study-summary")


def test_teacher_scheduling_page_and_deck_options_fit_a_phone(browser, live_server, transactional_db):
    from learning.models import Classroom, Deck
    from lms.demo import seed_demo

    seed_demo()
    classroom = Classroom.objects.get(teacher__username="teacher")
    deck = Deck.objects.filter(lesson__course__classroom=classroom).first()
    context = browser.new_context(viewport={"width": 390, "height": 800})
    phone = context.new_page()
    phone.set_default_timeout(15_000)
    phone.goto(f"{live_server.url}/accounts/login/")
    phone.fill("input[name=username]", "teacher")
    phone.fill("input[name=password]", "demo-pass-123")
    phone.click("main button[type=submit]")
    phone.wait_for_url(re.compile(r"/classes/$"))
    for url, marker in (
        (f"/classes/{classroom.pk}/scheduling/", "[data-evaluation]"),
        (f"/decks/{deck.pk}/edit/", "select[name=scheduler]"),
    ):
        phone.goto(live_server.url + url)
        phone.locator(marker).first.wait_for()
        assert phone.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), url
        if SHOTS:
            phone.screenshot(path=os.path.join(SHOTS, f"phone-{url.strip('/').replace('/', '-')}.png"), full_page=True)
    context.close()
