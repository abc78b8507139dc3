"""What students and users type reaches staff pages as text, never as markup."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import services as analytics_services
from analytics.models import Event
from ops import services as ops_services

pytestmark = pytest.mark.django_db

XSS = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_browser_event_properties_and_names_are_escaped(client_for, admin, student) -> None:
    student.first_name = XSS
    student.save(update_fields=["first_name"])
    sent = client_for(student).post(  # the browser's way: a session, so the event has a session key
        reverse("api-analytics-events"),
        {"events": [{"name": "card_flipped", "properties": {XSS: XSS, "nested": {"x": XSS}}}]},
        content_type="application/json",
    )
    assert sent.status_code == 201
    Event.objects.create(
        name="error",
        user=student,
        session_key="k1",
        timestamp=timezone.now(),
        properties={"type": XSS, "message": XSS, "route": XSS},
    )
    analytics_services.rollup_pending()
    client = client_for(admin)
    session_key = Event.objects.get(name="card_flipped").session_key
    for url in (
        reverse("analytics:user", args=[student.pk]),
        reverse("analytics:session", args=["k1"]),
        reverse("analytics:session", args=[session_key]),
        reverse("analytics:dashboard"),
        reverse("analytics:funnel") + "?steps=card_flipped,error",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "<img src=x" not in body and "<script>alert" not in body, url


def test_incident_title_and_updates_are_escaped(client_for, admin) -> None:
    incident = ops_services.incident_open(
        title=XSS[:200], severity=2, description=XSS, public_message=XSS, author=admin
    )
    client = client_for(admin)
    for url in (
        reverse("ops:incident_list"),
        reverse("ops:incident_detail", args=[incident.pk]),
        reverse("ops:dashboard"),
        reverse("status"),
    ):
        body = client.get(url).content.decode()
        assert "<img src=x" not in body and "<script>alert" not in body, url
