from __future__ import annotations

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


def test_wrong_password_shows_an_error_then_right_one_signs_in(page, live_server, login, transactional_db):
    UserFactory(username="sam", role="student")
    login("sam", "wrong-password")
    assert "/accounts/login/" in page.url
    assert page.locator(".errors").count() == 1

    login("sam")
    assert "/accounts/login/" not in page.url
    assert page.get_by_role("button", name="Log out").is_visible()
