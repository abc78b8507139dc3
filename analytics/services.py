"""Writes: recording events, rolling them up, purging and exporting them.

Automatic events of a request are buffered (see analytics.middleware) and
written with one INSERT when the response is ready; events recorded outside a
request (Celery, management commands) are written at once. Recording never
raises: analytics must not break what the user is doing.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from analytics import partitions, queries
from analytics import timeutil as tu
from analytics.funnel import EVENT_NAME
from analytics.models import ActiveUserDay, DailyEventCount, DailySessionStats, Event, FeatureUserDay, RollupDay
from lms import maintenance
from lms.errors import ServiceError, TooLarge
from lms.tracking import tracking_allowed

logger = logging.getLogger(__name__)

# Property keys that must never be stored, whoever sends them.
SENSITIVE_KEY = re.compile(r"pass|token|secret|auth|cookie|csrf|session|api_?key|^ip$|ip_?addr|remote_addr", re.I)

# Names the server records itself; browsers may not send them.
SERVER_EVENTS = frozenset(
    {
        "page_view",
        "api_request",
        "login",
        "logout",
        "login_failed",
        "signup",
        "error",
        "class_created",
        "class_joined",
        "deck_created",
        "card_created",
        "study_session_started",
        "study_session_completed",
        "review_submitted",
        "test_completed",
    }
)


@dataclass
class RequestBuffer:
    request: HttpRequest | None
    events: list[Event] = field(default_factory=list)


current_buffer: contextvars.ContextVar[RequestBuffer | None] = contextvars.ContextVar("analytics_buffer", default=None)


def enabled() -> bool:
    """Events are written unless analytics is off or the site is in
    maintenance mode (a restore must not race event inserts)."""
    return bool(getattr(settings, "ANALYTICS_ENABLED", True)) and not maintenance.active()


def hash_session_key(raw: str) -> str:
    """A stable pseudonym for a session: joins its events without storing the credential."""
    if not raw:
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()[:32]


def request_session_key(request: HttpRequest | None) -> str:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None) if session is not None else None
    return hash_session_key(key or "")


def _clean_value(value: Any, depth: int) -> Any:
    # Nested objects and lists are cleaned too: `{"form": {"password": ...}}`
    # must not slip a credential past the key check one level down.
    if isinstance(value, str):
        return value[:500]
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return clean_properties(value, depth + 1) if depth < 4 else str(value)[:500]
    if isinstance(value, list | tuple):
        return [_clean_value(v, depth + 1) for v in value] if depth < 4 else str(value)[:500]
    return str(value)[:500]


def clean_properties(properties: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Drops credential-like keys (at any depth) and anything JSON cannot hold."""
    cleaned: dict[str, Any] = {}
    for key, value in properties.items():
        if SENSITIVE_KEY.search(str(key)):
            continue
        cleaned[str(key)[:64]] = _clean_value(value, depth)
    return cleaned


def record(
    name: str,
    *,
    user: Any = None,
    session_key: str = "",
    properties: dict[str, Any] | None = None,
    timestamp: datetime | None = None,
) -> None:
    """Record one server-side event: into the current request's buffer, or at once.

    Never raises; a failure is logged.
    """
    if not enabled():
        return
    try:
        buffer = current_buffer.get()
        if user is not None and not getattr(user, "is_authenticated", False):
            user = None
        if not tracking_allowed(user=user, request=buffer.request if buffer is not None else None):
            return
        if not session_key and buffer is not None:
            session_key = request_session_key(buffer.request)
        event = Event(
            name=name[:64],
            user=user,
            session_key=session_key[:64],
            properties=clean_properties(properties or {}),
            timestamp=timestamp or timezone.now(),
        )
        if buffer is not None:
            buffer.events.append(event)
        else:
            flush([event])
    except Exception:
        logger.exception("could not record analytics event %s", name)


# Every field but the id, in the order of the INSERT below.
_EVENT_FIELDS = [f for f in Event._meta.concrete_fields if not f.primary_key]
_FLUSH_BATCH = 100  # far more than a request records; keeps SQLite under its variable limit


def insert_events(events: list[Event]) -> None:
    """One plain multi-row INSERT (a single statement is atomic by itself).

    Not `bulk_create`: that wraps even one row in BEGIN/COMMIT, two more round
    trips on every request, and asks for the new ids, which nobody reads."""
    ops = connection.ops
    columns = ", ".join(ops.quote_name(f.column) for f in _EVENT_FIELDS)
    row = "(" + ", ".join(["%s"] * len(_EVENT_FIELDS)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(events), _FLUSH_BATCH):
            batch = events[start : start + _FLUSH_BATCH]
            params = [f.get_db_prep_save(f.pre_save(e, True), connection) for e in batch for f in _EVENT_FIELDS]
            values = ", ".join([row] * len(batch))
            table = ops.quote_name(Event._meta.db_table)
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}", params)  # noqa: S608 - model's names


def flush(events: list[Event]) -> None:
    """One INSERT for the given events, in autocommit (rows visible as soon as
    it returns); a failure is logged and the events dropped."""
    if not events or maintenance.active():  # recorded before maintenance began: dropped too
        return
    try:
        if connection.in_atomic_block:
            # Inside someone's transaction: a savepoint, so a failed insert
            # does not break the caller's work.
            with transaction.atomic():
                insert_events(events)
        else:
            insert_events(events)
    except Exception:
        logger.exception("could not store %d analytics events", len(events))


# --- Browser events ----------------------------------------------------------------


@dataclass(frozen=True)
class BrowserEvent:
    name: str
    properties: dict[str, Any]
    timestamp: datetime | None


def validate_browser_event(name: str, properties: dict[str, Any]) -> None:
    if not EVENT_NAME.match(name):
        raise ServiceError("Event names are lower_snake_case, up to 64 characters.", details={"name": name})
    if name in SERVER_EVENTS:
        raise ServiceError(f"{name!r} is recorded by the server and cannot be sent.", details={"name": name})
    size = len(json.dumps(properties, separators=(",", ":")))
    if size > settings.ANALYTICS_MAX_PROPERTIES_BYTES:
        raise TooLarge(
            f"Properties of {name!r} are {size} bytes; the limit is {settings.ANALYTICS_MAX_PROPERTIES_BYTES}.",
            details={"name": name, "bytes": size},
        )


def record_browser_events(*, user: Any, session_key: str, events: list[BrowserEvent]) -> int:
    """Store a validated batch from a signed-in user's browser (all or nothing).

    Client timestamps are accepted up to a day old and never in the future, so
    a browser cannot back-fill history or skew today's figures.
    """
    if not 1 <= len(events) <= settings.ANALYTICS_MAX_BATCH:
        raise ServiceError(f"Send 1 to {settings.ANALYTICS_MAX_BATCH} events per request.")
    for item in events:
        validate_browser_event(item.name, item.properties)
    if not tracking_allowed(user=user):
        return 0  # validated like anyone's, then dropped: opted out
    if maintenance.active():
        return 0  # accepted and dropped: nothing is written during maintenance
    now = timezone.now()
    rows = [
        Event(
            name=item.name,
            user=user,
            session_key=session_key,
            properties=clean_properties(item.properties),
            timestamp=min(max(item.timestamp, now - timedelta(days=1)), now) if item.timestamp else now,
        )
        for item in events
    ]
    with transaction.atomic():
        Event.objects.bulk_create(rows)
    return len(rows)


# --- Rollups -------------------------------------------------------------------------


def rollup_day(day: int) -> None:
    """Summarise one UTC day into the daily tables (replacing what was there)."""
    from analytics import queries

    activity_sql, params = queries.live_activity_sql(day, day)
    activity = queries._fetch(activity_sql, params)
    counts = queries.live_event_counts(day, day)
    sessions = queries.live_sessions_by_day(day, day).get(day, (0, 0, 0))
    with transaction.atomic():
        ActiveUserDay.objects.filter(day=day).delete()
        DailyEventCount.objects.filter(day=day).delete()
        DailySessionStats.objects.filter(day=day).delete()
        FeatureUserDay.objects.filter(day=day).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {FeatureUserDay._meta.db_table} (day, name, user_id) "  # noqa: S608 - our table names
                f"SELECT DISTINCT %s, name, user_id FROM {Event._meta.db_table} "
                "WHERE user_id IS NOT NULL AND timestamp >= %s AND timestamp < %s",
                [
                    day,
                    *(
                        connection.ops.adapt_datetimefield_value(t)
                        for t in (tu.day_start_utc(day), tu.day_start_utc(day + 1))
                    ),
                ],
            )
        ActiveUserDay.objects.bulk_create(
            [
                ActiveUserDay(day=day, user_id=user_id, slots_am=int(am), slots_pm=int(pm), events=int(events))
                for user_id, _day, am, pm, events in activity
            ],
            batch_size=2000,
        )
        DailyEventCount.objects.bulk_create(
            [DailyEventCount(day=day, name=name, events=n, users=u) for _d, name, n, u in counts], batch_size=2000
        )
        DailySessionStats.objects.create(
            day=day, sessions=sessions[0], duration_seconds=sessions[1], events=sessions[2]
        )
        RollupDay.objects.update_or_create(day=day, defaults={"rolled_at": timezone.now()})


def rollup_pending(*, now: datetime | None = None, lookback_days: int = 3) -> list[int]:
    """Roll up closed UTC days of the last few days that are not rolled up yet,
    and always re-roll yesterday (late events). Today stays live."""
    now = now or timezone.now()
    today = tu.utc_day_of(now)
    days = set(range(today - lookback_days, today)) - set(
        RollupDay.objects.filter(day__gte=today - lookback_days).values_list("day", flat=True)
    )
    days.add(today - 1)
    for day in sorted(days):
        rollup_day(day)
    return sorted(days)


def rollup_range(first_day: int, last_day: int) -> None:
    for day in range(first_day, last_day + 1):
        rollup_day(day)


def purge_old_events(*, now: datetime | None = None) -> int:
    """Delete raw events older than the retention period; the rollups stay.

    Days are rolled up first so no figure is lost with the raw rows. On
    PostgreSQL whole monthly partitions are dropped (analytics.partitions).
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ANALYTICS_RETENTION_DAYS)
    first = Event.objects.filter(timestamp__lt=cutoff).order_by("timestamp").values_list("timestamp", flat=True).first()
    if first is None:
        return 0
    rolled = set(RollupDay.objects.values_list("day", flat=True))
    for day in range(tu.utc_day_of(first), tu.utc_day_of(cutoff) + 1):
        if day not in rolled:
            rollup_day(day)
    return partitions.delete_events_before(cutoff)["events_deleted"]


# --- Privacy ---------------------------------------------------------------------------


def export_user_events(user_id: int) -> Iterator[dict[str, Any]]:
    """All of a user's raw events, oldest first (for a data-access request)."""
    for event in Event.objects.filter(user_id=user_id).order_by("timestamp", "id").iterator(chunk_size=2000):
        yield {
            "name": event.name,
            "timestamp": event.timestamp.isoformat(),
            "session_key": event.session_key,
            "properties": event.properties,
        }


def delete_user_events(user_id: int) -> int:
    """Forget a user's raw events and rollup rows (also happens when the account is deleted)."""
    with transaction.atomic():
        rollups_mark_changed(user_ids=[user_id])
        ActiveUserDay.objects.filter(user_id=user_id).delete()
        FeatureUserDay.objects.filter(user_id=user_id).delete()
        deleted = Event.objects.filter(user_id=user_id).delete()[0]
    queries.forget_funnels()
    return deleted


def rollups_mark_changed(*, user_ids: list[int]) -> None:
    """Move the rollups' version (analytics.dashboard_figures) before these users' rollup rows go.

    Called inside the deleting transaction, so the new version and the
    deletion become visible together.
    """
    if ActiveUserDay.objects.filter(user_id__in=user_ids).exists():
        RollupDay.objects.update(rolled_at=timezone.now())
