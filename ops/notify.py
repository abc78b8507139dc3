"""Incident notifications: email to on-call staff (all admins on escalation)
and a Slack-compatible webhook when one is configured."""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.urls import reverse

from lms.models import User
from ops.models import Incident

ONCALL_GROUP = "on-call"


def oncall_emails() -> list[str]:
    """The `on-call` group's members, else OPS_ONCALL_EMAILS, else every admin."""
    group = Group.objects.filter(name=ONCALL_GROUP).first()
    if group is not None:
        emails = list(
            group.user_set.filter(is_active=True, is_staff=True).exclude(email="").values_list("email", flat=True)
        )
        if emails:
            return sorted(set(emails))
    if settings.OPS_ONCALL_EMAILS:
        return list(settings.OPS_ONCALL_EMAILS)
    return admin_emails()


def admin_emails() -> list[str]:
    return sorted(set(User.objects.admins().exclude(email="").values_list("email", flat=True)))


def _text(incident: Incident, event: str) -> tuple[str, str]:
    verb = {"opened": "opened", "escalated": "ESCALATED", "resolved": "resolved"}.get(event, event)
    # One line: a newline in a title (the API allows one) would make the mail
    # header invalid (BadHeaderError), and the page to on-call would be lost.
    title = " ".join(incident.title.split())
    subject = f"[SEV{incident.severity}] Incident {verb}: {title}"
    url = settings.SITE_URL.rstrip("/") + reverse("ops:incident_detail", args=[incident.pk])
    lines = [
        subject,
        f"Status: {incident.get_status_display()}",
        f"Components: {', '.join(incident.components) or '—'}",
        f"Source: {incident.get_source_display()}",
    ]
    if incident.description:
        lines.append(incident.description)
    if event == "escalated":
        lines.append(f"Not acknowledged within {incident.response_target} of being triggered.")
    lines.append(url)
    return subject, "\n".join(lines)


def send_email(incident: Incident, event: str) -> list[str]:
    recipients = sorted(set(oncall_emails() + (admin_emails() if event == "escalated" else [])))
    if not recipients:
        return []
    subject, body = _text(incident, event)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return recipients


def send_webhook(incident: Incident, event: str) -> bool:
    url = settings.OPS_INCIDENT_WEBHOOK_URL
    if not url:
        return False
    if not url.startswith(("https://", "http://")):
        raise ValueError("OPS_INCIDENT_WEBHOOK_URL must be an http(s) URL")
    _subject, body = _text(incident, event)
    payload = json.dumps({"text": body, "username": settings.SITE_NAME}).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, data=payload, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - URL from settings
        if response.status >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status}")
    return True
