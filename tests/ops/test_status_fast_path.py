"""An anonymous GET of /status/ is answered from the cached page above most of
the middleware (ops.middleware.StatusFastPathMiddleware): the same response
as the full stack's, still counted and still recorded as a page view."""

from __future__ import annotations

import gzip
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.models import Event
from lms import cache as lms_cache
from ops import services, status_page

pytestmark = pytest.mark.django_db

REQUEST_ID = "fast-path-test"


@pytest.fixture(autouse=True)
def _analytics_on(settings) -> None:
    settings.ANALYTICS_ENABLED = True


def took_fast_path(response: object) -> bool:
    # SessionMiddleware sits below the fast path: a request it answered has no session.
    return not hasattr(response.wsgi_request, "session")  # type: ignore[attr-defined]


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_the_fast_path_answers_exactly_as_the_full_stack(probed, secure: bool) -> None:
    client = Client(HTTP_X_REQUEST_ID=REQUEST_ID)
    assert cache.get(status_page.PAGE_KEY) is None
    full = client.get("/status/", secure=secure)  # a miss: the view renders and caches the page
    fast = client.get("/status/", secure=secure)
    assert not took_fast_path(full) and took_fast_path(fast)
    assert fast.status_code == full.status_code == 200
    assert dict(fast.headers) == dict(full.headers)
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert header in fast.headers
    assert fast["X-Request-ID"] == REQUEST_ID and fast["Cache-Control"].startswith("public")
    assert fast.content == full.content
    assert not fast.cookies and not full.cookies


def test_both_record_the_same_page_view(probed) -> None:
    client = Client()
    client.get("/status/")
    fast = client.get("/status/")
    assert took_fast_path(fast)
    views = list(Event.objects.filter(name="page_view").order_by("id"))
    assert len(views) == 2
    full_view, fast_view = views
    for event in views:
        assert (event.user_id, event.session_key) == (None, "")
        assert {k: v for k, v in event.properties.items() if k != "duration_ms"} == {"route": "/status/", "status": 200}
    assert fast_view.properties["duration_ms"] >= 0 and full_view.properties["duration_ms"] >= 0


def test_the_fast_path_writes_only_the_page_view(probed) -> None:
    client = Client()
    client.get("/status/")
    with CaptureQueriesContext(connection) as ctx:
        assert took_fast_path(client.get("/status/"))
    # The test's transaction wraps the INSERT in a savepoint; a server runs it alone.
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1 and statements[0].startswith('INSERT INTO "analytics_event"')


def test_global_privacy_control_records_no_page_view_on_the_fast_path(probed) -> None:
    client = Client(HTTP_SEC_GPC="1")
    client.get("/status/")
    assert took_fast_path(client.get("/status/"))
    assert not Event.objects.filter(name="page_view").exists()


def test_the_fast_path_is_counted_in_the_request_metrics(probed, monkeypatch) -> None:
    seen: list[tuple[str, str, int]] = []
    monkeypatch.setattr(
        "ops.metrics.record",
        lambda method, route, duration_ms, status, push=None, also=None: seen.append((method, route, status)) and False,
    )
    client = Client()
    client.get("/status/")
    assert took_fast_path(client.get("/status/"))
    assert seen == [("GET", "/status/", 200)] * 2


def test_signed_in_visitors_and_session_cookies_go_through_the_view(probed, student) -> None:
    Client().get("/status/")  # cached
    signed_in = Client()
    signed_in.force_login(student)
    page = signed_in.get("/status/")
    assert not took_fast_path(page)
    assert page["Cache-Control"].startswith("private") and student.username.encode() in page.content
    stale_cookie = Client()
    stale_cookie.cookies["sessionid"] = "no-such-session"
    assert not took_fast_path(stale_cookie.get("/status/"))


def test_other_methods_go_through_the_view(probed) -> None:
    client = Client()
    client.get("/status/")
    head = client.head("/status/")
    assert not took_fast_path(head) and head.status_code == 405  # require_GET, as before
    assert client.post("/status/").status_code in (403, 405)


def test_an_incident_and_the_maintenance_switch_show_through_the_fast_path(probed, admin) -> None:
    client = Client()
    client.get("/status/")
    services.incident_open(
        title="Queue stuck", severity=2, components=["workers"], author=admin, public_message="Looking"
    )
    assert b"Queue stuck" in client.get("/status/").content  # dropped, rendered again
    again = client.get("/status/")
    assert took_fast_path(again) and b"Queue stuck" in again.content
    services.maintenance_mode_set(on=True, message="Upgrading the database", user=admin)
    client.get("/status/")
    during = client.get("/status/")
    assert took_fast_path(during) and during.status_code == 200
    assert b"Upgrading the database" in during.content or b"maintenance" in during.content.lower()
    events = Event.objects.filter(name="page_view").count()
    client.get("/status/")
    assert Event.objects.filter(name="page_view").count() == events  # no event writes under maintenance


def test_each_process_keeps_its_copy_until_the_version_changes(probed, admin) -> None:
    client = Client()
    client.get("/status/")
    page = status_page.cached_page()
    assert page is not None and status_page.cached_page() is page  # this process's copy, not fetched again
    # Another process opens an incident: it bumps the version in the shared
    # cache and drops the shared page; this process's copy is out of date at once.
    other_version = status_page.page_version()
    services.incident_open(title="Queue stuck", severity=2, components=["workers"], author=admin, public_message="x")
    assert status_page.page_version() != other_version
    assert status_page.cached_page() is None
    shown = client.get("/status/")
    assert not took_fast_path(shown) and b"Queue stuck" in shown.content
    assert took_fast_path(client.get("/status/"))


def test_within_the_recheck_window_the_copy_is_served_without_asking_redis(probed, settings, monkeypatch) -> None:
    settings.OPS_STATUS_RECHECK_MS = 1000
    Client().get("/status/")
    page = status_page.cached_page()  # confirmed against the version now
    asked: list[int] = []
    real = status_page.page_version
    monkeypatch.setattr(status_page, "page_version", lambda: asked.append(1) or real())
    assert status_page.cached_page() is page and asked == []
    # Another process's change shows once the window is over...
    lms_cache.invalidate_at_once(bump={status_page.VERSION_KEY: None})  # another process's change
    monkeypatch.setattr(status_page, "_confirmed_at", time.monotonic() - 1.001)
    assert status_page.cached_page() is None and asked == [1]
    # ...and this process's own change at once.
    Client().get("/status/")
    assert status_page.cached_page() is not None
    status_page.forget()
    assert status_page.cached_page() is None


def test_a_render_that_raced_a_change_is_never_served(probed) -> None:
    Client().get("/status/")
    version = status_page.page_version()
    lms_cache.invalidate_at_once(bump={status_page.VERSION_KEY: None})  # a probe round landed meanwhile
    cache.set(status_page.PAGE_KEY, (version, "<p>stale</p>", time.time()), 30)
    status_page._local = None  # as in a process that has no copy yet
    assert status_page.cached_page() is None
    assert b"stale" not in Client().get("/status/").content


def test_a_copy_older_than_the_cache_time_is_rendered_again(probed, settings) -> None:
    client = Client()
    client.get("/status/")
    page = status_page.cached_page()
    page.rendered_at -= settings.OPS_STATUS_CACHE_SECONDS + 1
    cache.delete(status_page.PAGE_KEY)  # the shared entry's timeout is the same age
    assert status_page.cached_page() is None
    assert not took_fast_path(client.get("/status/"))


def test_an_unreadable_version_is_started_again(probed) -> None:
    cache.set(status_page.VERSION_KEY, "not-a-number", None)
    client = Client()
    client.get("/status/")
    assert isinstance(status_page.page_version(), int)
    assert took_fast_path(client.get("/status/"))


def test_gzip_is_sent_as_compressed_once_per_version(probed) -> None:
    client = Client(HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    full = client.get("/status/")
    fast = client.get("/status/")
    plain = Client().get("/status/")
    assert took_fast_path(fast) and not took_fast_path(full)
    for response in (full, fast):
        assert response["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.content) == plain.content
        assert int(response["Content-Length"]) == len(response.content) < len(plain.content) // 4
    assert "Content-Encoding" not in plain
    for response in (full, fast, plain):
        assert "Accept-Encoding" in response["Vary"] and "Cookie" in response["Vary"]
    page = status_page.cached_page()
    assert page.gzip() is page.gzip()  # compressed once, kept with the copy


def test_with_an_outage_reported_the_page_is_not_sent_from_the_compressed_copy(probed, settings) -> None:
    import json
    from pathlib import Path

    client = Client(HTTP_ACCEPT_ENCODING="gzip")
    client.get("/status/")
    Path(settings.WATCHDOG_STATE_FILE).write_text(json.dumps({"components": {"database": {"status": "major_outage"}}}))
    try:
        shown = client.get("/status/")
        assert took_fast_path(shown) and "Content-Encoding" not in shown
        assert b"Outage reported by our monitoring" in shown.content
    finally:
        Path(settings.WATCHDOG_STATE_FILE).unlink()
