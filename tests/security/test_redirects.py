"""`next` never sends anyone off the site (nor from https down to http)."""

from __future__ import annotations

import pytest

from tests.learning.content_world import world  # noqa: F401
from tests.lms.signup_helpers import confirm_path

pytestmark = pytest.mark.django_db

SIGNUP = {
    "username": "newbie",
    "email": "newbie@example.com",
    "first_name": "New",
    "last_name": "Bie",
    "role": "student",
    "timezone": "UTC",
    "password1": "a-long-Passphrase-9",
    "password2": "a-long-Passphrase-9",
}


def _signup_and_confirm(client, capture, url: str, *, secure: bool = False):
    """Sign up, then follow the emailed link: `next` is honoured there."""
    with capture(execute=True):
        assert client.post(url, SIGNUP, secure=secure).status_code == 200
    return client.post(confirm_path(), secure=secure)


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "https:evil.example", "javascript:alert(1)"],
)
def test_signup_next_refuses_other_sites(client, target: str, django_capture_on_commit_callbacks) -> None:
    response = _signup_and_confirm(client, django_capture_on_commit_callbacks, f"/accounts/signup/?next={target}")
    assert response.status_code == 302
    assert "evil" not in response["Location"] and "javascript" not in response["Location"]


def test_signup_next_over_https_refuses_plain_http(client, django_capture_on_commit_callbacks) -> None:
    response = _signup_and_confirm(
        client, django_capture_on_commit_callbacks, "/accounts/signup/?next=http://testserver/decks/", secure=True
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("http://")


def test_signup_next_on_the_site_is_followed(client, django_capture_on_commit_callbacks) -> None:
    response = _signup_and_confirm(client, django_capture_on_commit_callbacks, "/accounts/signup/?next=/join/ABCDEFGH/")
    assert response["Location"] == "/join/ABCDEFGH/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/"])
def test_login_next_refuses_other_sites(client, student, target: str) -> None:
    from lms.demo import DEMO_PASSWORD

    response = client.post(f"/accounts/login/?next={target}", {"username": student.username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert "evil" not in response["Location"]


def test_move_next_refuses_other_sites(client_for, teacher, world) -> None:  # noqa: F811
    response = client_for(teacher).post(
        f"/courses/{world.course.pk}/move/", {"direction": "up", "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert "evil" not in response["Location"]
