"""API tokens: a new one per log-in, hashed at rest, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.admin.sites import site
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from lms.admin import UserAdmin
from lms.models import ApiToken, User
from lms.tokens import digest_of, token_issue, tokens_delete_expired
from ops.maintenance import step_retention
from tests.factories import UserFactory

TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/auth/me/"
PASSWORD = "demo-pass-123"


@pytest.fixture
def sam() -> User:
    return UserFactory(username="sam", role=User.Role.STUDENT)


def log_in(username: str = "sam", **extra: str) -> dict:
    response = APIClient().post(TOKEN_URL, {"username": username, "password": PASSWORD}, format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def me(token: str) -> int:
    return APIClient().get(ME_URL, HTTP_AUTHORIZATION=f"Token {token}").status_code


def test_each_log_in_issues_a_new_token_that_expires_after_the_ttl(sam, settings):
    settings.API_TOKEN_TTL_DAYS = 7
    first, second = log_in(), log_in()
    assert first["token"] != second["token"]
    assert me(first["token"]) == 200 and me(second["token"]) == 200
    token = ApiToken.objects.get(digest=digest_of(first["token"]))
    assert abs(token.expires - (token.created + timedelta(days=7))) < timedelta(seconds=1)
    assert first["expires"].startswith(token.expires.date().isoformat())


def test_the_database_holds_no_usable_token(sam):
    raw = log_in()["token"]
    token = ApiToken.objects.get(user=sam)
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert raw not in stored
    assert token.digest == digest_of(raw) != raw
    # Neither the digest nor the readable prefix authenticates.
    assert me(token.digest) == 401
    assert me(token.prefix) == 401
    # DRF's plain-text table is gone.
    assert "authtoken_token" not in connection.introspection.table_names()


def test_delete_revokes_only_the_token_in_use(sam):
    phone, laptop = log_in()["token"], log_in()["token"]
    response = APIClient().delete(TOKEN_URL, HTTP_AUTHORIZATION=f"Token {phone}")
    assert response.status_code == 204
    assert me(phone) == 401
    assert me(laptop) == 200
    assert ApiToken.objects.filter(user=sam).count() == 1


def test_delete_without_a_token_is_401_and_revokes_nothing(sam, client_for):
    log_in()
    anonymous = APIClient().delete(TOKEN_URL)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    browser = client_for(sam).delete(TOKEN_URL)
    assert browser.status_code == 401
    assert ApiToken.objects.filter(user=sam).count() == 1


def test_log_in_works_while_a_revoked_token_is_still_sent(sam):
    stale = log_in()["token"]
    APIClient().delete(TOKEN_URL, HTTP_AUTHORIZATION=f"Token {stale}")
    assert log_in(HTTP_AUTHORIZATION=f"Token {stale}")["token"] != stale


def test_password_change_revokes_every_token(sam):
    tokens = [log_in()["token"], log_in()["token"]]
    sam.set_password("another-pass-456")
    sam.save()
    assert [me(t) for t in tokens] == [401, 401]
    assert not ApiToken.objects.filter(user=sam).exists()


def test_password_change_form_revokes_every_token(sam):
    token = log_in()["token"]
    browser = Client()
    browser.force_login(sam)
    response = browser.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "another-pass-456", "new_password2": "another-pass-456"},
    )
    assert response.status_code == 302
    assert me(token) == 401


def test_saving_a_user_without_a_new_password_keeps_tokens(sam):
    token = log_in()["token"]
    sam.first_name = "Sam"
    sam.save()
    assert me(token) == 200


def test_an_expired_token_stops_working_and_maintenance_removes_it(sam):
    token = log_in()["token"]
    ApiToken.objects.filter(user=sam).update(expires=timezone.now() - timedelta(seconds=1))
    assert me(token) == 401
    _message, figures = step_retention(timezone.now())
    assert figures["expired_api_tokens_deleted"] == 1
    assert not ApiToken.objects.exists()


def test_tokens_delete_expired_keeps_live_ones(sam):
    token_issue(user=sam)
    assert tokens_delete_expired() == 0
    assert ApiToken.objects.count() == 1


def test_token_of_a_deactivated_user_is_refused(sam):
    token = log_in()["token"]
    User.objects.filter(pk=sam.pk).update(is_active=False)
    assert me(token) == 401


def test_use_records_when_and_where_with_one_write_a_minute(sam):
    token = log_in(REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="curl/8")["token"]
    client = APIClient(REMOTE_ADDR="10.9.9.9")
    with CaptureQueriesContext(connection) as first:
        assert client.get(ME_URL, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    row = ApiToken.objects.get(user=sam)
    assert (row.created_ip, row.last_ip, row.user_agent) == ("10.1.2.3", "10.9.9.9", "curl/8")
    assert row.last_used is not None
    with CaptureQueriesContext(connection) as second:
        assert client.get(ME_URL, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    # The first request: the token with its user, then the last-used update.
    # Within the minute, from the same address: the lookup alone.
    token_queries = [q["sql"] for q in first.captured_queries if "lms_apitoken" in q["sql"]]
    assert len(token_queries) == 2
    assert len([q for q in second.captured_queries if "lms_apitoken" in q["sql"]]) == 1
    assert len(second.captured_queries) == len(first.captured_queries) - 1


def test_token_page_lists_only_my_live_tokens(sam, outsider, client_for):
    mine, _ = token_issue(user=sam)
    expired, _ = token_issue(user=sam)
    ApiToken.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(days=1))
    theirs, _ = token_issue(user=outsider)
    client = client_for(sam)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/accounts/tokens/")
    assert response.status_code == 200
    assert [t.pk for t in response.context["tokens"]] == [mine.pk]
    assert mine.prefix in response.content.decode()
    assert theirs.prefix not in response.content.decode()
    # user (the session is cached), the tokens (one query however many there are)
    assert len([q for q in queries.captured_queries if "lms_apitoken" in q["sql"]]) == 1


def test_token_page_needs_log_in():
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_revoke_button_revokes_my_token(sam, client_for):
    token, raw = token_issue(user=sam)
    response = client_for(sam).post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert me(raw) == 401


def test_revoking_someone_elses_token_is_404_and_keeps_it(sam, outsider, client_for):
    theirs, raw = token_issue(user=outsider)
    assert client_for(sam).post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404
    assert me(raw) == 200


def test_revoke_needs_post(sam, client_for):
    token, _ = token_issue(user=sam)
    assert client_for(sam).get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_revoke_all_button(sam, outsider, client_for):
    _, first = token_issue(user=sam)
    _, second = token_issue(user=sam)
    _, theirs = token_issue(user=outsider)
    assert client_for(sam).post("/accounts/tokens/revoke-all/").status_code == 302
    assert [me(first), me(second), me(theirs)] == [401, 401, 200]


def test_admin_log_out_everywhere_ends_tokens_and_sessions(sam, outsider, admin, rf):
    _, raw = token_issue(user=sam)
    _, theirs = token_issue(user=outsider)
    browser, other_browser = Client(), Client()
    browser.force_login(sam)
    other_browser.force_login(outsider)
    assert browser.get("/accounts/profile/").status_code == 200

    request = rf.post("/admin/lms/user/")
    request.user = admin
    request._messages = type("M", (), {"add": lambda *a, **k: None})()
    UserAdmin(User, site).log_out_everywhere(request, User.objects.filter(pk=sam.pk))

    assert me(raw) == 401
    assert browser.get("/accounts/profile/").status_code == 302
    assert me(theirs) == 200
    assert other_browser.get("/accounts/profile/").status_code == 200
    assert Session.objects.count() == 1
    entry = LogEntry.objects.get(object_pk=str(sam.pk), additional_data__event="user.log_out_everywhere")
    assert (entry.actor, entry.additional_data["tokens"], entry.additional_data["sessions"]) == (admin, 1, 1)


def test_a_session_ended_while_its_cached_copy_stayed_signs_out_within_the_cache_lifetime(sam, settings):
    """A session's row deleted while the delete of its cached copy was lost
    (a process that died owing it to Redis, lms.cache): the copy serves the
    session for SESSION_CACHE_SECONDS at most, not for the session's life."""
    import time

    settings.SESSION_CACHE_SECONDS = 1
    browser = Client()
    browser.force_login(sam)
    assert browser.get("/accounts/profile/").status_code == 200
    Session.objects.all().delete()  # the rows only: the cached copy stays
    assert browser.get("/accounts/profile/").status_code == 200  # served from the cache, for now
    time.sleep(1.1)
    assert browser.get("/accounts/profile/").status_code == 302
