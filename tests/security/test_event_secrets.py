"""Credentials never reach the events table, however deep a browser nests them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.models import Event
from analytics.services import clean_properties

pytestmark = pytest.mark.django_db


def test_nested_credentials_are_dropped() -> None:
    cleaned = clean_properties(
        {"form": {"password": "hunter2", "field": "x", "deep": [{"api_key": "k", "ok": 1}]}, "ip": "1.2.3.4"}
    )
    assert cleaned == {"form": {"field": "x", "deep": [{"ok": 1}]}}


def test_browser_batch_with_nested_token_stores_no_token(api_for: object, student: object) -> None:
    response = api_for(student).post(
        reverse("api-analytics-events"),
        {"events": [{"name": "card_flipped", "properties": {"ctx": {"auth_token": "s3cr3t", "card": 5}}}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    event = Event.objects.get(name="card_flipped")
    assert "s3cr3t" not in str(event.properties)
    assert event.properties == {"ctx": {"card": 5}}


def test_a_failed_login_keeps_no_unknown_username(client, student, settings) -> None:
    """A password typed into the username box must not land in analytics."""
    settings.ANALYTICS_ENABLED = True
    client.post("/accounts/login/", {"username": "MyS3cret-Passw0rd", "password": "x"})
    client.post("/accounts/login/", {"username": student.username, "password": "wrong"})
    names = [e.properties.get("username") for e in Event.objects.filter(name="login_failed").order_by("id")]
    assert names == ["(unknown)", student.username]
    assert "MyS3cret" not in str(list(Event.objects.values_list("properties", flat=True)))
