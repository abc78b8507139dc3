"""A real Chromium: an admin runs a SEV2 incident from declaration to
post-mortem, then an anonymous visitor reads about it on the status page."""

from __future__ import annotations

import os
import re

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

SHOTS = os.getenv("E2E_SCREENSHOTS", "")


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def submit(page, form_selector: str) -> None:
    """Click the form's button and wait for the page the POST redirects to."""
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.locator(f"{form_selector} button[type=submit]").click()


def test_admin_runs_a_sev2_incident_and_the_public_sees_only_public_updates(
    page, live_server, login, transactional_db, browser, settings, tmp_path
):
    from ops.models import Incident

    settings.BACKUP_DIR = tmp_path  # the dashboard reads the backup folder

    UserFactory(username="ada", role="admin")
    login("ada")

    # Declare, from the dashboard's button.
    page.goto(f"{live_server.url}/ops/")
    page.get_by_role("link", name="Declare an incident").first.click()
    page.wait_for_url(re.compile(r"/ops/incidents/new/$"))
    shot(page, "declare-form")
    page.fill("input[name=title]", "Card images fail to load")
    page.select_option("select[name=severity]", "2")
    page.check("input[name=components][value=web]")
    page.fill("input[name=public_message]", "Some card images do not load; we are looking into it.")
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.get_by_role("button", name="Declare").click()
    page.wait_for_url(re.compile(r"/ops/incidents/\d+/$"))
    incident_url = page.url
    assert "SEV2" in page.locator("h1").inner_text()
    assert page.locator(".messages, .message").first.inner_text().startswith("Incident declared")

    # Acknowledge.
    submit(page, "form[action$='/acknowledge/']")
    assert page.url == incident_url
    assert page.locator("form[action$='/acknowledge/']").count() == 0  # only a triggered incident offers it
    assert "Acknowledged" in page.locator(".page-head .badge").last.inner_text()

    # One internal note and one public update that moves the status on.
    update = "form[action$='/update/']"
    page.fill(f"{update} textarea[name=message]", "Internal: the CDN certificate expired at 09:02.")
    submit(page, update)
    page.fill(f"{update} textarea[name=message]", "We found the cause and are rolling out a fix.")
    page.select_option(f"{update} select[name=status]", "identified")
    page.check(f"{update} input[name=public]")
    submit(page, update)
    timeline = page.locator(".timeline")
    assert "rolling out a fix" in timeline.inner_text()
    assert "Identified" in page.locator(".page-head .badge").last.inner_text()
    shot(page, "incident-identified")

    # Resolve.
    resolve = "form[action$='/resolve/']"
    page.fill(f"{resolve} input[name=message]", "Images load again for everyone.")
    submit(page, resolve)
    assert "Resolved" in page.locator(".page-head .badge").last.inner_text()
    assert page.locator(resolve).count() == 0 and page.locator(update).count() == 0

    # Post-mortem.
    pm = "form[action$='/postmortem/']"
    page.fill(f"{pm} textarea[name=summary]", "An expired certificate broke image loading for 20 minutes.")
    page.fill(f"{pm} textarea[name=root_cause]", "Certificate renewal was not automated.")
    page.fill(f"{pm} textarea[name=action_items]", "Automate renewal\nAlert 14 days before expiry")
    submit(page, pm)
    assert "Post-mortem saved" in page.content()
    assert page.locator(f"{pm} textarea[name=summary]").input_value().startswith("An expired certificate")
    shot(page, "incident-resolved")

    incident = Incident.objects.get()
    assert (incident.severity, incident.status) == (2, "resolved")
    assert incident.acknowledged_at and incident.resolved_at and incident.postmortem_at
    assert incident.updates.filter(public=True).count() == 3  # declared, identified, resolved

    # An anonymous visitor, in a fresh browser context (no session cookie).
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        visitor = context.new_page()
        visitor.set_default_timeout(15_000)
        visitor.goto(f"{live_server.url}/status/")
        past = visitor.locator("section", has=visitor.get_by_role("heading", name=re.compile("Past incidents")))
        text = past.inner_text()
        assert "Card images fail to load" in text
        assert "Some card images do not load" in text
        assert "rolling out a fix" in text
        assert "Images load again for everyone" in text
        body = visitor.content()
        assert "CDN certificate" not in body  # the internal note
        assert "Acknowledged by" not in body and "Post-mortem" not in body
        assert visitor.get_by_role("link", name="Log out").count() == 0
        shot(visitor, "status-after-incident")
    finally:
        context.close()


def test_on_a_phone_an_active_incidents_update_times_stay_on_one_line(browser, live_server, transactional_db):
    """At 390 px the time beside each update was squeezed to one word a line
    ("7 / Dec / 03: / 55") by the update's text."""
    from ops import services

    admin = UserFactory(username="ada", role="admin")
    incident = services.incident_open(
        title="Database unreachable from the web tier",
        severity=1,
        components=["database"],
        author=admin,
        public_message="We are looking into failed connections to the primary database since the last deploy.",
    )
    services.incident_post_update(
        incident=incident,
        user=admin,
        message="Failover to the replica is under way; sessions may see errors.",
        public=True,
    )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        visitor = context.new_page()
        visitor.set_default_timeout(15_000)
        visitor.goto(f"{live_server.url}/status/")
        active = visitor.locator("section", has=visitor.get_by_role("heading", name="Active incidents"))
        times = active.locator("li time")
        assert times.count() == 2
        for i in range(times.count()):
            line = times.nth(i).evaluate("t => parseFloat(getComputedStyle(t).lineHeight)")
            height = times.nth(i).bounding_box()["height"]
            assert height < 1.5 * line, (times.nth(i).inner_text(), height, line)
        shot(visitor, "status-active-incident-390")
    finally:
        context.close()
