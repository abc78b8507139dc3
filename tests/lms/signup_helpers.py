"""Signing up as a test does it: post the form, then follow the emailed link."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core import mail
from django.http import HttpResponse
from django.test import Client

PASSWORD = "a-long-Passphrase-9"
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/signup/confirm/[^/\s]+/)")


def signup_form(**fields: str) -> dict[str, str]:
    form = {
        "username": "newbie",
        "email": "newbie@example.com",
        "role": "student",
        "timezone": "UTC",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    form.update(fields)
    return form


def post_signup(
    client: Client, capture: Callable[..., Any], url: str = "/accounts/signup/", **fields: str
) -> HttpResponse:
    """Post the form with the on-commit mail task run, as after a real commit."""
    with capture(execute=True):
        return client.post(url, signup_form(**fields))


def confirm_path(message: mail.EmailMessage | None = None) -> str:
    """The confirmation link's path in `message` (default: the last email sent)."""
    message = message or mail.outbox[-1]
    found = CONFIRM_LINK.search(message.body)
    assert found, message.body
    return found.group(1)
