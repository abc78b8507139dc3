"""Celery beat jobs (seeded as PeriodicTask rows by a data migration)."""

from __future__ import annotations

from celery import shared_task

from analytics import dashboard_figures, partitions, services


@shared_task(name="analytics.rollup_hourly")
def rollup_hourly() -> list[int]:
    """Roll up closed UTC days not rolled up yet (and yesterday again, for late events),
    then fill the dashboards' cache for the new rollups."""
    days = services.rollup_pending()
    dashboard_figures.warm_for_viewers()
    return days


@shared_task(name="analytics.nightly")
def nightly() -> dict[str, object]:
    """Final rollup of the last days, then the raw-event retention clean-up."""
    days = services.rollup_pending(lookback_days=7)
    deleted = services.purge_old_events()
    dashboard_figures.warm_for_viewers()
    return {"rolled_up": days, "purged": deleted}


@shared_task(name="analytics.event_partitions")
def event_partitions() -> dict[str, object]:
    """Create the coming months' event partitions; move rows out of the default partition."""
    return partitions.ensure_partitions()


@shared_task(name="analytics.flush_pending")
def flush_pending() -> int:
    """Write the anonymous events buffered in Redis (the status page's page
    views, analytics.pending) to the event table; readers flush before they
    read too, so this only bounds how long they wait in Redis. Idempotent and
    safe with two workers (one writes the buffer at a time;
    a batch leaves Redis only once written)."""
    from analytics import pending

    return pending.flush()
