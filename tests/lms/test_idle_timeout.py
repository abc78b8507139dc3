"""Browser sessions end after a stretch without requests; staff sooner."""

from __future__ import annotations

import time

import pytest

from lms.middleware import IdleTimeoutMiddleware

pytestmark = pytest.mark.django_db


def _idle(client, seconds: int) -> None:
    session = client.session
    session[IdleTimeoutMiddleware.KEY] = int(time.time()) - seconds
    session.save()


def test_a_student_idle_past_the_limit_is_signed_out(client_for, student, settings) -> None:
    settings.SESSION_IDLE_MINUTES = 120
    client = client_for(student)
    _idle(client, 121 * 60)
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_a_student_within_the_limit_stays_and_the_clock_moves_on(client_for, student, settings) -> None:
    settings.SESSION_IDLE_MINUTES = 120
    client = client_for(student)
    _idle(client, 119 * 60)
    assert client.get("/dashboard/").status_code == 200
    assert time.time() - client.session[IdleTimeoutMiddleware.KEY] < 60


def test_staff_are_signed_out_sooner(client_for, admin, student, settings) -> None:
    settings.SESSION_IDLE_MINUTES, settings.SESSION_IDLE_MINUTES_STAFF = 120, 30
    staff, learner = client_for(admin), client_for(student)
    _idle(staff, 31 * 60)
    _idle(learner, 31 * 60)
    assert staff.get("/ops/").status_code == 302
    assert "_auth_user_id" not in staff.session
    assert learner.get("/dashboard/").status_code == 200


def test_zero_turns_the_timeout_off(client_for, student, settings) -> None:
    settings.SESSION_IDLE_MINUTES = 0
    client = client_for(student)
    _idle(client, 365 * 24 * 3600)
    assert client.get("/dashboard/").status_code == 200


def test_a_fresh_log_in_does_not_write_the_session_on_the_next_request(client_for, student) -> None:
    client = client_for(student)
    assert IdleTimeoutMiddleware.KEY in client.session  # stamped at log-in
    before = client.session[IdleTimeoutMiddleware.KEY]
    client.get("/accounts/profile/")
    assert client.session[IdleTimeoutMiddleware.KEY] == before
