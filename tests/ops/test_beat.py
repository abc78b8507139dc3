"""Beat: its scheduler survives database errors and writes a heartbeat; the
every-minute jobs expire after their minute so a restarted worker does not
replay a queue of them."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.db.utils import DatabaseError
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from lms.celery import app as celery_app
from ops import beat, heartbeat
from tests.ports import closed_port

CLOSED_PORT = closed_port()


@pytest.fixture
def quiet_schedule(settings, tmp_path: Path) -> Path:
    """Nothing due (so no task runs inline), heartbeat in the test's folder."""
    settings.OPS_BEAT_HEARTBEAT_FILE = str(tmp_path / "beat-heartbeat")
    settings.REDIS_URL = ""
    PeriodicTask.objects.update(enabled=False)
    return tmp_path / "beat-heartbeat"


def _break_table() -> tuple[str, str]:
    table = PeriodicTask._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    return table, f"{table}_away"


def _mend_table(table: str, away: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")


def _force_full_read(scheduler: DatabaseScheduler) -> None:
    # django-celery-beat re-reads the whole schedule every five minutes; that read is what crashed beat.
    scheduler._last_full_sync = datetime.now() - timedelta(minutes=10)


@pytest.mark.django_db(transaction=True)
def test_the_stock_scheduler_dies_on_a_database_error_ours_keeps_ticking(quiet_schedule: Path) -> None:
    stock = DatabaseScheduler(app=celery_app)
    ours = beat.Scheduler(app=celery_app)
    table, away = _break_table()
    try:
        _force_full_read(stock)
        with pytest.raises(DatabaseError):  # what the drill saw: "beat raised exception OperationalError"
            stock.tick()
        _force_full_read(ours)
        assert ours.tick() == beat.RETRY_SECONDS
    finally:
        _mend_table(table, away)
    assert quiet_schedule.exists()  # the heartbeat was written on the tick
    assert abs(heartbeat.last_beat() - datetime.now().timestamp()) < 60
    # The database is back: the next ticks read the schedule again.
    _force_full_read(ours)
    assert ours.tick() > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_beat_keeps_ticking_while_postgresql_is_unreachable(quiet_schedule: Path) -> None:
    ours = beat.Scheduler(app=celery_app)
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=CLOSED_PORT)
    try:
        _force_full_read(ours)
        assert ours.tick() == beat.RETRY_SECONDS
        assert ours.tick() >= 0  # and again, without crashing
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert PeriodicTask.objects.exists()  # reconnected


def test_every_minute_job_expires_within_its_minute() -> None:
    minute_jobs = PeriodicTask.objects.filter(interval__every=1, interval__period="minutes")
    assert minute_jobs.count() >= 5
    for job in minute_jobs:
        assert job.expire_seconds is not None and job.expire_seconds < 60, job.name
        assert ModelEntry(job, app=celery_app).options["expires"] == job.expire_seconds


def test_the_data_migration_gives_existing_minute_jobs_an_expiry() -> None:
    minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    old = PeriodicTask.objects.create(name="an old minute job", task="ops.tasks.run_probes", interval=minute)
    slow = PeriodicTask.objects.create(name="an hourly job", task="ops.tasks.run_probes", interval=hourly)
    importlib.import_module("ops.migrations.0015_watchdog_rules_and_expiring_beat_jobs").expire_minute_jobs(apps, None)
    old.refresh_from_db()
    slow.refresh_from_db()
    assert old.expire_seconds == 55 and slow.expire_seconds is None


def test_a_stale_heartbeat_is_beat_down(quiet_schedule: Path, settings) -> None:
    celery_app.conf.task_always_eager = False  # beat is expected (restored by the isolation fixture)
    assert heartbeat.check_beat().status == "unhealthy"  # never written
    now = datetime.now().timestamp()
    heartbeat.beat(now=now - settings.OPS_BEAT_STALE_SECONDS - 5)
    stale = heartbeat.check_beat()
    assert stale.status == "unhealthy" and "ago" in stale.message
    heartbeat.beat(now=now)
    assert heartbeat.check_beat().status == "healthy"


@pytest.mark.redis
def test_the_heartbeat_goes_through_redis_when_there_is_one(quiet_schedule: Path, settings) -> None:
    import os

    settings.REDIS_URL = os.environ["REDIS_URL"]
    heartbeat.beat(now=12345.5)
    quiet_schedule.unlink()  # the watchdog on another host reads Redis, not the file
    assert heartbeat.last_beat() == 12345.5


def test_an_unreadable_heartbeat_is_not_beat_down(quiet_schedule: Path, settings) -> None:
    """Redis down: the cache and broker rules report it; beat is not blamed for it."""
    celery_app.conf.task_always_eager = False
    settings.REDIS_URL = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    result = heartbeat.check_beat(timeout=0.5)
    assert result.status == "degraded" and "unreadable" in result.message


@pytest.mark.redis
def test_a_redis_that_lost_its_data_does_not_make_a_live_beat_dead(quiet_schedule: Path, settings) -> None:
    """Drill: Redis restarted without persistence; beat kept writing its file, yet
    the heartbeat read Redis alone ("never written") and opened beat-heartbeat."""
    import os

    celery_app.conf.task_always_eager = False
    settings.REDIS_URL = os.environ["REDIS_URL"]
    now = datetime.now().timestamp()
    heartbeat.beat(now=now)
    heartbeat._redis(1.0).delete(heartbeat.REDIS_KEY)  # what a restart without data leaves
    assert heartbeat.last_beat() == pytest.approx(now, abs=0.01)
    assert heartbeat.check_beat().status == "healthy"
    heartbeat._redis(1.0).set(heartbeat.REDIS_KEY, f"{now + 5:.3f}")  # beat on another host: the newer wins
    assert heartbeat.last_beat() == pytest.approx(now + 5, abs=0.01)


def test_with_redis_down_a_fresh_heartbeat_file_is_beat_alive(quiet_schedule: Path, settings) -> None:
    celery_app.conf.task_always_eager = False
    settings.REDIS_URL = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    heartbeat.beat(now=datetime.now().timestamp())
    assert heartbeat.check_beat(timeout=0.5).status == "healthy"
    quiet_schedule.unlink()  # no file either: unreadable, not "down"
    assert heartbeat.check_beat(timeout=0.5).status == "degraded"


def test_a_beat_dead_for_100_seconds_is_down_with_the_default_settings(quiet_schedule: Path) -> None:
    """Drill: with 150 s a killed beat opened its incident only ~3 min later (past
    the 2 minutes asked); 90 s stale + one watchdog cycle fits. A live beat writes
    every HEARTBEAT_EVERY s (~19 s apart while Redis was down), far inside it."""
    celery_app.conf.task_always_eager = False
    heartbeat.beat(now=datetime.now().timestamp() - 100)
    assert heartbeat.check_beat().status == "unhealthy"
    heartbeat.beat(now=datetime.now().timestamp() - 3 * beat.HEARTBEAT_EVERY)
    assert heartbeat.check_beat().status == "healthy"
