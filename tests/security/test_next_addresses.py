"""A `next` address a form carries is followed only when it is on this site;
anything else falls back to the page's own default, never a 500 (found by
posting hostile values to every form: "-1" or "99999" made `redirect()`
look for a view of that name)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from lms.redirects import on_this_site
from tests.learning.content_world import world  # noqa: F401  (fixture)


@pytest.mark.parametrize(
    ("url", "secure", "expected"),
    [
        ("/decks/3/", False, "/decks/3/"),
        ("/decks/3/?q=1#top", True, "/decks/3/?q=1#top"),
        ("http://testserver/decks/", False, "http://testserver/decks/"),
        ("https://testserver/decks/", True, "https://testserver/decks/"),
        ("http://testserver/decks/", True, ""),  # from https to http
        ("https://evil.example/", False, ""),
        ("//evil.example/", False, ""),
        ("-1", False, ""),
        ("99999999999999999999", False, ""),
        ("home", False, ""),  # a view's name is not an address
        ("decks/3/", False, ""),
        ("", False, ""),
        (None, False, ""),
    ],
)
def test_on_this_site(url, secure, expected):
    request = RequestFactory().get("/", secure=secure)
    assert on_this_site(request, url) == expected


@pytest.mark.parametrize("nxt", ["-1", "99999999999999999999", "home", "\u00e9\u00e9"])
def test_moving_with_a_next_that_is_not_an_address_goes_home(client_for, teacher, world, nxt):  # noqa: F811
    response = client_for(teacher).post(f"/decks/{world.deck.pk}/move/", {"direction": "down", "next": nxt})
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize("page", ["-1", "0", "home"])
def test_feedback_with_a_page_that_is_not_an_address_goes_to_my_feedback(client_for, student, page):
    response = client_for(student).post("/feedback/", {"type": "bug", "message": "It broke", "page_url": page})
    assert response.status_code == 302 and response["Location"] == "/feedback/mine/"


def test_feedback_from_a_page_goes_back_to_it(client_for, student):
    response = client_for(student).post("/feedback/", {"type": "bug", "message": "It broke", "page_url": "/decks/"})
    assert response.status_code == 302 and response["Location"] == "/decks/"
