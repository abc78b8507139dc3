"""What a process owes others is sent when it exits (lms.process_exit): the
cache invalidations it could not send and the request metrics it holds.
gunicorn workers exit through `sys.exit` (atexit runs); Celery's prefork
pool processes through billiard's `os._exit` (atexit does not), after
Celery's `worker_process_shutdown`, which lms.celery connects."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from celery.signals import worker_process_shutdown
from django.core.cache import cache
from django.db.models import Sum
from prometheus_client import REGISTRY

from bench.server import gunicorn
from lms import cache as lms_cache
from lms import process_exit
from ops import metrics
from ops.models import RequestMetric
from tests.ops.test_health_dependencies import redis_cache
from tests.ports import closed_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _exit_hooks_not_run() -> Iterator[None]:
    process_exit.forget_run()
    yield
    process_exit.forget_run()


@pytest.fixture
def server(settings, own_redis) -> object:
    settings.CACHES = redis_cache(own_redis.url)
    return own_redis


def pool_process_exits() -> None:
    """What Celery's prefork pool does in a pool process just before billiard's os._exit."""
    worker_process_shutdown.send(sender="celery@test", pid=os.getpid(), exitcode=0)


def lost() -> float:
    return REGISTRY.get_sample_value("lms_cache_unsent_invalidations_total", {"outcome": "lost"}) or 0.0


def owe(key: str) -> None:
    """Invalidate `key` while this process's breaker is open (as after a Redis timeout)."""
    lms_cache._trip(TimeoutError("timed out"))
    lms_cache.invalidate(delete=[key])
    assert len(lms_cache._unsent) == 1


def test_a_pool_process_exiting_sends_the_invalidations_it_owes(server) -> None:
    cache.set("visible-decks", "stale")
    owe("visible-decks")
    pool_process_exits()
    assert not server.client.exists(cache.make_key("visible-decks"))
    assert not lms_cache._unsent


def test_a_pool_process_exiting_writes_the_request_metrics_it_holds(settings) -> None:
    settings.OPS_METRICS_SELF_FLUSH = True  # off in tests, on in production
    metrics.set_store(metrics.RedisStore(f"redis://127.0.0.1:{closed_port()}/0", prefix=f"test-exit:{uuid.uuid4()}"))
    metrics.fallback.reset()
    try:
        for _ in range(3):
            metrics.record("GET", "/exit/", 4, 200)
        assert metrics.fallback.has_data()
        pool_process_exits()
        assert RequestMetric.objects.filter(route="/exit/").aggregate(n=Sum("request_count"))["n"] == 3
        assert not metrics.fallback.has_data()
    finally:
        metrics.set_store(None)
        metrics.fallback.reset()
        metrics._paused_until = 0.0


def test_a_hung_redis_does_not_hold_up_the_exit(server) -> None:
    cache.set("visible-decks", "stale")
    owe("visible-decks")
    before = lost()
    server.pause()
    try:
        started = time.monotonic()
        pool_process_exits()
        elapsed = time.monotonic() - started
    finally:
        server.resume()
    assert elapsed < 2  # the cache's socket timeout (0.25 s), not a hang
    assert lost() == before + 1


def test_the_hooks_run_once_per_process_and_each_despite_one_failing(monkeypatch) -> None:
    ran: list[str] = []

    def failing() -> None:
        ran.append("failing")
        raise RuntimeError("boom")

    monkeypatch.setattr(process_exit, "_hooks", [])
    process_exit.register(failing)
    process_exit.register(lambda: ran.append("next"))
    process_exit.run()
    pool_process_exits()  # atexit, or the pool's signal, after the other: nothing more
    assert ran == ["failing", "next"]


# --- Real servers ---------------------------------------------------------------------


def _env(tmp_path: Path, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "DATABASE_URL")}
    (tmp_path / "prom").mkdir(exist_ok=True)
    return {
        **env,
        "REDIS_URL": redis_url,
        "LMS_TESTING": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        **extra,
    }


def _wait_for(done, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"{what}; log:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.redis  # runs with the other real-worker test; Redis of its own all the same
@pytest.mark.parametrize("how", ["recycled", "stopped"])
def test_a_real_prefork_pool_process_sends_what_it_owes_when_it_exits(own_redis, tmp_path, how) -> None:
    key = "lms:1:visible-decks"  # the worker's cache: KEY_PREFIX "lms", version 1
    own_redis.client.set(key, "stale")
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tests.lms.exit_worker", "worker",
                "--pool=prefork", "--concurrency=1", "--loglevel=INFO", "-n", f"exit-{uuid.uuid4().hex}@%h",
                "--without-mingle", "--without-gossip", "--without-heartbeat",
                *(["--max-tasks-per-child=1"] if how == "recycled" else []),
            ],
            cwd=ROOT,
            env=_env(tmp_path, own_redis.url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for(lambda: "ready." in log.read_text(), 60, "the worker did not start", log)
        client = Celery("exit-test", broker=own_redis.url)
        client.send_task("tests.owe_invalidation", args=["visible-decks"])
        _wait_for(lambda: "succeeded" in log.read_text(), 30, "the task did not run", log)
        if how == "stopped":
            worker.terminate()  # a warm shutdown: the pool stops its processes
            worker.wait(timeout=30)
        _wait_for(lambda: not own_redis.client.exists(key), 15, "the entry stayed", log)
        assert "sent the 1 invalidations this process owed" in log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.parametrize("how", ["recycled", "stopped"])
def test_a_real_gunicorn_worker_sends_what_it_owes_when_it_exits(own_redis, tmp_path, how) -> None:
    key = "lms:1:visible-decks"
    own_redis.client.set(key, "stale")
    port = closed_port()
    log = tmp_path / "gunicorn.log"
    env = _env(
        tmp_path,
        own_redis.url,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_MAX_REQUESTS="1" if how == "recycled" else "0",
        GUNICORN_MAX_REQUESTS_JITTER="0",
    )
    with log.open("w") as out:
        server = gunicorn(env, app="tests.lms.exit_wsgi:application", out=out)
    try:
        url = f"http://127.0.0.1:{port}/test-owe-invalidation/?visible-decks"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:  # waits for the worker to boot
                    assert response.read() == b"1"
                break
            except OSError:  # not listening yet
                assert time.monotonic() < deadline, f"gunicorn did not start; log:\n{log.read_text()[-3000:]}"
                time.sleep(0.1)
        if how == "stopped":
            server.terminate()
            server.wait(timeout=30)
        _wait_for(lambda: not own_redis.client.exists(key), 15, "the entry stayed", log)
    finally:
        server.terminate()
        server.wait(timeout=30)
