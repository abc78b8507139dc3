"""Bodies and methods a client may send that the API did not expect: an
answer in the error shape, never a 500 (found by schemathesis against the
OpenAPI schema)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.learning.content_world import world  # noqa: F401  (fixture)


def _api_routes() -> list[str]:
    """Every route under /api/v1/, its path arguments filled with 1."""
    out: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                out.append(route)

    walk(get_resolver().url_patterns, "")
    filled = set()
    for route in out:
        path = re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>", "1", route)  # a router's regex groups, a path's converters
        path = path.replace("^", "").replace("$", "").replace("\\Z", "")
        if "(" not in path and "\\." not in path:  # format-suffix variants are the same views
            filled.add("/" + path)
    return sorted(filled)


ROUTES = _api_routes()


def test_the_walk_finds_the_api():
    assert len(ROUTES) > 60
    assert "/api/v1/study-sessions/1/override/" in ROUTES


@pytest.mark.parametrize("who", ["admin", "teacher", "student"])
def test_options_on_every_api_route_answers_without_a_500(request, api_for, who):
    api = api_for(request.getfixturevalue(who))
    failures = {url: status for url in ROUTES if (status := api.options(url).status_code) >= 500}
    assert failures == {}


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "learn", "scope_type": {}, "scope_id": 1},
        {"mode": "learn", "scope_type": ["deck"], "scope_id": 1},
        {"mode": "learn", "scope": {"type": {}, "id": 1}},
    ],
)
def test_a_session_start_with_a_scope_type_that_is_not_a_string_is_a_400(api_for, student, body):
    response = api_for(student).post("/api/v1/study-sessions/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("body", [[None, None], "review", 7])
def test_an_override_whose_body_is_not_an_object_names_no_review(api_for, student, body):
    response = api_for(student).post("/api/v1/study-sessions/1/override/", body, format="json")
    assert response.status_code in (404, 422), response.content
    assert "error" in response.json()
