"""A signed-in page reads neither its session nor its user from the database
once they are cached, and sees every change of the user at once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lms.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROFILE = "/accounts/profile/"


@pytest.fixture
def sam() -> User:
    return UserFactory(username="sam", role=User.Role.STUDENT)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_page_reads_neither_its_session_nor_its_user_row_once_cached(sam) -> None:
    client = signed_in(sam)
    client.get(PROFILE)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(PROFILE)
    assert response.status_code == 200 and response.wsgi_request.user == sam
    tables = " ".join(q["sql"] for q in ctx.captured_queries)
    assert '"django_session"' not in tables and 'FROM "lms_user"' not in tables


def test_a_change_of_the_user_shows_on_the_next_request(sam) -> None:
    client = signed_in(sam)
    assert client.get(PROFILE).wsgi_request.user.timezone == sam.timezone
    sam.timezone = "Asia/Tokyo"
    sam.save(update_fields=["timezone"])
    assert client.get(PROFILE).wsgi_request.user.timezone == "Asia/Tokyo"


def test_a_deactivated_or_deleted_user_is_signed_out(sam) -> None:
    client = signed_in(sam)
    assert client.get(PROFILE).status_code == 200
    sam.is_active = False
    sam.save(update_fields=["is_active"])
    assert client.get(PROFILE).status_code == 302
    other = UserFactory(username="kim", role=User.Role.STUDENT)
    client = signed_in(other)
    assert client.get(PROFILE).status_code == 200
    other.delete()
    assert client.get(PROFILE).status_code == 302


def test_a_password_change_signs_other_sessions_out(sam) -> None:
    client = signed_in(sam)
    assert client.get(PROFILE).status_code == 200
    sam.set_password("a-new-long-password-1")
    sam.save()
    assert client.get(PROFILE).status_code == 302


def test_sessions_that_name_djangos_own_backend_keep_working(sam) -> None:
    client = Client()
    client.force_login(sam, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(PROFILE).status_code == 200
