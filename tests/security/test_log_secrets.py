"""Request logs never carry a password-reset token."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

pytestmark = pytest.mark.django_db


def test_reset_link_token_is_masked_in_request_logs(client, student, settings, caplog) -> None:
    settings.LOG_REQUESTS = True
    uid = urlsafe_base64_encode(force_bytes(student.pk))
    token = default_token_generator.make_token(student)
    with caplog.at_level(logging.INFO, logger="lms.request"):
        response = client.get(f"/accounts/reset/{uid}/{token}/")
    assert response.status_code == 302  # Django moves the token into the session
    records = [r for r in caplog.records if r.name == "lms.request"]
    assert records
    for record in records:
        assert token not in record.getMessage()
        assert token not in getattr(record, "path", "")
    assert "/accounts/reset/<uidb64>/<token>/" in records[0].getMessage()


def test_sentry_events_mask_reset_tokens() -> None:
    from lms.sentry import before_send

    event = before_send({"request": {"url": "https://lms.example/accounts/reset/MQ/abc-123def/", "cookies": "x"}})
    assert event["request"]["url"] == "https://lms.example/accounts/reset/[Filtered]/[Filtered]/"
    assert "cookies" not in event["request"]
