"""Sending tasks while the broker (Redis) is down, hung or refusing: a send
fails within CELERY_BROKER_SOCKET_TIMEOUT instead of blocking (19 s for each
of beat's sends and each web request's `delay()` in the drill of 2026-12-07,
for ever on a hung broker), beat keeps ticking and its heartbeat stays true,
and the broker's return brings no burst of stale runs (ops.beat). Each test
runs its own redis-server (tests/redis_server.py) or a closed port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry
from kombu.exceptions import OperationalError

from lms.celery import app as project_app
from ops import beat, heartbeat
from tests.ports import closed_port


@pytest.fixture
def broker() -> Iterator[Callable[[str], Celery]]:
    """A Celery app configured as in production (our CELERY_* settings), sending
    to the given broker, made the current app (the tasks' `delay()` use it)."""
    from celery import _state

    made: list[Celery] = []
    default = _state.default_app

    def on(url: str) -> Celery:
        app = Celery("lms-broker-test", set_as_current=False)
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
        app.set_current()
        app.set_default()  # the current app is per thread; sends run in one of their own
        made.append(app)
        return app

    yield on
    project_app.set_current()
    _state.default_app = default
    for app in made:
        app.close()


def timed(call: Callable[[], Any], limit: float) -> tuple[float, BaseException | None]:
    """How long `call` took and what it raised; fails when it has not returned
    within `limit` seconds (left running in a daemon thread: a hung send)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert outcome, f"still blocked after {limit} s"
    return time.monotonic() - started, outcome[0]


def minute_job(name: str, *, due_seconds_ago: float) -> PeriodicTask:
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    return PeriodicTask.objects.create(
        name=name,
        task="ops.tasks.flush_metrics",
        interval=every_minute,
        expire_seconds=55,
        last_run_at=timezone.now() - timedelta(seconds=60 + due_seconds_ago),
    )


def nightly_job(name: str) -> PeriodicTask:
    three_am, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="3", timezone="UTC")
    return PeriodicTask.objects.create(
        name=name, task="ops.tasks.flush_metrics", crontab=three_am, last_run_at=timezone.now() - timedelta(days=1)
    )


def queued(server: Any) -> list[dict]:
    return [json.loads(raw) for raw in server.client.lrange("celery", 0, -1)]


@pytest.fixture
def no_heartbeat_redis(settings, tmp_path) -> None:
    settings.OPS_BEAT_HEARTBEAT_FILE = str(tmp_path / "beat-heartbeat")
    settings.REDIS_URL = ""


# --- A send, from the web or a worker ------------------------------------------------


def test_a_delay_to_a_stopped_broker_fails_within_a_second(broker) -> None:
    """What a web request that enqueues (a data export, an import, a mail) waits."""
    from lms.tasks import build_data_export

    broker(f"redis://127.0.0.1:{closed_port()}/0")
    took, raised = timed(lambda: build_data_export.delay(1), limit=10)
    assert isinstance(raised, OperationalError) and took < 1.5


def test_a_delay_to_a_hung_broker_fails_within_its_socket_timeout(broker, own_redis, settings) -> None:
    from lms.tasks import build_data_export

    broker(own_redis.url)
    own_redis.pause()
    took, raised = timed(lambda: build_data_export.delay(1), limit=10)
    assert isinstance(raised, OperationalError)
    assert took < 2 * settings.CELERY_BROKER_SOCKET_TIMEOUT + 0.5


# --- Beat -----------------------------------------------------------------------------
# transaction=True: the scheduler manages its own database connection (as in tests/ops/test_beat.py).


@pytest.mark.django_db(transaction=True)
def test_beat_stops_trying_a_stopped_broker_and_keeps_what_has_no_window(
    broker, no_heartbeat_redis, monkeypatch
) -> None:
    app = broker(f"redis://127.0.0.1:{closed_port()}/0")
    scheduler = beat.Scheduler(app=app)
    minute = ModelEntry(minute_job("probes", due_seconds_ago=1), app=app)
    nightly = ModelEntry(nightly_job("backup"), app=app)
    took, raised = timed(lambda: scheduler.apply_entry(minute, producer=None), limit=25)
    assert raised is None and took < 1.5  # 19 s before
    assert scheduler.broker_paused()
    # Not tried while the broker is known down.
    monkeypatch.setattr(scheduler, "apply_async", lambda *a, **k: pytest.fail("sent while paused"))
    scheduler.apply_entry(nightly, producer=None)
    assert list(scheduler.missed) == ["backup"]  # the every-minute run is not kept


@pytest.mark.django_db(transaction=True)
def test_a_hung_broker_does_not_hold_beat(broker, own_redis, no_heartbeat_redis, settings) -> None:
    app = broker(own_redis.url)
    scheduler = beat.Scheduler(app=app)
    entry = ModelEntry(minute_job("probes", due_seconds_ago=1), app=app)
    own_redis.pause()
    took, raised = timed(lambda: scheduler.apply_entry(entry, producer=None), limit=10)
    assert raised is None and took < 2 * settings.CELERY_BROKER_SOCKET_TIMEOUT + 0.5
    assert scheduler.broker_paused()


@pytest.mark.django_db(transaction=True)
def test_a_run_past_its_window_is_skipped_and_a_late_one_expires_sooner(broker, own_redis, no_heartbeat_redis) -> None:
    app = broker(own_redis.url)
    scheduler = beat.Scheduler(app=app)
    scheduler.apply_entry(ModelEntry(minute_job("stale", due_seconds_ago=70), app=app), producer=None)
    assert queued(own_redis) == []  # the broker's return brings no burst of these
    scheduler.apply_entry(ModelEntry(minute_job("late", due_seconds_ago=30), app=app), producer=None)
    (message,) = queued(own_redis)
    expires = timezone.datetime.fromisoformat(message["headers"]["expires"])
    assert timedelta(seconds=20) < expires - timezone.now() < timedelta(seconds=26)  # 55 - 30


@pytest.mark.django_db(transaction=True)
def test_a_run_without_a_window_missed_while_the_broker_refused_is_sent_once_when_it_answers(
    broker, own_redis, no_heartbeat_redis
) -> None:
    """A nightly job (the backup) is sent late rather than skipped for a day."""
    app = broker(own_redis.url)
    scheduler = beat.Scheduler(app=app)
    scheduler.apply_entry(ModelEntry(nightly_job("backup"), app=app), producer=None)  # sends, warms the connection
    own_redis.client.delete("celery")
    own_redis.refuse("oom")
    scheduler.apply_entry(ModelEntry(nightly_job("backup 2"), app=app), producer=None)
    assert list(scheduler.missed) == ["backup 2"] and scheduler.broker_paused()
    own_redis.client.config_set("maxmemory", 0)
    scheduler._broker_down_until = 0.0  # BROKER_PAUSE_SECONDS later
    scheduler.send_missed()
    assert [m["headers"]["task"] for m in queued(own_redis)] == ["ops.tasks.flush_metrics"]
    assert scheduler.missed == {}
    scheduler.send_missed()
    assert len(queued(own_redis)) == 1  # once


def test_a_hung_redis_does_not_make_a_live_beat_down(own_redis, settings, tmp_path) -> None:
    """The watchdog's beat check read the heartbeat from the hung Redis (the
    broker's) and timed out: "beat down" in a broker outage."""
    settings.OPS_BEAT_HEARTBEAT_FILE = str(tmp_path / "beat-heartbeat")
    settings.REDIS_URL = own_redis.url
    project_app.conf.task_always_eager = False  # beat is expected (restored by the isolation fixture)
    heartbeat.beat()
    own_redis.pause()
    result = heartbeat.check_beat()
    assert result.status == "healthy", result.message
