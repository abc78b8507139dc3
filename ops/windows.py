"""Writes: scheduled maintenance as one switch.

Every minute `maintenance_tick` starts the windows whose time has come and
ends those that are over (or were stopped):

* at the start it can turn maintenance mode on (the window's choice), says so
  on the window's timeline and on the timeline of open incidents of its
  components, and tells status subscribers; while it runs the status page
  shows its components under maintenance, detection and paging for them are
  snoozed (ops.uptime.snoozed_components) and its minutes are left out of
  uptime and the SLA;
* at the end it turns maintenance mode off again (if it turned it on and no
  other window still needs it), says so on the same timelines and tells
  subscribers; everything it snoozed is back.

It also records the time students lost to our own SEV1/SEV2 incidents and
maintenance of what studying needs as learning grace windows, so streaks and
"days without a review" do not count those days against them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from learning import grace
from ops import services, uptime
from ops.models import Incident, IncidentUpdate, MaintenanceWindow

logger = logging.getLogger(__name__)

# What a student needs to study: the app and its database.
STUDY_COMPONENTS = {"web", "database"}
GRACE_LOOKBACK = timedelta(days=3)


def _note(window: MaintenanceWindow, at: datetime, message: str) -> None:
    window.timeline = [*window.timeline, {"at": at.isoformat(), "message": message}]


def _tell_incidents(window: MaintenanceWindow, at: datetime, message: str) -> None:
    components = set(window.components or uptime.COMPONENTS)
    for incident in Incident.objects.open().only("components"):
        if not incident.components or components & set(incident.components):
            IncidentUpdate.objects.create(incident=incident, created_at=at, message=message, public=False)


def _names(window: MaintenanceWindow) -> str:
    return ", ".join(window.components) if window.components else "every component"


def _start(window: MaintenanceWindow, now: datetime) -> None:
    window.started_at = now
    _note(window, now, f"Maintenance started: detection and paging snoozed for {_names(window)}.")
    if window.maintenance_mode:
        if services.maintenance_mode_on():
            _note(window, now, "Maintenance mode was already on; left as it was.")
        else:
            services.maintenance_mode_set(on=True, message=window.message or window.title)
            window.switched_mode_on = True
            _note(window, now, "Maintenance mode turned on.")
    window.save(update_fields=["started_at", "switched_mode_on", "timeline"])
    _tell_incidents(
        window, now, f"Scheduled maintenance “{window.title}” started: detection and paging snoozed until it ends."
    )
    services.notify_subscribers_on_commit("maintenance", window.pk, "started")


def _end(window: MaintenanceWindow, now: datetime) -> None:
    window.ended_at = now
    stopped = "stopped early" if window.cancelled_at and window.cancelled_at < window.ends_at else "ended"
    _note(window, now, f"Maintenance {stopped}: detection and paging are back for {_names(window)}.")
    if window.switched_mode_on:
        others = (
            MaintenanceWindow.objects.active(now)
            .filter(switched_mode_on=True, ended_at__isnull=True)
            .exclude(pk=window.pk)
        )
        if others.exists():
            _note(window, now, "Maintenance mode stays on for another window still running.")
        else:
            services.maintenance_mode_set(on=False)
            _note(window, now, "Maintenance mode turned off.")
    window.save(update_fields=["ended_at", "timeline"])
    _tell_incidents(window, now, f"Scheduled maintenance “{window.title}” {stopped}: detection and paging are back.")
    services.notify_subscribers_on_commit("maintenance", window.pk, "completed")


@transaction.atomic
def maintenance_tick(*, now: datetime | None = None) -> dict[str, Any]:
    """Start and end windows whose time has come; record grace windows."""
    now = now or timezone.now()
    started, ended = [], []
    due = MaintenanceWindow.objects.select_for_update(skip_locked=True).filter(
        started_at__isnull=True, cancelled_at__isnull=True, starts_at__lte=now
    )
    for window in due:
        _start(window, min(now, window.ends_at))
        started.append(window.pk)
    over = MaintenanceWindow.objects.select_for_update(skip_locked=True).filter(
        Q(ends_at__lte=now) | Q(cancelled_at__isnull=False), started_at__isnull=False, ended_at__isnull=True
    )
    for window in over:
        _end(window, now)
        ended.append(window.pk)
    if started or ended:
        services._forget_status_page()
    lost = grace_sync(now=now)
    return {"started": started, "ended": ended, "grace_windows": lost}


def _touches_study(components: list[str]) -> bool:
    return not components or bool(STUDY_COMPONENTS & set(components))


def grace_sync(*, now: datetime | None = None) -> int:
    """Give learning the recent time lost to SEV1/SEV2 incidents and to
    maintenance of the study components (idempotent; keys name the source)."""
    now = now or timezone.now()
    since = now - GRACE_LOOKBACK
    count = 0
    incidents = Incident.objects.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=since)).only(
        "severity", "components", "triggered_at", "impact_started_at", "resolved_at"
    )
    for incident in incidents:
        key = f"ops:incident:{incident.pk}"
        if incident.severity > 2 or not _touches_study(incident.components):
            grace.grace_window_clear(key=key)
            continue
        start = min(incident.impact_started_at or incident.triggered_at, incident.triggered_at)
        end = incident.resolved_at or now
        if end > start:
            grace.grace_window_set(key=key, starts_at=start, ends_at=end, reason=f"SEV{incident.severity} incident")
            count += 1
    windows = MaintenanceWindow.objects.filter(started_at__isnull=False).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gte=since)
    )
    for window in windows:
        if not _touches_study(window.components):
            continue
        end = window.ended_at or min(window.ends_at, now)
        if end > window.starts_at:
            grace.grace_window_set(
                key=f"ops:maintenance:{window.pk}", starts_at=window.starts_at, ends_at=end, reason="maintenance"
            )
            count += 1
    return count
