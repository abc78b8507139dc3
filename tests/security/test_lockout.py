"""django-axes locks a username+address after repeated failures, on the log-in
page and on the token API alike (the API must not be a way around the lock)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.settings import api_settings

from lms.api import AuthThrottle
from lms.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings) -> int:
    settings.AXES_FAILURE_LIMIT = 3
    return 3


@pytest.fixture
def auth_rate():
    """Set the token endpoint's throttle (DRF reads rates once, into the class)."""

    def set_rate(rate: str) -> None:
        AuthThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "auth": rate}

    yield set_rate
    AuthThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def _token(client, username: str, password: str):
    return client.post(reverse("api-token"), {"username": username, "password": password}, format="json")


def test_login_page_locks_after_failures(client, student, limit) -> None:
    for _ in range(limit):
        client.post(reverse("login"), {"username": student.username, "password": "wrong"})
    response = client.post(reverse("login"), {"username": student.username, "password": DEMO_PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_token_api_locks_after_failures(api_for, student, limit) -> None:
    client = api_for(None)
    codes = [_token(client, student.username, "wrong").status_code for _ in range(limit)]
    assert codes == [400] * (limit - 1) + [429]  # the failure that reaches the limit locks
    locked = _token(client, student.username, DEMO_PASSWORD)
    assert locked.status_code == 429, locked.content
    assert locked.json()["error"]["code"] == "locked_out"
    assert "token" not in locked.json()


def test_failures_on_the_api_count_towards_the_login_page(client, api_for, student, limit) -> None:
    for _ in range(limit):
        _token(api_for(None), student.username, "wrong")
    response = client.post(reverse("login"), {"username": student.username, "password": DEMO_PASSWORD})
    assert response.status_code == 429


def test_token_endpoint_is_throttled(api_for, auth_rate) -> None:
    auth_rate("2/minute")
    client = api_for(None)
    codes = [_token(client, "nobody", "x").status_code for _ in range(3)]
    assert codes == [400, 400, 429]
