"""The watchdog: watches, from outside, what the service depends on.

`manage.py watchdog` runs `run_cycle()` every WATCHDOG_INTERVAL_SECONDS. It
needs neither the database nor Celery to run:

* each check opens its own connection with a short timeout and runs in a
  thread it waits for at most a little longer, so a hung dependency (a server
  that accepts and never answers) costs one timeout, never the loop;
* every observation goes first into a local journal (a SQLite file,
  WATCHDOG_JOURNAL); while the database is down they wait there and are written
  as `HealthProbe` rows with their real times once it is back;
* when the database answers, each journalled cycle is replayed in order: its
  probes are written and detection's probe rules are evaluated *at that cycle's
  time* (`services.detection_pass(now=…, kinds=…)`), so incidents open, update
  and resolve through the same services and with the times detection would
  have used had it been able to run;
* while the database or Celery is down nobody else can tell anyone, so the
  watchdog mails on-call (Django's mail, short timeout) and posts the incident
  webhook (urllib, timeout) itself when a component goes down or comes back,
  and writes the outage state (WATCHDOG_STATE_FILE) for the status page.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import DatabaseError, InterfaceError, connections, transaction
from django.utils import timezone

from ops import health, heartbeat, notify, services
from ops.health import DEGRADED, HEALTHY, UNHEALTHY, ComponentHealth
from ops.models import DetectionRule, HealthProbe

logger = logging.getLogger(__name__)

# Components written as HealthProbe rows (the status page's); beat is watched
# through its heartbeat and its own detection rule, and shown in the state file.
PROBED = ("web", "database", "cache", "broker", "workers")
WATCHED = (*PROBED, "beat")
TO_STATUS = {HEALTHY: "operational", DEGRADED: "partial_outage", UNHEALTHY: "major_outage"}
# Detection rules the watchdog evaluates (the rest need the request metrics or the worker's host).
RULE_KINDS = {DetectionRule.Kind.PROBE_FAILURE, DetectionRule.Kind.HEARTBEAT}


# --- Checks, each with its own timeout -------------------------------------------------


def bounded(name: str, check: Callable[[], ComponentHealth], timeout: float) -> ComponentHealth:
    """Run a check in a daemon thread and give up after `timeout` (+ 1 s): the
    socket timeouts should end it first, this is the backstop for code paths
    that have none (a Celery ping on a half-open broker connection)."""
    box: list[ComponentHealth] = []
    started = time.perf_counter()
    thread = threading.Thread(target=lambda: box.append(check()), name=f"watchdog-{name}", daemon=True)
    thread.start()
    thread.join(timeout + 1)
    if box:
        return box[0]
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return ComponentHealth(name, UNHEALTHY, elapsed, f"no answer within {timeout + 1:.0f} s (hung)")


def check_database(timeout: float, *, config: dict[str, Any] | None = None, vendor: str = "") -> ComponentHealth:
    """A fresh connection (not Django's pooled one) with a connect timeout, and
    SELECT 1 (`config`/`vendor`: another database than the default one)."""
    config = config or connections["default"].settings_dict
    vendor = vendor or connections["default"].vendor

    def run() -> tuple[str, str, dict[str, Any]]:
        if vendor == "postgresql":
            import psycopg

            with psycopg.connect(
                dbname=config["NAME"],
                user=config.get("USER") or None,
                password=config.get("PASSWORD") or None,
                host=config.get("HOST") or None,
                port=config.get("PORT") or None,
                connect_timeout=max(2, int(timeout)),  # libpq's minimum is 2 s
                options=f"-c statement_timeout={int(timeout * 1000)}",
            ) as conn:
                conn.execute("SELECT 1").fetchone()
            return HEALTHY, "", {"vendor": "postgresql"}
        name = str(config["NAME"])
        uri = name if name.startswith("file:") else f"file:{name}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=timeout)
        try:
            conn.execute("SELECT 1").fetchone()
        finally:
            conn.close()
        return HEALTHY, "", {"vendor": "sqlite"}

    return health._timed("database", run, timeout + 0.5)


def _redis_ping(name: str, url: str, timeout: float) -> ComponentHealth:
    def run() -> tuple[str, str, dict[str, Any]]:
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=heartbeat.NO_RETRY
        )
        try:
            client.ping()
        finally:
            client.close()
        return HEALTHY, "", {}

    return health._timed(name, run, timeout + 0.5)


def check_cache(timeout: float) -> ComponentHealth:
    if not settings.REDIS_URL:
        return ComponentHealth("cache", HEALTHY, 0.0, "local-memory cache (embedded mode)")
    return _redis_ping("cache", settings.REDIS_URL, timeout)


def _eager() -> bool:
    from lms.celery import app

    return bool(app.conf.task_always_eager)


def check_broker(timeout: float) -> ComponentHealth:
    url = settings.CELERY_BROKER_URL
    if _eager() or url.startswith("memory://"):
        return ComponentHealth("broker", HEALTHY, 0.0, "tasks run inline (eager mode)")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _redis_ping("broker", url, timeout)

    def run() -> tuple[str, str, dict[str, Any]]:
        from kombu import Connection

        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout)
        return HEALTHY, "", {}

    return health._timed("broker", run, timeout + 0.5)


def check_workers(timeout: float, *, broker_ok: bool = True) -> ComponentHealth:
    if _eager():
        return ComponentHealth("workers", HEALTHY, 0.0, "tasks run inline (eager mode)")
    if not broker_ok:
        return ComponentHealth("workers", UNHEALTHY, 0.0, "the broker is unreachable, so no worker can be")

    def run() -> tuple[str, str, dict[str, Any]]:
        from lms.celery import app

        # A ping with no reply limit waits its whole timeout, so it must be
        # shorter than the check's own (it was 2 s inside the 0.9 s of
        # HEALTH_CHECK_TIMEOUT: a live worker was always "no answer", and the
        # worker's own probes, which said healthy, made the incident flap).
        options = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "max_retries": 0,
            "polling_interval": 0.05,
        }
        with app.connection_for_write(transport_options=options) as conn:
            replies = app.control.ping(timeout=min(timeout * 0.5, 2.0), connection=conn) or []
        names = sorted(name for reply in replies for name in reply)
        if not names:
            return UNHEALTHY, "no Celery worker answered", {"workers": 0}
        return HEALTHY, "", {"workers": len(names)}

    return health._timed("workers", run, timeout + 0.5)


def check_web(timeout: float) -> ComponentHealth | None:
    url = settings.WATCHDOG_WEB_URL
    if not url:
        return None

    def run() -> tuple[str, str, dict[str, Any]]:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - URL from settings
            code = response.status
        if code >= 500:
            return UNHEALTHY, f"HTTP {code}", {"status": code}
        return HEALTHY, "", {"status": code}

    result = health._timed("web", run, timeout + 0.5)
    if result.status == HEALTHY and result.response_time_ms > settings.OPS_WEB_PROBE_SLOW_MS:
        result.status, result.message = DEGRADED, f"slow: {result.response_time_ms} ms"
    return result


def observe(timeout: float | None = None) -> dict[str, ComponentHealth]:
    """One round of checks, each bounded: a hung dependency costs its timeout."""
    timeout = settings.WATCHDOG_TIMEOUT_SECONDS if timeout is None else timeout
    out: dict[str, ComponentHealth] = {}
    web = bounded("web", lambda: check_web(timeout) or ComponentHealth("web", "", 0.0), timeout)
    if web.status:
        out["web"] = web
    out["database"] = bounded("database", lambda: check_database(timeout), timeout)
    out["cache"] = bounded("cache", lambda: check_cache(timeout), timeout)
    out["broker"] = bounded("broker", lambda: check_broker(timeout), timeout)
    broker_ok = out["broker"].status != UNHEALTHY
    out["workers"] = bounded("workers", lambda: check_workers(timeout, broker_ok=broker_ok), timeout)
    out["beat"] = bounded("beat", lambda: heartbeat.check_beat(timeout=timeout), timeout)
    return out


# --- The local journal ---------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Journal:
    """Observations not yet in the database, and the watchdog's own memory
    (what each component was and since when, who to mail), in a SQLite file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=5, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS observation (id INTEGER PRIMARY KEY, cycle_at TEXT NOT NULL,"
            " component TEXT NOT NULL, status TEXT NOT NULL, latency_ms REAL NOT NULL, message TEXT NOT NULL,"
            " sent INTEGER NOT NULL DEFAULT 0)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS observation_sent ON observation (sent, cycle_at)")
        self.db.execute("CREATE TABLE IF NOT EXISTS memory (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def close(self) -> None:
        self.db.close()

    def record(self, cycle_at: datetime, results: dict[str, ComponentHealth]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT INTO observation (cycle_at, component, status, latency_ms, message) VALUES (?, ?, ?, ?, ?)",
                [(_iso(cycle_at), r.name, r.status, r.response_time_ms, r.message[:500]) for r in results.values()],
            )

    def pending(self) -> list[tuple[datetime, list[tuple[int, str, str, float, str]]]]:
        """Unsent observations grouped by cycle, oldest first."""
        cycles: dict[str, list[tuple[int, str, str, float, str]]] = {}
        for row in self.db.execute(
            "SELECT id, cycle_at, component, status, latency_ms, message FROM observation WHERE sent = 0 ORDER BY cycle_at, id"
        ):
            cycles.setdefault(row[1], []).append((row[0], row[2], row[3], row[4], row[5]))
        return [(_parse(at), rows) for at, rows in cycles.items()]

    def mark_sent(self, ids: list[int]) -> None:
        with self.db:
            self.db.executemany("UPDATE observation SET sent = 1 WHERE id = ?", [(i,) for i in ids])

    def prune(self, before: datetime) -> None:
        with self.db:
            self.db.execute("DELETE FROM observation WHERE sent = 1 AND cycle_at < ?", (_iso(before),))

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM memory WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO memory (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )


# --- Outage state ----------------------------------------------------------------------------


def update_state(journal: Journal, now: datetime, results: dict[str, ComponentHealth]) -> dict[str, Any]:
    """Each component's status, since when and why; `changed` lists those whose status moved."""
    previous = journal.get("components", {})
    components: dict[str, Any] = {}
    changed = []
    for name, result in results.items():
        status = TO_STATUS.get(result.status, "major_outage")
        before = previous.get(name)
        same = before is not None and before["status"] == status
        components[name] = {
            "status": status,
            "since": before["since"] if same else _iso(now),
            "message": result.message,
            "checked_at": _iso(now),
            "notified": before.get("notified", "operational") if before else "operational",
        }
        if not same:
            changed.append(name)
    journal.put("components", components)
    return {"components": components, "changed": changed}


def write_state_file(path: str | os.PathLike[str], state: dict[str, Any], *, now: datetime) -> None:
    """The status page reads this (docs/ops.md, "Watchdog state file"); written
    atomically so a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "updated_at": _iso(now),
        "interval_seconds": settings.WATCHDOG_INTERVAL_SECONDS,
        "database_reachable": state["components"]["database"]["status"] != "major_outage",
        "celery_reachable": all(
            state["components"][c]["status"] != "major_outage"
            for c in ("broker", "workers")
            if c in state["components"]
        ),
        "components": {
            name: {k: info[k] for k in ("status", "since", "message", "checked_at")}
            for name, info in state["components"].items()
        },
    }
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body, indent=2))
    os.replace(tmp, target)


def read_state_file(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The last state the watchdog wrote, or None (no watchdog, unreadable file)."""
    try:
        return json.loads(Path(path or settings.WATCHDOG_STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


# --- Writing to the database when it is there ---------------------------------------------------


def replay(journal: Journal, *, live_notifications: bool) -> dict[str, Any]:
    """Write the journalled cycles as probes with their real times, evaluating
    detection's probe rules at each cycle's time. Past cycles notify nobody
    (the watchdog told on-call directly while it happened); the current cycle
    notifies through Celery when Celery is up."""
    pending = journal.pending()
    actions: dict[str, Any] = {}
    for index, (cycle_at, rows) in enumerate(pending):
        live = index == len(pending) - 1
        quiet = nullcontext() if (live and live_notifications) else services.notifications_paused()
        with transaction.atomic(), quiet:
            HealthProbe.objects.bulk_create(
                [
                    HealthProbe(component=c, status=s, latency_ms=ms, message=m, checked_at=cycle_at)
                    for _, c, s, ms, m in rows
                    if c in PROBED
                ]
            )
            kinds = RULE_KINDS if live else {DetectionRule.Kind.PROBE_FAILURE}
            report = services.detection_pass(now=cycle_at, kinds=kinds)
        journal.mark_sent([row[0] for row in rows])
        for slug, info in report.items():
            if info["action"] not in ("quiet", "snoozed"):
                actions.setdefault(slug, []).append(info["action"])
    return {"cycles": len(pending), "actions": actions}


# --- Telling people directly -------------------------------------------------------------------


def _notice_text(changes: list[tuple[str, dict[str, Any]]]) -> tuple[str, str]:
    down = [name for name, info in changes if info["status"] != "operational"]
    up = [name for name, info in changes if info["status"] == "operational"]
    parts = []
    if down:
        parts.append(f"DOWN: {', '.join(down)}")
    if up:
        parts.append(f"recovered: {', '.join(up)}")
    subject = f"[watchdog] {'; '.join(parts)}"
    lines = [subject, ""]
    for name, info in changes:
        lines.append(
            f"{name}: {info['status']} since {info['since']}" + (f" — {info['message']}" if info["message"] else "")
        )
    lines += [
        "",
        "Sent by the watchdog directly: the database or Celery is down, so the usual incident",
        "notifications cannot run. Incidents are recorded with their real times once the database is back.",
    ]
    return subject, "\n".join(lines)


def send_direct(journal: Journal, changes: list[tuple[str, dict[str, Any]]], timeout: float) -> dict[str, Any]:
    """Email (Django's mail, short timeout) and the incident webhook (urllib),
    no Celery, no database: recipients are the ones remembered from the last
    time the database answered, plus OPS_ONCALL_EMAILS."""
    subject, body = _notice_text(changes)
    recipients = sorted(set(journal.get("recipients", [])) | set(settings.OPS_ONCALL_EMAILS))
    sent: dict[str, Any] = {"email": [], "webhook": False}
    if recipients:
        try:
            connection = get_connection(timeout=timeout)
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, connection=connection).send()
            sent["email"] = recipients
        except Exception:  # the webhook may still get through
            logger.exception("watchdog: direct email failed")
    url = settings.OPS_INCIDENT_WEBHOOK_URL
    if url.startswith(("https://", "http://")):
        payload = json.dumps({"text": body, "username": f"{settings.SITE_NAME} watchdog"}).encode()
        request = urllib.request.Request(  # noqa: S310 - http(s) only
            url, data=payload, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                sent["webhook"] = response.status < 300
        except Exception:
            logger.exception("watchdog: direct webhook failed")
    return sent


def ping_dead_mans_switch(timeout: float) -> bool:
    """Tell an external monitor (healthchecks.io style) that the watchdog is alive."""
    url = settings.WATCHDOG_PING_URL
    if not url.startswith(("https://", "http://")):
        return False
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - URL from settings
            return response.status < 300
    except (OSError, ValueError):
        logger.warning("watchdog: dead man's switch ping to %s failed", url)
        return False


def _drop_dead_connections() -> None:
    """What Django does at the start of each request (close_old_connections),
    for a process that has no requests; never inside a transaction (tests)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


# --- One cycle -----------------------------------------------------------------------------------


@dataclass
class CycleReport:
    at: datetime
    results: dict[str, ComponentHealth]
    database_written: bool = False
    replayed_cycles: int = 0
    actions: dict[str, Any] = field(default_factory=dict)
    notified: dict[str, Any] = field(default_factory=dict)
    pinged: bool = False


def run_cycle(*, journal: Journal, now: datetime | None = None, timeout: float | None = None) -> CycleReport:
    now = now or timezone.now()
    timeout = settings.WATCHDOG_TIMEOUT_SECONDS if timeout is None else timeout
    results = observe(timeout)
    journal.record(now, results)
    state = update_state(journal, now, results)
    report = CycleReport(at=now, results=results)
    celery_ok = all(results[c].status != UNHEALTHY for c in ("broker", "workers"))
    database_ok = results["database"].status != UNHEALTHY
    if database_ok:
        _drop_dead_connections()  # Django's connection may have died with the last outage
        try:
            replayed = replay(journal, live_notifications=celery_ok)
            report.database_written = True
            report.replayed_cycles, report.actions = replayed["cycles"], replayed["actions"]
            journal.put("recipients", sorted(set(notify.oncall_emails())))
            journal.prune(now - timedelta(days=1))
        except (DatabaseError, InterfaceError) as exc:  # it answered the check, then failed: down after all
            logger.warning("watchdog: database write failed, keeping the journal: %r", exc)
            database_ok = False
            _drop_dead_connections()
    try:
        write_state_file(settings.WATCHDOG_STATE_FILE, state, now=now)
    except OSError:
        logger.exception("watchdog: could not write %s", settings.WATCHDOG_STATE_FILE)
    # Tell people directly when the normal path (incidents in the database,
    # notified through Celery) cannot run; once it runs again, say that what
    # was reported down directly has recovered.
    components = state["components"]
    unsaid = [(n, i) for n, i in components.items() if i["status"] != i["notified"]]
    if database_ok and celery_ok:
        unsaid = [(n, i) for n, i in unsaid if i["status"] == "operational"]
    if unsaid:
        report.notified = send_direct(journal, unsaid, timeout)
        for name, _ in unsaid:
            components[name]["notified"] = components[name]["status"]
        journal.put("components", components)
    report.pinged = ping_dead_mans_switch(timeout)
    return report
