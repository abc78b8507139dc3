"""Request metrics broken down by feature flag and variant (guardrails).

A small addition beside ops.metrics rather than a label on every route row:
each request adds, per flag it evaluated (analytics.flags puts them on
`request.flags_seen`), one count, an error count and one histogram bucket to
an in-process dict; once a minute has closed the process adds its counts to
`FlagRequestMetric` rows (one row per minute, flag and variant, upserted
additively, so any number of processes can write the same minute). The hot
path is a lock and a few dict updates; a crashed process loses at most its
last minute, which only makes the guardrail quieter, never louder.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from ops import histogram
from ops.metrics import minute_of

logger = logging.getLogger(__name__)

Key = tuple[datetime, str, str]  # (minute, flag, variant)
EXPERIMENT_PREFIX = "experiment:"


@dataclass
class Counts:
    count: int = 0
    server_errors: int = 0
    histogram: list[int] = field(default_factory=histogram.empty)


class Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[Key, Counts] = {}
        self._last_flush = time.monotonic()

    def add(self, minute: datetime, seen: dict[str, str], duration_ms: float, status: int) -> None:
        bucket = histogram.bucket_index(duration_ms)
        error = status >= 500
        with self._lock:
            for flag, variant in seen.items():
                counts = self._data.setdefault((minute, flag[:100], variant[:32]), Counts())
                counts.count += 1
                counts.server_errors += error
                counts.histogram[bucket] += 1

    def drain(self) -> dict[Key, Counts]:
        with self._lock:
            data, self._data = self._data, {}
            self._last_flush = time.monotonic()
        return data

    def due(self) -> bool:
        return time.monotonic() - self._last_flush >= 60


store = Store()


def record(request: HttpRequest, duration_ms: float, status: int, *, now: datetime | None = None) -> None:
    """Called by the request-metrics middleware for every request."""
    seen = dict(getattr(request, "flags_seen", None) or {})
    # Experiment variants the request met (analytics.experiments.expose) are
    # kept the same way, as "experiment:<name>", so a variant can be compared
    # with its control on the performance page.
    for name, variant in (getattr(request, "variants_seen", None) or {}).items():
        seen[EXPERIMENT_PREFIX + name] = variant
    if not seen:
        return
    try:
        store.add(minute_of(now or timezone.now()), seen, duration_ms, status)
        if settings.OPS_METRICS_SELF_FLUSH and store.due():
            flush()
    except Exception:  # guardrail bookkeeping must never break a request
        logger.warning("could not record per-flag metrics", exc_info=True)


@transaction.atomic
def _write(data: dict[Key, Counts]) -> int:
    from ops.models import FlagRequestMetric

    minutes = {key[0] for key in data}
    existing = {
        (r.bucket_start, r.flag, r.variant): r
        for r in FlagRequestMetric.objects.select_for_update().filter(bucket_start__in=minutes)
    }
    create, update = [], []
    for (minute, flag, variant), counts in data.items():
        row = existing.get((minute, flag, variant))
        if row is None:
            create.append(
                FlagRequestMetric(
                    bucket_start=minute,
                    flag=flag,
                    variant=variant,
                    request_count=counts.count,
                    server_errors=counts.server_errors,
                    histogram=counts.histogram,
                )
            )
        else:
            row.request_count += counts.count
            row.server_errors += counts.server_errors
            row.histogram = histogram.merge([row.histogram, counts.histogram])
            update.append(row)
    FlagRequestMetric.objects.bulk_create(create)
    FlagRequestMetric.objects.bulk_update(update, ["request_count", "server_errors", "histogram"])
    return len(create) + len(update)


def flush() -> int:
    """Add this process's counts to the database. Returns rows touched."""
    data = store.drain()
    if not data:
        return 0
    for attempt in range(3):
        try:
            return _write(data)
        except IntegrityError:  # another process created the same minute row a moment ago
            if attempt == 2:
                raise
    return 0


def purge(*, now: datetime | None = None) -> int:
    from ops.models import FlagRequestMetric

    cutoff = (now or timezone.now()) - timedelta(days=settings.OPS_METRICS_MINUTE_RETENTION_DAYS)
    deleted, _ = FlagRequestMetric.objects.filter(bucket_start__lt=cutoff).delete()
    return deleted
