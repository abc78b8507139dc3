"""A small registry of time-range annotations for charts and analyses.

Apps that know about periods worth marking (ops: incidents and maintenance)
register a provider when they are ready; apps that draw charts or judge
experiments (analytics, the performance page) ask the registry, so they never
import the app that provides the periods.

    from lms import chart_annotations
    chart_annotations.register("ops", provider)          # provider(start, end) -> iterable of Annotation
    chart_annotations.between(start, end)           # every annotation overlapping [start, end)
    chart_annotations.in_maintenance(start, end)    # was any of [start, end) in maintenance?
    lms.charts.line_chart(..., shades=chart_annotations.shades(marks, slot_starts, step))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

logger = logging.getLogger(__name__)

INCIDENT = "incident"
MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class Annotation:
    start: datetime
    end: datetime
    kind: str  # INCIDENT or MAINTENANCE
    label: str
    url: str = ""
    severity: int | None = None


@dataclass(frozen=True)
class Shade:
    """A band over chart slots first..last (inclusive)."""

    first: int
    last: int
    kind: str
    label: str


Provider = Callable[[datetime, datetime], Iterable[Annotation]]
_providers: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    """Register (or replace) a provider under a name (idempotent across reloads)."""
    _providers[name] = provider


def between(start: datetime, end: datetime, *, kinds: Iterable[str] | None = None) -> list[Annotation]:
    """Every registered annotation overlapping [start, end), oldest first. A
    failing provider is logged and skipped: a chart never breaks for it."""
    wanted = set(kinds) if kinds is not None else None
    out: list[Annotation] = []
    for name, provider in list(_providers.items()):
        try:
            found = list(provider(start, end))
        except Exception:
            logger.exception("annotation provider %s failed", name)
            continue
        out.extend(a for a in found if a.start < end and start < a.end and (wanted is None or a.kind in wanted))
    return sorted(out, key=lambda a: (a.start, a.kind))


def in_maintenance(start: datetime, end: datetime) -> bool:
    """Whether any of [start, end) was in scheduled maintenance (e.g. to leave
    such time out of an experiment's analysis)."""
    return bool(between(start, end, kinds=[MAINTENANCE]))


def shades(marks: Sequence[Annotation], slot_starts: Sequence[datetime], step: timedelta) -> list[Shade]:
    """The slots each annotation covers on a chart whose slot i spans
    [slot_starts[i], slot_starts[i] + step)."""
    out = []
    for mark in marks:
        covered = [i for i, s in enumerate(slot_starts) if s < mark.end and mark.start < s + step]
        if covered:
            out.append(Shade(covered[0], covered[-1], mark.kind, mark.label))
    return out
