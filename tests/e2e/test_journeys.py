"""A real Chromium walks the product's first day: a new teacher builds a class
from nothing and invites a new student, who joins by the link and studies."""

from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.e2e

SHOTS = os.getenv("E2E_SCREENSHOTS", "")
PASSWORD = "Sup3r-secret-passphrase"


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"journey-{name}.png"), full_page=True)


def sign_up(page, *, username: str, role: str, first_name: str) -> None:
    """Fill the sign-up form the page is on, submit it, and follow the emailed
    link (the live server runs in this process: its mail is in mail.outbox)."""
    from django.core import mail

    from tests.lms.signup_helpers import confirm_path

    email = f"{username}@example.com"
    site = page.url.split("/accounts/", 1)[0]
    page.fill("#id_username", username)
    page.fill("#id_email", email)
    page.fill("#id_first_name", first_name)
    page.check(f"input[name=role][value={role}]")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main button[type=submit]")
    page.get_by_text("Check your email to finish signing up").wait_for()
    message = next(m for m in reversed(mail.outbox) if m.to == [email])
    page.goto(site + confirm_path(message))
    page.click("main button:has-text('Confirm and sign in')")
    page.wait_for_load_state("domcontentloaded")


def log_out(page) -> None:
    page.click("header button:has-text('Log out')")
    page.wait_for_url(re.compile(r"/accounts/(login|logout)/"))


def test_new_teacher_builds_a_class_and_a_new_student_joins_by_link_and_studies(page, live_server, transactional_db):
    from lms.models import User

    # --- a brand-new teacher, starting from nothing ------------------------------------------
    page.goto(f"{live_server.url}/accounts/signup/")
    sign_up(page, username="nina", role="teacher", first_name="Nina")
    page.wait_for_url(re.compile(r"/classes/$"))
    assert User.objects.get(username="nina").role == "teacher"
    # The empty state says what to do first.
    page.get_by_text("No classes yet — create the first one").wait_for()
    page.click("main .empty a:has-text('New class')")
    page.fill("#id_name", "Chemistry 7B")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/classes/\d+/$"))
    class_url = page.url
    page.get_by_text("No courses yet — add the first one").wait_for()

    page.click("main .empty a:has-text('Add course')")
    page.fill("#id_title", "Atoms")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/courses/\d+/$"))

    page.click("main a:has-text('Add lesson') >> nth=0")
    page.fill("#id_title", "The periodic table")
    page.fill("#id_body", "Learn the **symbols** of the first elements.")
    page.check("#id_published")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/lessons/\d+/$"))
    page.get_by_text("No decks yet — add the first one").wait_for()

    page.click("main .empty a:has-text('Add deck')")
    page.fill("#id_title", "Symbols")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/decks/\d+/$"))

    page.click("main a:has-text('Bulk add')")
    page.wait_for_url(re.compile(r"/cards/bulk/$"))
    page.wait_for_load_state("load")  # htmx (deferred) has wired the live preview
    page.fill("#id_text", "H\tHydrogen\nHe;Helium\nLi;Lithium\nthis line has no separator")
    # The live preview reports what will be created and what cannot be read.
    page.locator("#bulk-preview").get_by_text("3 cards will be added").wait_for()
    page.locator("#bulk-preview").get_by_text("1 line could not be read").wait_for()
    page.click("button[value=create]")
    page.wait_for_url(re.compile(r"/decks/\d+/$"))
    page.get_by_text("Added 3 cards. 1 line could not be read and was skipped.").wait_for()
    shot(page, "deck")

    page.goto(class_url)
    invite_url = page.locator("#invite-link").input_value()
    assert re.search(r"/join/[A-Z2-9]{8}/$", invite_url)
    page.click("button[data-copy=invite-link]")
    page.get_by_text("Link copied").wait_for()
    shot(page, "class")
    log_out(page)

    # --- a brand-new student opens the invite link -------------------------------------------
    page.goto(invite_url)
    page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_text("You were invited to a class").wait_for()
    page.click("main a:has-text('Create an account') >> nth=0")
    sign_up(page, username="sam", role="student", first_name="Sam")
    # Back at the invite, not on an empty dashboard.
    page.wait_for_url(re.compile(r"/join/[A-Z2-9]{8}/$"))
    page.click("main button:has-text('Join Chemistry 7B')")
    page.wait_for_url(class_url)
    page.get_by_text("Welcome to “Chemistry 7B”!").wait_for()

    page.click("main a:has-text('The periodic table')")
    page.click("main a:has-text('Symbols') >> nth=0")
    page.click("main a:has-text('Study') >> nth=0")
    page.click("button:has-text('Start learn')")
    page.wait_for_url(re.compile(r"/study/sessions/\d+/$"))

    # Keyboard only: Space shows the answer, 3 (Good) answers it.
    for _ in range(10):
        if page.locator("[data-summary]").count():
            break
        card_id = page.locator(".study-card[data-card]").get_attribute("data-card")
        page.wait_for_selector(".study-answers[data-ready]", state="attached")
        page.keyboard.press("Space")
        page.locator(".study-back").wait_for(state="visible")
        page.keyboard.press("3")
        page.wait_for_function(
            "id => !document.querySelector(`.study-card[data-card='${id}']`) || document.querySelector('[data-summary]')",
            arg=card_id,
        )
    summary = page.locator("[data-summary]")
    summary.wait_for()
    assert "Session complete" in summary.inner_text()
    assert re.search(r"\b3\s+cards studied", summary.inner_text())
    shot(page, "summary")
    log_out(page)

    # --- the teacher sees the new student on the class progress page -------------------------
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "nina")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/classes/$"))
    page.goto(class_url)
    page.click("main a:has-text('Class progress')")
    page.wait_for_url(re.compile(r"/classes/\d+/progress/$"))
    row = page.locator("main table tr", has_text="Sam")
    row.wait_for()
    # Three cards, each answered Good on both learning steps (1m 10m): six
    # answers this week, shown in the reviews column.
    assert re.search(r"\b6\b", row.inner_text())
    shot(page, "progress")


def test_keyboard_user_can_tab_to_end_and_press_it(page, live_server, login, transactional_db):
    """Enter and Space are study shortcuts, but not when a button has the focus:
    a keyboard-only student must be able to reach and press "End"."""
    from tests.factories import UserFactory
    from tests.learning.study_setup import make_class

    teacher = UserFactory(username="tess", role="teacher")
    student = UserFactory(username="kim", role="student")
    student.set_password("demo-pass-123")
    student.save()
    setup = make_class(teacher, [student], cards_per_deck=3)
    login("kim")
    page.goto(f"{live_server.url}/study/decks/{setup.decks[0].pk}/")
    page.click("button:has-text('Start cram')")
    page.wait_for_url(re.compile(r"/study/sessions/\d+/$"))
    page.wait_for_selector(".study-answers[data-ready]", state="attached")
    end = page.locator(".study-progress button:has-text('End')")
    for _ in range(30):
        if end.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    assert end.evaluate("el => el === document.activeElement"), "End is not reachable with Tab"
    page.keyboard.press("Enter")
    page.locator("[data-summary]").wait_for()
    # The card was never flipped by that Enter: the session simply ended.
    assert "Session complete" in page.locator("[data-summary]").inner_text() or "closed" in page.content()


def test_busy_pages_fit_a_phone_screen(browser, live_server, transactional_db):
    """At 390 px nothing pushes the page sideways: wide charts and tables scroll
    inside their cards, long routes wrap."""
    from lms.demo import seed_demo

    seed_demo()
    context = browser.new_context(viewport={"width": 390, "height": 800})
    phone = context.new_page()
    phone.set_default_timeout(15_000)
    try:
        for username, paths in (
            ("student", ["/dashboard/", "/classes/", "/decks/"]),
            ("teacher", ["/classes/", "/dashboard/"]),
            ("admin", ["/analytics/", "/ops/", "/ops/incidents/", "/status/"]),
        ):
            phone.context.clear_cookies()
            phone.goto(f"{live_server.url}/accounts/login/")
            phone.fill("input[name=username]", username)
            phone.fill("input[name=password]", "demo-pass-123")
            phone.click("main button[type=submit]")
            phone.wait_for_load_state("domcontentloaded")
            for path in paths:
                phone.goto(f"{live_server.url}{path}")
                overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, f"{username} {path} is {overflow}px wider than the phone"
    finally:
        context.close()


def test_sign_up_preselects_the_browsers_time_zone(browser, live_server, transactional_db):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, timezone_id="America/Chicago")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/signup/")
        page.wait_for_load_state("load")
        assert page.input_value("#id_timezone") == "America/Chicago"
        # Shown again with errors, the form keeps what was sent.
        page.fill("#id_timezone", "UTC")  # a searchable text field now
        page.click("main button[type=submit]")
        page.wait_for_load_state("load")
        assert page.locator(".field.has-error").count() > 0
        assert page.input_value("#id_timezone") == "UTC"
    finally:
        context.close()


def test_without_javascript_the_copy_button_is_not_offered(browser, live_server, transactional_db):
    """It could only do nothing there; the invite field still selects for copying."""
    from learning.models import Classroom
    from tests.factories import UserFactory

    teacher = UserFactory(username="tess", role="teacher")
    teacher.set_password(PASSWORD)
    teacher.save()
    classroom = Classroom.objects.create(name="Physics", teacher=teacher)
    context = browser.new_context(viewport={"width": 1200, "height": 900}, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", "tess")
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.goto(f"{live_server.url}/classes/{classroom.pk}/")
        assert page.locator("#invite-link").is_visible()
        assert page.locator("button[data-copy=invite-link]").is_hidden()
    finally:
        context.close()


def test_maintenance_mode_asks_before_taking_the_site_down(page, live_server, login, transactional_db):
    from waffle.models import Switch

    from tests.factories import UserFactory

    def switched_on() -> bool:
        return Switch.objects.filter(name="maintenance-mode", active=True).exists()

    UserFactory(username="boss", role="admin")
    login("boss")
    page.goto(f"{live_server.url}/ops/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Turn maintenance mode on").click()
    page.wait_for_load_state("networkidle")
    assert not switched_on()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Turn maintenance mode on").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Maintenance mode is ON.").is_visible()
    assert switched_on()
