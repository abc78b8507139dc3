"""The watchdog: bounded checks against hung and closed ports, the journal
replayed with real times after a database outage, incidents through
detection's services, direct notices and the outage-state file."""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.db import connections

from ops import health, watchdog
from ops.models import HealthProbe, Incident
from tests.ports import closed_port

CLOSED_PORT = closed_port()


@pytest.fixture(autouse=True)
def _seeded_rules() -> None:
    """The data migrations' rules (a transactional test elsewhere may have flushed them)."""
    importlib.import_module("ops.migrations.0002_seed_rules_and_schedules").seed(apps, None)
    importlib.import_module("ops.migrations.0015_watchdog_rules_and_expiring_beat_jobs").seed(apps, None)


@pytest.fixture(autouse=True)
def _watchdog_files(settings, tmp_path: Path) -> None:
    settings.WATCHDOG_STATE_FILE = str(tmp_path / "state.json")
    settings.WATCHDOG_WEB_URL = ""
    settings.OPS_BEAT_HEARTBEAT_FILE = str(tmp_path / "beat-heartbeat")
    settings.OPS_INCIDENT_WEBHOOK_URL = ""
    settings.WATCHDOG_PING_URL = ""


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[watchdog.Journal]:
    j = watchdog.Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


@pytest.fixture
def hung_server() -> Iterator[int]:
    """Accepts connections and never says a word (a hung Redis or PostgreSQL)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


# --- Checks with their own timeouts ---------------------------------------------------------


def test_a_hung_redis_costs_one_short_timeout(hung_server: int) -> None:
    started = time.monotonic()
    result = watchdog._redis_ping("cache", f"redis://127.0.0.1:{hung_server}/0", 0.5)
    assert result.status == health.UNHEALTHY and "imeout" in result.message
    assert time.monotonic() - started < 1  # one try, not redis-py's default retries


def test_a_hung_postgresql_costs_its_connect_timeout(hung_server: int) -> None:
    config = {"NAME": "lms", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": hung_server}
    started = time.monotonic()
    result = watchdog.check_database(1, config=config, vendor="postgresql")
    assert result.status == health.UNHEALTHY
    assert time.monotonic() - started < 4  # libpq's minimum connect_timeout is 2 s


def test_closed_ports_are_unhealthy_at_once() -> None:
    config = {"NAME": "lms", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": CLOSED_PORT}
    started = time.monotonic()
    assert watchdog.check_database(1, config=config, vendor="postgresql").status == health.UNHEALTHY
    assert watchdog._redis_ping("broker", f"redis://127.0.0.1:{CLOSED_PORT}/0", 1).status == health.UNHEALTHY
    assert time.monotonic() - started < 2


def test_a_check_with_no_timeout_of_its_own_is_abandoned_by_the_backstop() -> None:
    release = threading.Event()

    def stuck() -> health.ComponentHealth:
        release.wait(10)
        return health.ComponentHealth("workers", health.HEALTHY, 0.0)

    started = time.monotonic()
    result = watchdog.bounded("workers", stuck, 0.2)
    release.set()
    assert result.status == health.UNHEALTHY and "hung" in result.message
    assert time.monotonic() - started < 2


def test_workers_are_not_pinged_through_a_dead_broker(settings) -> None:
    from lms.celery import app

    app.conf.task_always_eager = False  # restored by the autouse isolation fixture
    result = watchdog.check_workers(1, broker_ok=False)
    assert result.status == health.UNHEALTHY and "broker" in result.message


@pytest.mark.redis
def test_no_worker_answering_a_real_broker_is_unhealthy(settings) -> None:
    import os

    from lms.celery import app

    settings.CELERY_BROKER_URL = os.environ["REDIS_URL"]
    app.conf.task_always_eager = False
    app.conf.broker_url = os.environ["REDIS_URL"]
    try:
        assert watchdog.check_broker(1).status == health.HEALTHY
        result = watchdog.bounded("workers", lambda: watchdog.check_workers(1), 1)
    finally:
        app.conf.broker_url = "memory://localhost/"
    assert result.status == health.UNHEALTHY and "no Celery worker" in result.message


# --- A database outage, journalled and replayed ------------------------------------------------


@pytest.fixture
def database_down() -> Iterator[callable]:
    """Point the watchdog's database check at nothing (a closed port on
    PostgreSQL, a file in a missing folder on SQLite), the real way it fails."""
    config = connections["default"].settings_dict
    saved = dict(config)

    def down(is_down: bool) -> None:
        config.clear()
        config.update(saved)
        if is_down:
            if connections["default"].vendor == "postgresql":
                config["PORT"] = CLOSED_PORT
                config["HOST"] = "127.0.0.1"
            else:
                config["NAME"] = "/nonexistent-folder/db.sqlite3"

    yield down
    config.clear()
    config.update(saved)


def test_an_outage_is_journalled_then_written_with_real_times_and_opens_one_incident(
    journal: watchdog.Journal, database_down, admin, settings, django_capture_on_commit_callbacks
) -> None:
    admin.email = "ada@example.com"
    admin.save(update_fields=["email"])
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)

    first = watchdog.run_cycle(journal=journal, now=t0)  # all well: recipients remembered
    assert first.database_written and not first.notified
    assert HealthProbe.objects.filter(component="database", checked_at=t0, status="healthy").exists()

    database_down(True)
    for step in range(1, 5):  # four cycles, 30 s apart, the database unreachable
        report = watchdog.run_cycle(journal=journal, now=t0 + timedelta(seconds=30 * step))
        assert report.results["database"].status == health.UNHEALTHY and not report.database_written
    state = json.loads(Path(settings.WATCHDOG_STATE_FILE).read_text())
    assert state["database_reachable"] is False
    assert state["components"]["database"]["status"] == "major_outage"
    assert state["components"]["database"]["since"] == (t0 + timedelta(seconds=30)).isoformat()
    assert state["components"]["cache"]["status"] == "operational"
    # Nothing reached the database, and on-call heard it directly, once.
    assert HealthProbe.objects.filter(component="database").count() == 1
    assert Incident.objects.count() == 0
    [notice] = mail.outbox
    assert notice.to == ["ada@example.com"] and "DOWN: database" in notice.subject

    database_down(False)
    back = t0 + timedelta(seconds=150)
    with django_capture_on_commit_callbacks(execute=True):
        report = watchdog.run_cycle(journal=journal, now=back)
    assert report.database_written and report.replayed_cycles == 5
    failing = list(
        HealthProbe.objects.filter(component="database", status="unhealthy")
        .order_by("checked_at")
        .values_list("checked_at", flat=True)
    )
    assert failing == [t0 + timedelta(seconds=30 * s) for s in range(1, 5)]  # their real times
    [incident] = Incident.objects.filter(rule__slug="probe-database")
    assert incident.severity == 1 and incident.is_open
    assert incident.triggered_at == t0 + timedelta(seconds=60)  # when detection would have opened it
    assert incident.last_fired_at == t0 + timedelta(seconds=120)
    assert Incident.objects.count() == 1
    # Recovered: said directly (the incident mails were paused for the past cycles).
    assert len(mail.outbox) == 2 and "recovered: database" in mail.outbox[1].subject
    assert not journal.pending()

    # Detection's rule resolves it once the condition has been clear for clear_minutes.
    later = watchdog.run_cycle(journal=journal, now=incident.last_fired_at + timedelta(minutes=10, seconds=5))
    assert later.actions["probe-database"] == ["resolved"]
    incident.refresh_from_db()
    assert not incident.is_open


def test_a_second_watchdog_cycle_writes_nothing_twice(journal: watchdog.Journal) -> None:
    now = datetime.now(UTC)
    watchdog.run_cycle(journal=journal, now=now - timedelta(seconds=30))
    watchdog.run_cycle(journal=journal, now=now)
    assert HealthProbe.objects.filter(component="database").count() == 2
    assert not journal.pending()


def test_beat_without_a_heartbeat_opens_an_incident_and_recovers(
    journal: watchdog.Journal, settings, django_capture_on_commit_callbacks
) -> None:
    from lms.celery import app
    from ops import heartbeat

    app.conf.task_always_eager = False  # "production": beat is expected
    settings.CELERY_BROKER_URL = "memory://localhost/"
    settings.REDIS_URL = ""
    settings.WATCHDOG_TIMEOUT_SECONDS = 0.2  # no worker answers the in-memory broker's ping
    now = datetime.now(UTC)
    heartbeat.beat(now=time.time() - 600)  # beat died ten minutes ago
    report = watchdog.run_cycle(journal=journal, now=now)
    assert report.results["beat"].status == health.UNHEALTHY
    assert report.actions.get("beat-heartbeat") == ["opened"]
    [incident] = Incident.objects.open().filter(rule__slug="beat-heartbeat")
    assert incident.components == ["workers"] and incident.severity == 2

    heartbeat.beat()
    report = watchdog.run_cycle(journal=journal, now=now + timedelta(minutes=11))
    assert report.results["beat"].status == health.HEALTHY
    assert report.actions.get("beat-heartbeat") == ["resolved"]


def test_the_command_runs_one_cycle(settings, tmp_path: Path) -> None:
    from io import StringIO

    out = StringIO()
    call_command("watchdog", "--once", "--journal", str(tmp_path / "j.sqlite3"), stdout=out)
    assert "database=healthy" in out.getvalue() and "db_written=True" in out.getvalue()
    assert json.loads(Path(settings.WATCHDOG_STATE_FILE).read_text())["database_reachable"] is True


def test_dead_mans_switch_is_pinged_each_cycle(journal: watchdog.Journal, settings) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    settings.WATCHDOG_PING_URL = f"http://127.0.0.1:{server.server_address[1]}/ping/abc"
    try:
        assert watchdog.run_cycle(journal=journal).pinged
    finally:
        thread.join(2)
        server.server_close()
    assert hits == ["/ping/abc"]


def test_with_celery_down_the_incident_opens_and_on_call_hears_directly(
    journal: watchdog.Journal, settings, django_capture_on_commit_callbacks
) -> None:
    """No worker answers: detection's probe-workers rule opens through the
    watchdog's pass, and since Celery cannot deliver the notification the
    watchdog mails and posts the webhook itself."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from lms.celery import app

    posts: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    server.timeout = 0.5
    thread = threading.Thread(target=lambda: [server.handle_request() for _ in range(2)], daemon=True)
    thread.start()
    app.conf.task_always_eager = False  # production: a broker (in memory here) and no worker
    settings.WATCHDOG_TIMEOUT_SECONDS = 0.2
    settings.OPS_ONCALL_EMAILS = ["pager@example.com"]
    settings.OPS_INCIDENT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings.OPS_BEAT_STALE_SECONDS = 10**9  # beat is not what this test is about
    from ops import heartbeat

    heartbeat.beat()
    now = datetime.now(UTC)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = watchdog.run_cycle(journal=journal, now=now - timedelta(seconds=30))
            second = watchdog.run_cycle(journal=journal, now=now)
    finally:
        app.conf.task_always_eager = True
        thread.join(3)
        server.server_close()
    assert first.results["workers"].status == health.UNHEALTHY
    assert second.actions["probe-workers"] == ["opened"]
    [incident] = Incident.objects.open().filter(rule__slug="probe-workers")
    assert incident.severity == 1
    [notice] = mail.outbox  # once, from the watchdog: not again on the second cycle
    assert notice.to == ["pager@example.com"] and "DOWN: workers" in notice.subject
    assert len(posts) == 1 and "workers" in posts[0]["text"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_postgresql_drops_its_connection_the_next_cycle_reconnects(journal: watchdog.Journal) -> None:
    """A database restart kills the watchdog's long-lived Django connection;
    a process without requests must drop it itself (as Django does per request)."""
    import psycopg

    connection = connections["default"]
    watchdog.run_cycle(journal=journal, now=datetime.now(UTC) - timedelta(seconds=30))
    pid = connection.connection.info.backend_pid
    config = connection.settings_dict
    with psycopg.connect(
        dbname=config["NAME"],
        user=config["USER"],
        password=config["PASSWORD"] or None,
        host=config["HOST"],
        port=config["PORT"],
    ) as admin_conn:
        admin_conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    report = watchdog.run_cycle(journal=journal)
    assert report.database_written
    assert HealthProbe.objects.filter(component="database").count() == 2
    assert connection.connection.info.backend_pid != pid


def test_the_new_rules_link_their_runbooks() -> None:
    from types import SimpleNamespace

    from django.db import connection

    from ops.models import DetectionRule

    def execute(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    editor = SimpleNamespace(connection=connection, execute=execute)  # what RunPython passes, enough of it
    importlib.import_module("ops.migrations.0015_watchdog_rules_and_expiring_beat_jobs").link_runbooks(apps, editor)
    for slug in ("probe-web", "probe-broker", "beat-heartbeat"):
        rule = DetectionRule.objects.select_related("runbook").get(slug=slug)
        assert rule.runbook is not None and slug in rule.runbook.body, slug
