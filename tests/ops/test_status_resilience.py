"""The public status page stays up: cached whole for anonymous visitors,
dropped at once when what it shows changes, served from its last good copy
when the database is down, with the watchdog's outage state on top."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.signals import template_rendered
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ops import services, status_page
from ops.models import HealthProbe

ROOT = Path(__file__).resolve().parents[2]


def probes(status: str = "healthy") -> None:
    now = timezone.now()
    HealthProbe.objects.bulk_create(
        HealthProbe(component=c, status=status, latency_ms=1, checked_at=now) for c in status_page_components()
    )


def status_page_components() -> list[str]:
    return [c.value for c in HealthProbe.Component]


def write_state(path: Path, components: dict, *, age_seconds: float = 0) -> None:
    path.write_text(json.dumps({"components": components}))
    if age_seconds:
        stamp = time.time() - age_seconds
        os.utime(path, (stamp, stamp))


def test_the_anonymous_page_sets_no_cookie_and_is_public() -> None:
    probes()
    response = Client().get("/status/")
    assert response.status_code == 200
    assert not response.cookies  # no csrftoken, no session
    assert response["Cache-Control"].startswith("public")


def test_the_anonymous_page_is_served_whole_from_the_cache(django_assert_max_num_queries) -> None:
    probes()
    client = Client()
    first = client.get("/status/").content
    with django_assert_max_num_queries(0):  # no probe, incident or uptime read: the rendered page
        again = client.get("/status/")
    assert again.content == first


def test_an_incident_and_its_updates_show_at_once(admin) -> None:
    probes()
    client = Client()
    assert b"Database unreachable" not in client.get("/status/").content
    incident = services.incident_open(
        title="Database unreachable", severity=1, components=["database"], author=admin, public_message="Looking"
    )
    assert b"Database unreachable" in client.get("/status/").content
    services.incident_post_update(incident=incident, user=admin, message="Failover under way", public=True)
    assert b"Failover under way" in client.get("/status/").content
    assert client.get("/api/v1/status/").json()["active_incidents"][0]["title"] == "Database unreachable"


def test_a_maintenance_window_and_a_probe_round_show_at_once(admin) -> None:
    probes()
    client = Client()
    client.get("/status/")
    now = timezone.now()
    services.maintenance_window_create(
        title="Disk swap", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1), user=admin
    )
    assert b"Disk swap" in client.get("/status/").content
    services.run_probes()  # a new round can change the components' status
    assert cache.get(status_page.PAGE_KEY) is None


def test_the_watchdog_outage_state_shows_on_top_when_fresh(settings) -> None:
    probes()
    client = Client()
    state = Path(settings.WATCHDOG_STATE_FILE)
    write_state(state, {"database": {"status": "major_outage", "since": "2026-12-07T01:00:00Z", "message": "refused"}})
    page = client.get("/status/").content.decode()
    assert "Outage reported by our monitoring" in page and "Major outage: refused" in page
    api = client.get("/api/v1/status/").json()
    assert api["outages"]["database"]["status"] == "major_outage"
    write_state(state, {"database": {"status": "major_outage"}}, age_seconds=settings.OPS_WATCHDOG_STATE_MAX_AGE + 5)
    assert "Outage reported" not in client.get("/status/").content.decode()  # stale: the watchdog is gone
    state.write_text("{not json")
    assert client.get("/status/").status_code == 200
    assert client.get("/api/v1/status/").json()["outages"] == {}
    write_state(state, {"cache": {"status": "operational"}})
    assert "Outage reported" not in client.get("/status/").content.decode()


def test_a_failing_render_is_replaced_by_the_last_good_copy(monkeypatch, raw_client) -> None:
    probes()
    raw_client.get("/status/")  # the good render writes the copy
    raw_client.get("/api/v1/status/")
    status_page.forget()

    def down(*args: object, **kwargs: object) -> None:
        from django.db import OperationalError

        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("ops.queries.status_page", down)
    page = raw_client.get("/status/")
    assert page.status_code == 200 and b"Live status is unavailable" in page.content
    assert b"Components" in page.content  # the copy itself
    api = raw_client.get("/api/v1/status/")
    assert api.status_code == 200 and api.json()["stale"] is True and "components" in api.json()


def badge(page: str, component: str) -> str:
    """The text of a component's status badge on the page."""
    found = re.search(rf"<!--ops:badge:{component}--><span class=\"badge \w+\">([^<]*)</span>", page)
    assert found, f"no badge for {component}"
    return found[1]


def overall(page: str) -> str:
    found = re.search(r'<!--ops:overall--><div class="card status-banner \w+" role="status">([^<]*)</div>', page)
    assert found, "no overall status"
    return found[1]


def test_the_last_good_copy_shows_the_watchdogs_outage_in_the_badges(monkeypatch, raw_client, settings) -> None:
    """The copy was written while all was well; the watchdog now says the
    database is down: the page's badges and overall status say so, as the API
    does, not only the banner above them."""
    probes()
    good = raw_client.get("/status/").content.decode()
    raw_client.get("/api/v1/status/")
    assert (badge(good, "database"), overall(good)) == ("Operational", "All systems operational")
    status_page.forget()
    write_state(Path(settings.WATCHDOG_STATE_FILE), {"database": {"status": "major_outage", "message": "refused"}})

    def down(*args: object, **kwargs: object) -> None:
        from django.db import OperationalError

        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("ops.queries.status_page", down)
    page = raw_client.get("/status/").content.decode()
    assert "Live status is unavailable" in page and "Major outage: refused" in page
    assert badge(page, "database") == "Major outage"
    assert badge(page, "cache") == "Operational"  # only what the watchdog reports changes
    assert overall(page) == "Major outage"
    api = raw_client.get("/api/v1/status/").json()
    assert api["components"]["database"]["status"] == "major_outage" and api["status"] == "major_outage"


def test_the_live_page_shows_the_watchdogs_outage_in_the_badges(settings) -> None:
    probes()
    client = Client()
    client.get("/status/")  # cached whole while all is well
    write_state(Path(settings.WATCHDOG_STATE_FILE), {"workers": {"status": "major_outage"}})
    page = client.get("/status/").content.decode()
    api = client.get("/api/v1/status/").json()
    assert badge(page, "workers") == "Major outage" and badge(page, "database") == "Operational"
    assert overall(page) == status_page.status_label(api["status"]) == "Partial outage"
    Path(settings.WATCHDOG_STATE_FILE).unlink()
    assert badge(client.get("/status/").content.decode(), "workers") == "Operational"


def test_without_a_copy_the_api_answers_json_503(monkeypatch, raw_client) -> None:
    def down(*args: object, **kwargs: object) -> None:
        from django.db import OperationalError

        raise OperationalError("down")

    monkeypatch.setattr("ops.queries.status_page", down)
    api = raw_client.get("/api/v1/status/")
    assert api.status_code == 503 and api.json()["error"]["code"] == "status_unavailable"
    page = raw_client.get("/status/")
    assert page.status_code == 200 and b"Live status is unavailable" in page.content


OUTAGE = """
import django, os, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
django.setup()
from django.core.cache import cache
from django.test import Client
out = []
for cookies in ({}, {"sessionid": "x" * 32}):
    client = Client(raise_request_exception=False)
    client.cookies.load(cookies)
    for url in ("/status/", "/api/v1/status/"):
        r = client.get(url)
        out.append({"url": url, "signed_in": bool(cookies), "status": r.status_code,
                    "type": r["Content-Type"], "body": r.content.decode()[:200000]})
print(json.dumps(out))
"""


def test_with_the_database_really_down_the_page_and_api_answer_200(settings, tmp_path: Path) -> None:
    probes()
    Client().get("/status/")
    Client().get("/api/v1/status/")
    write_state(Path(settings.WATCHDOG_STATE_FILE), {"database": {"status": "major_outage", "message": "refused"}})
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",  # nothing listens there
        "LMS_TESTING": "1",
        "OPS_STATUS_SNAPSHOT_DIR": str(settings.OPS_STATUS_SNAPSHOT_DIR),
        "WATCHDOG_STATE_FILE": str(settings.WATCHDOG_STATE_FILE),
    }
    result = subprocess.run(
        [sys.executable, "-c", OUTAGE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    for row in rows:
        assert row["status"] == 200, (row["url"], row["signed_in"], row["body"][:300])
        if row["url"] == "/api/v1/status/":
            body = json.loads(row["body"])
            assert row["type"] == "application/json" and body["stale"] is True
            assert body["outages"]["database"]["message"] == "refused"
            # The components say it too, not only `outages` (the drill: "database: operational").
            assert body["components"]["database"]["status"] == "major_outage"
            assert body["status"] == "major_outage"
        else:
            assert "Live status is unavailable" in row["body"] and "Major outage: refused" in row["body"]
            assert badge(row["body"], "database") == "Major outage"


def test_the_cached_page_is_served_without_a_query_or_a_template() -> None:
    # Issue #15's status goal is measured by bench.pages / bench.load (a ratio
    # to the trivial endpoint); here, what makes it cheap: a repeat view of the
    # anonymous page is one cache read, with no query and nothing rendered.
    probes()
    client = Client()
    assert client.get("/status/").status_code == 200
    rendered: list[str] = []

    def on_render(sender: object, template: object, **_: object) -> None:
        rendered.append(str(getattr(template, "name", template)))

    template_rendered.connect(on_render)
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/status/")
    finally:
        template_rendered.disconnect(on_render)
    assert response.status_code == 200 and b"<h1" in response.content
    assert [q["sql"] for q in queries.captured_queries] == []
    assert rendered == []


@pytest.mark.parametrize("content", ["", "[]", '{"components": "x"}', '{"db": 3}'])
def test_odd_watchdog_files_are_ignored(settings, content: str) -> None:
    Path(settings.WATCHDOG_STATE_FILE).write_text(content)
    assert status_page.outage_state() == {}


DOWN_REQUESTS = """
import django, os, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
django.setup()
from django.conf import settings
from django.test import Client
settings.DEBUG = False  # production's error handlers, not the debug page
out = []
for path, headers in (
    ("/api/v1/study-sessions/1/next/", {"HTTP_AUTHORIZATION": "Token " + "a" * 40}),
    ("/api/v1/decks/", {"HTTP_AUTHORIZATION": "Token " + "b" * 40}),
    ("/", {"sessionid": "x" * 32}),
):
    client = Client(raise_request_exception=False)
    if "sessionid" in headers:
        client.cookies.load(headers)
        headers = {}
    r = client.get(path, **headers)
    out.append({"path": path, "status": r.status_code, "type": r["Content-Type"],
                "retry": r.get("Retry-After"), "body": r.content.decode()[:2000]})
print(json.dumps(out))
"""


def test_with_the_database_really_down_requests_answer_503_not_500() -> None:
    """The drill: with PostgreSQL stopped every study call answered 500 (the
    maintenance switch's read failed in a middleware, before DRF)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere", "LMS_TESTING": "1"}
    result = subprocess.run(
        [sys.executable, "-c", DOWN_REQUESTS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    rows = {row["path"]: row for row in json.loads(result.stdout.strip().splitlines()[-1])}
    for path in ("/api/v1/study-sessions/1/next/", "/api/v1/decks/"):
        row = rows[path]
        assert (row["status"], row["type"], row["retry"]) == (503, "application/json", "30"), row
        assert json.loads(row["body"])["error"]["code"] == "service_unavailable"
    page = rows["/"]
    assert page["status"] == 503 and page["retry"] == "30" and "Briefly unavailable" in page["body"], page
