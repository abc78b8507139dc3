"""A newline in an incident title neither injects mail headers nor silences the page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_newline_in_title_still_pages_on_call(
    api_for, admin, settings, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    settings.OPS_ONCALL_EMAILS = ["oncall@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(admin).post(
            "/api/v1/incidents/", {"title": "DB down\nBcc: victim@example.com", "severity": 1}, format="json"
        )
    assert response.status_code == 201
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.subject == "[SEV1] Incident opened: DB down Bcc: victim@example.com"
    assert mail.bcc == [] and mail.to == ["oncall@example.com"]
