"""A client cannot dodge the lock-out or the throttle by inventing X-Forwarded-For."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lms.demo import DEMO_PASSWORD
from tests.security.test_lockout import _token, auth_rate, limit  # noqa: F401

pytestmark = pytest.mark.django_db


def test_rotating_x_forwarded_for_does_not_reset_the_lockout(client, student, limit) -> None:  # noqa: F811
    for i in range(limit):
        client.post(
            reverse("login"),
            {"username": student.username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        )
    response = client.post(
        reverse("login"),
        {"username": student.username, "password": DEMO_PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert response.status_code == 429


def test_rotating_x_forwarded_for_does_not_dodge_the_token_throttle(api_for, auth_rate) -> None:  # noqa: F811
    auth_rate("2/minute")
    client = api_for(None)
    codes = [
        client.post(
            reverse("api-token"),
            {"username": "nobody", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(3)
    ]
    assert codes == [400, 400, 429]
