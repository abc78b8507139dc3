from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from ops import metrics, tasks
from ops.models import HealthProbe, MaintenanceRun, RequestMetric

pytestmark = pytest.mark.django_db


def test_every_ops_beat_schedule_is_seeded() -> None:
    every_minute = {t.task: t for t in PeriodicTask.objects.filter(name__startswith="ops: ", interval__isnull=False)}
    assert set(every_minute) >= {
        "ops.tasks.detect_incidents",
        "ops.tasks.run_probes",
        "ops.tasks.flush_metrics",
        "ops.tasks.check_escalations",
    }
    assert all((t.interval.every, t.interval.period) == (1, "minutes") for t in every_minute.values())
    weekly = PeriodicTask.objects.get(task="ops.tasks.weekly_maintenance")
    cron = weekly.crontab
    assert (cron.minute, cron.hour, cron.day_of_week) == ("0", "2", "0")  # Sunday 02:00


def test_the_scheduled_tasks_do_their_job() -> None:
    metrics.record("GET", "/t/", 5, 200, now=datetime.now(UTC))
    assert tasks.flush_metrics.delay().get() == 1
    assert RequestMetric.objects.filter(route="/t/").exists()
    assert tasks.run_probes.delay().get() == 5
    assert HealthProbe.objects.count() == 5
    assert "error-rate" in tasks.detect_incidents.delay().get()
    assert tasks.check_escalations.delay().get() == []
    run_id = tasks.weekly_maintenance.delay().get()
    assert MaintenanceRun.objects.get(pk=run_id).trigger == "beat"


@pytest.mark.urls("tests.ops.boom_urls")
def test_without_redis_each_process_flushes_its_own_closed_minutes(settings, fresh_metrics_store) -> None:
    if isinstance(fresh_metrics_store, metrics.RedisStore):
        pytest.skip("the beat job flushes Redis")
    settings.OPS_METRICS_SELF_FLUSH = True
    client = Client()
    client.get("/test/ok/1/")
    assert not RequestMetric.objects.exists()  # flushed at most once a minute
    fresh_metrics_store._last_flush = time.monotonic() - 61
    client.get("/test/ok/2/")
    assert RequestMetric.objects.get(route="/test/ok/<int:n>/").request_count == 2
