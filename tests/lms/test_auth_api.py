from __future__ import annotations

import pytest

from lms.models import User
from tests.factories import UserFactory

TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/auth/me/"


@pytest.fixture
def sam() -> User:
    return UserFactory(username="sam", role=User.Role.STUDENT)


def test_token_for_right_credentials_then_me_returns_role(api_for, sam):
    client = api_for(None)
    response = client.post(TOKEN_URL, {"username": "sam", "password": "demo-pass-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]

    me = client.get(ME_URL, HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200
    assert me.json()["username"] == "sam"
    assert me.json()["role"] == "student"


def test_each_log_in_returns_a_new_token(api_for, sam):
    client = api_for(None)
    first = client.post(TOKEN_URL, {"username": "sam", "password": "demo-pass-123"}, format="json").json()
    second = client.post(TOKEN_URL, {"username": "sam", "password": "demo-pass-123"}, format="json").json()
    assert first["token"] != second["token"]


def test_wrong_password_is_a_400_in_the_error_shape(api_for, sam):
    response = api_for(None).post(TOKEN_URL, {"username": "sam", "password": "nope-nope"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "Unable to log in" in error["message"]


def test_missing_fields_list_each_field(api_for):
    response = api_for(None).post(TOKEN_URL, {}, format="json")
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert set(details) == {"username", "password"}


def test_malformed_json_is_a_parse_error(api_for):
    response = api_for(None).post(TOKEN_URL, data='{"username": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_wrong_content_type_is_415(api_for):
    response = api_for(None).post(TOKEN_URL, data="username=sam", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_me_without_credentials_is_401(api_for):
    response = api_for(None).get(ME_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_bad_token_is_401(api_for):
    response = api_for(None).get(ME_URL, HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_unknown_api_url_is_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_user_throttle_returns_429_with_retry_after(api_for, sam, settings):
    from rest_framework.throttling import UserRateThrottle

    UserRateThrottle.THROTTLE_RATES = {**UserRateThrottle.THROTTLE_RATES, "user": "3/minute"}
    try:
        client = api_for(sam)
        statuses = [client.get(ME_URL).status_code for _ in range(4)]
        response = client.get(ME_URL)
    finally:
        from rest_framework.settings import api_settings

        UserRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert statuses[:3] == [200, 200, 200]
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"
    assert response.json()["error"]["details"]["retry_after"] > 0
