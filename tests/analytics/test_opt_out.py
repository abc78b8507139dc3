"""An opted-out person's actions add no events; so does a browser sending Global Privacy Control."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.models import Event
from lms.models import User
from lms.tracking import track, tracking_allowed
from tests.factories import UserFactory

EVENTS_URL = "/api/v1/analytics/events/"
BATCH = {"events": [{"name": "card_flipped", "properties": {"card": 1}}]}


@pytest.fixture
def opted_out() -> User:
    return UserFactory(username="quiet", analytics_opt_out=True)


def _act(client: Any, api: Any, user: User, **headers: str) -> None:
    """A page view, an API call, a browser batch and a domain event."""
    assert client.get("/accounts/profile/", **headers).status_code == 200
    assert api.get("/api/v1/auth/me/", **headers).status_code == 200
    response = api.post(EVENTS_URL, BATCH, format="json", **headers)
    assert response.status_code == 201
    track("deck_created", user=user, deck_id=1)
    return response.json()["accepted"]


def test_a_person_who_did_not_opt_out_is_tracked(client_for, api_for, student):
    # The control: the same actions do add events.
    accepted = _act(client_for(student), api_for(student), student)
    assert accepted == 1
    names = set(Event.objects.filter(user=student).values_list("name", flat=True))
    assert {"page_view", "api_request", "card_flipped", "deck_created"} <= names


def test_an_opted_out_persons_actions_add_no_events(client_for, api_for, opted_out):
    accepted = _act(client_for(opted_out), api_for(opted_out), opted_out)
    assert accepted == 0
    assert not Event.objects.exists()


def test_global_privacy_control_is_honoured_for_a_signed_in_person(client_for, api_for, student):
    client, api = client_for(student), api_for(student)
    Event.objects.all().delete()  # the log-in, made without the header
    accepted = _act(client, api, student, HTTP_SEC_GPC="1")
    assert accepted == 0
    # track() ran outside any request: only the profile setting applies there.
    assert list(Event.objects.values_list("name", flat=True)) == ["deck_created"]


def test_global_privacy_control_is_honoured_for_visitors(client):
    client.get("/accounts/login/", HTTP_SEC_GPC="1")
    assert not Event.objects.exists()
    client.get("/accounts/login/")
    assert Event.objects.filter(name="page_view").count() == 1


def test_opted_out_log_in_is_not_recorded(client, opted_out):
    response = client.post("/accounts/login/", {"username": "quiet", "password": "demo-pass-123"})
    assert response.status_code == 302
    assert not Event.objects.exists()


def test_profile_setting_switches_it(client_for, student):
    client = client_for(student)
    response = client.post(
        "/accounts/profile/",
        {"first_name": "", "last_name": "", "email": student.email, "timezone": "UTC", "analytics_opt_out": "on"},
    )
    assert response.status_code == 302
    student.refresh_from_db()
    assert student.analytics_opt_out
    assert not tracking_allowed(user=student)
    Event.objects.all().delete()
    client.get("/accounts/profile/")
    assert not Event.objects.exists()


def test_a_bad_browser_batch_is_still_refused_when_opted_out(api_for, opted_out):
    response = api_for(opted_out).post(EVENTS_URL, {"events": [{"name": "Not Valid"}]}, format="json")
    assert response.status_code == 400
