"""No input reaches a 500: NUL bytes, lone surrogates, deep JSON and oversized
strings are a 400 in the error shape (a 400 page for pages), and write nothing.

Every example from issue #13. On PostgreSQL each of these was a 500 (it cannot
store or even compare a NUL); on SQLite the guard answers the same 400, so the
tests run on both.
"""

from __future__ import annotations

import json

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client

from analytics.models import Event
from learning.models import Classroom
from lms.inputs import json_depth
from lms.models import User
from tests.learning.content_world import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

NUL_API_GETS = [
    ("student", "/api/v1/cards/?q=a%00b"),
    ("student", "/api/v1/cards/?tag=a%00b"),
    ("student", "/api/v1/study-sessions/?mode=a%00b"),
    ("student", "/api/v1/study-sessions/?status=a%00b"),
    ("student", "/api/v1/cards/?a%00b=1"),
    ("admin", "/api/v1/analytics/events/?name=a%00b"),
    ("admin", "/api/v1/analytics/events/?session=a%00b"),
    ("admin", "/api/v1/analytics/session/a%00b/"),
    ("admin", "/api/v1/kb/?q=%00"),
]


def _assert_error_shape(response, code: str = "invalid_characters") -> dict:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    return body


@pytest.mark.parametrize(("who", "url"), NUL_API_GETS)
def test_nul_in_an_api_query_or_path_is_a_400_in_the_error_shape(request, api_for, who, url) -> None:
    body = _assert_error_shape(api_for(request.getfixturevalue(who)).get(url))
    assert body["error"]["details"]["field"]


@pytest.mark.parametrize(
    ("who", "url"),
    [
        ("student", "/join/a%00b/"),
        ("teacher", "/decks/{deck}/?q=a%00b"),
        ("admin", "/analytics/sessions/%00/"),
        (None, "/accounts/login/?next=%00"),
    ],
)
def test_nul_in_a_page_url_is_the_400_page(request, client_for, world, who, url) -> None:  # noqa: F811
    user = request.getfixturevalue(who) if who else None
    response = client_for(user).get(url.format(deck=world.deck.pk))
    assert response.status_code == 400
    assert b"Bad request" in response.content
    assert b"cannot be stored" in response.content


def test_nul_in_a_browser_event_property_writes_no_event(api_for, student, settings) -> None:
    settings.ANALYTICS_ENABLED = True
    events = {"events": [{"name": "card_flipped", "properties": {"side": "x\u0000y"}}]}
    _assert_error_shape(api_for(student).post("/api/v1/analytics/events/", events, format="json"))
    assert not Event.objects.exists()
    # The same batch without the NUL is accepted: the guard refused the character, nothing else.
    events["events"][0]["properties"]["side"] = "xy"
    assert api_for(student).post("/api/v1/analytics/events/", events, format="json").status_code == 201


def test_a_lone_surrogate_in_json_is_a_400_and_writes_nothing(api_for, teacher) -> None:
    response = api_for(teacher).generic(
        "POST", "/api/v1/classrooms/", '{"name": "Bio \\ud800"}', content_type="application/json"
    )
    _assert_error_shape(response)
    # A proper pair (an emoji written as two escapes) is fine.
    ok = api_for(teacher).generic(
        "POST", "/api/v1/classrooms/", '{"name": "Bio \\ud83e\\uddec"}', content_type="application/json"
    )
    assert ok.status_code == 201
    assert list(Classroom.objects.values_list("name", flat=True)) == ["Bio \U0001f9ec"]


def test_nul_in_a_json_key_is_refused(api_for, teacher) -> None:
    response = api_for(teacher).post("/api/v1/classrooms/", {"name": "Bio", "x\u0000": 1}, format="json")
    _assert_error_shape(response)
    assert not Classroom.objects.exists()


@pytest.mark.parametrize(
    ("who", "url"),
    [
        (None, "/api/v1/auth/token/"),
        ("student", "/api/v1/analytics/events/"),
        ("teacher", "/api/v1/classrooms/"),
        ("student", "/api/v1/study-sessions/"),
        ("admin", "/api/v1/analytics/funnel/"),
        ("admin", "/api/v1/incidents/"),
    ],
)
def test_deeply_nested_json_is_a_400_on_every_json_endpoint(request, api_for, who, url) -> None:
    user = request.getfixturevalue(who) if who else None
    response = api_for(user).generic("POST", url, "[" * 100_000, content_type="application/json")
    _assert_error_shape(response, "too_deep")


def test_json_at_the_depth_limit_passes_the_guard(api_for, teacher, settings) -> None:
    settings.INPUT_MAX_JSON_DEPTH = 3
    shallow = json.dumps({"name": "Bio", "description": "[[[[[[ not nesting ]]]]]"})
    assert (
        api_for(teacher).generic("POST", "/api/v1/classrooms/", shallow, content_type="application/json").status_code
        == 201
    )
    deep = json.dumps({"name": "Bio", "x": [[[1]]]})
    _assert_error_shape(
        api_for(teacher).generic("POST", "/api/v1/classrooms/", deep, content_type="application/json"), "too_deep"
    )


def test_the_api_parser_turns_a_recursion_error_into_a_400(api_for, teacher, settings) -> None:
    # With the guard's limit out of the way, DRF's parser meets the raw nesting itself.
    settings.INPUT_MAX_JSON_DEPTH = 10**9
    response = api_for(teacher).generic("POST", "/api/v1/classrooms/", "[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth('{"a": "[[[[{{{{"}') == 1
    assert json_depth('[["\\"]]]"]]') == 2
    assert json_depth("[" * 1000) == 1000
    assert json_depth("3") == 0


def test_nul_in_the_login_form_is_the_400_page_and_records_no_attempt(client_for) -> None:
    response = client_for(None).post("/accounts/login/", {"username": "ad\x00min", "password": "x"})
    assert response.status_code == 400
    assert not AccessAttempt.objects.exists()
    assert not AccessFailureLog.objects.exists()


def test_nul_in_a_sign_up_form_creates_no_user() -> None:
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "n@example.com",
            "first_name": "N\x00",
            "role": "student",
            "timezone": "UTC",
            "password1": "a-long-pass-123",
            "password2": "a-long-pass-123",
        },
    )
    assert response.status_code == 400
    assert not User.objects.filter(username="newbie").exists()


def test_an_oversized_string_is_a_400_anywhere(api_for, client_for, teacher, settings) -> None:
    settings.INPUT_MAX_STRING_CHARS = 1000
    response = api_for(teacher).post("/api/v1/classrooms/", {"name": "Bio", "description": "x" * 1001}, format="json")
    _assert_error_shape(response, "too_long")
    _assert_error_shape(api_for(teacher).get("/api/v1/cards/?q=" + "x" * 1001), "too_long")
    page = client_for(teacher).post("/classes/new/", {"name": "Bio", "description": "x" * 1001})
    assert page.status_code == 400
    assert not Classroom.objects.exists()


def test_a_normal_request_passes_untouched(api_for, teacher) -> None:
    response = api_for(teacher).post("/api/v1/classrooms/", {"name": "Biology", "description": "Cells"}, format="json")
    assert response.status_code == 201


@pytest.mark.postgres
def test_postgres_could_not_have_stored_these(on_postgres) -> None:
    """Why the guard exists: the database itself refuses a NUL (a 500 if it got there)."""
    from django.db import DataError, transaction

    with pytest.raises((DataError, ValueError)), transaction.atomic():
        Classroom.objects.filter(name="a\x00b").exists()


def _import(api, teacher_file_name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(teacher_file_name, content)
    return api.post("/api/v1/decks/import/", {"file": upload, "skip_invalid": "true"}, format="multipart")


def test_an_imported_card_with_a_nul_is_a_row_error_not_a_500(api_for, teacher) -> None:
    from learning.models import Card

    response = _import(api_for(teacher), "deck.csv", b"cell;membrane\nnu\x00cleus;core\n")
    assert response.status_code == 201, response.content
    assert [row["line"] for row in response.json()["skipped"]] == [2]
    assert list(Card.objects.values_list("front", flat=True)) == ["cell"]


def test_an_imported_deck_title_and_description_are_cleaned_and_bounded(api_for, teacher) -> None:
    from learning.models import Deck

    doc = {"deck": {"title": "Bio\u0000logy", "description": "d" * 9000}, "cards": [{"front": "a", "back": "b"}]}
    response = _import(api_for(teacher), "deck.json", json.dumps(doc).encode())
    assert response.status_code == 201, response.content
    deck = Deck.objects.get()
    assert deck.title == "Biology"
    assert len(deck.description) == 5000


def test_a_deeply_nested_json_import_file_is_a_400(api_for, teacher) -> None:
    response = _import(api_for(teacher), "deck.json", b"[" * 100_000)
    assert response.status_code == 400
    assert response.json()["error"]["code"] != "server_error"
