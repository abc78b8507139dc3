"""base.html's URLs and the navigation links are reversed once per process:
the cached answer still follows the script prefix and the URLconf."""

from __future__ import annotations

from django.urls import reverse, set_script_prefix

from lms.templatetags.lms_tags import cached_url


def test_a_cached_url_is_what_reverse_gives() -> None:
    for name in ("home", "profile", "logout", "learning:dashboard", "ops:dashboard"):
        assert cached_url(name) == reverse(name)
    assert cached_url("no-such-page") is None


def test_a_cached_url_follows_the_script_prefix() -> None:
    assert cached_url("profile") == "/accounts/profile/"
    set_script_prefix("/lms/")
    try:
        assert cached_url("profile") == "/lms/accounts/profile/"
    finally:
        set_script_prefix("/")
    assert cached_url("profile") == "/accounts/profile/"


def test_a_cached_url_follows_a_swapped_urlconf(settings) -> None:
    assert cached_url("test-only") is None
    settings.ROOT_URLCONF = "tests.lms.nav_urls"
    assert cached_url("test-only") == "/only-in-this-urlconf/"
