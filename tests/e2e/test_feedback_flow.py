"""A real Chromium: a student sends feedback from the footer of a page, staff
reply, and the student sees the reply (with a notice fetched by htmx)."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


def test_feedback_from_the_footer_reaches_staff_and_the_reply_comes_back(page, live_server, login, transactional_db):
    from analytics import feedback
    from analytics.models import Feedback

    student = UserFactory(username="sam", role="student")
    admin = UserFactory(username="ada", role="admin")
    login("sam")
    page.goto(f"{live_server.url}/accounts/profile/")
    page.locator("details.feedback-control summary").click()
    page.select_option("#fb-type", "idea")
    page.select_option("#fb-rating", "4")
    page.fill("#fb-message", "Let me pick a colour per deck.")
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.get_by_role("button", name="Send feedback").click()
    assert page.url.endswith("/accounts/profile/")
    assert "Thank you" in page.locator(".messages").inner_text()
    item = Feedback.objects.get()
    assert (item.user_id, item.kind, item.rating, item.page_url) == (student.pk, "idea", 4, "/accounts/profile/")
    assert "Chrome" in item.browser or "HeadlessChrome" in item.browser

    feedback.feedback_triage(feedback=item, actor=admin, status="planned", reply="Good idea, it is planned.")
    page.goto(f"{live_server.url}/accounts/profile/")
    page.locator(".feedback-prompt .badge").wait_for()  # the footer's live part, by htmx
    assert "1 new" in page.locator(".feedback-prompt").inner_text()
    page.locator(".feedback-prompt a", has_text="My feedback").click()
    page.wait_for_url("**/feedback/mine/")
    assert "Good idea, it is planned." in page.content()
