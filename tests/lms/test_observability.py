from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from prometheus_client.parser import text_string_to_metric_families

from lms.logging import JsonFormatter, RequestIdFilter, request_id_var
from lms.sentry import FILTERED, before_send

ROOT = Path(__file__).resolve().parents[2]


def test_health_basic_reports_status_time_and_version(client):
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert body["version"]
    assert "T" in body["time"]


def test_live_touches_no_dependency(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/health/live/").json() == {"status": "alive"}


def test_ready_when_migrated(client):
    response = client.get("/health/ready/")
    assert response.status_code == 200
    assert response.json()["checks"]["migrations"]["details"]["pending"] == 0


@pytest.mark.django_db(transaction=True)
def test_not_ready_while_a_migration_is_unapplied(client):
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("learning", "0001_initial")
    try:
        response = client.get("/health/ready/")
    finally:
        recorder.record_applied("learning", "0001_initial")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"]["details"]["pending"] == 1
    assert client.get("/health/ready/").status_code == 200


def test_detailed_lists_each_component_with_timing(client):
    response = client.get("/health/detailed/")
    body = response.json()
    assert response.status_code == 200
    assert set(body["components"]) == {"database", "cache", "broker", "workers", "disk"}
    for component in body["components"].values():
        assert component["status"] in {"healthy", "degraded", "unhealthy"}
        assert component["response_time_ms"] >= 0
    assert body["status"] in {"healthy", "degraded"}


def _run_with_env(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


HEALTH_PROBE = """
import django, os, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
django.setup()
from django.test import Client
for url in ("/health/live/", "/health/ready/", "/health/detailed/"):
    r = Client().get(url)
    print(json.dumps({"url": url, "status": r.status_code, "body": r.json()}))
"""


def test_detailed_and_ready_are_503_when_the_database_is_down():
    # A real connection attempt to a port where no PostgreSQL listens.
    result = _run_with_env(HEALTH_PROBE, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", LMS_TESTING="1")
    assert result.returncode == 0, result.stderr
    lines = {row["url"]: row for row in map(json.loads, result.stdout.strip().splitlines())}
    assert lines["/health/live/"]["status"] == 200
    assert lines["/health/ready/"]["status"] == 503
    detailed = lines["/health/detailed/"]
    assert detailed["status"] == 503
    assert detailed["body"]["status"] == "unhealthy"
    assert detailed["body"]["components"]["database"]["status"] == "unhealthy"


def test_metrics_parse_as_prometheus_text_and_grow(client):
    def requests_total() -> float:
        text = client.get("/metrics").content.decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        family = families["django_http_requests_total_by_method"]
        return sum(s.value for s in family.samples if s.name.endswith("_total"))

    before = requests_total()
    for _ in range(3):
        client.get("/health/")
    after = requests_total()
    assert after >= before + 3
    text = client.get("/metrics").content.decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "django_db_execute" in names
    assert any(name.startswith("django_cache") for name in names)


def test_openapi_schema_is_valid_openapi_3(client):
    from drf_spectacular.validation import validate_schema

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    assert "/api/v1/auth/token/" in schema["paths"]
    assert "/api/v1/auth/me/" in schema["paths"]


def test_api_docs_page_loads_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


def test_json_log_lines_carry_the_request_id(capsys):
    record = logging.LogRecord("lms.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )
    line = json.loads(formatter.format(record))
    assert line["message"] == "hello world"
    assert line["request_id"] == "req-42"
    assert line["level"] == "INFO"


def test_sentry_before_send_removes_secrets_everywhere():
    event = {
        "request": {
            "headers": {"Authorization": "Token abc", "Cookie": "sessionid=xyz", "User-Agent": "ua"},
            "cookies": {"sessionid": "xyz"},
            "data": {"username": "sam", "password": "hunter2", "nested": {"api_key": "k", "ok": 1}},
            "query_string": "token=abc",
        },
        "extra": {"settings": {"SECRET_KEY": "s", "DEBUG": False}},
        "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"password": "p", "count": 3}}]}}]},
        "breadcrumbs": {"values": [{"data": {"headers": [["X-CSRFToken", "t"], ["Accept", "json"]]}}]},
    }
    cleaned = before_send(event)
    flat = json.dumps(cleaned)
    for secret in ("Token abc", "xyz", "hunter2", '"k"', '"s"', '"p"', '"t"', "token=abc"):
        assert secret not in flat
    assert cleaned["request"]["data"]["username"] == "sam"
    assert cleaned["request"]["headers"]["User-Agent"] == "ua"
    assert cleaned["request"]["headers"]["Authorization"] == FILTERED
    assert cleaned["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["count"] == 3


def test_sentry_is_initialised_only_with_a_dsn():
    code = "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','lms.settings'); import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())"
    without = _run_with_env(code, SENTRY_DSN="")
    with_dsn = _run_with_env(code, SENTRY_DSN="https://public@sentry.invalid/1")
    assert without.stdout.strip() == "False", without.stderr
    assert with_dsn.stdout.strip() == "True", with_dsn.stderr


@pytest.mark.redis
def test_a_real_worker_runs_the_proof_task():
    """Starts a Celery worker against Redis and round-trips a task through it."""
    redis_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/15"
    env = {**os.environ, "REDIS_URL": redis_url, "LMS_TESTING": "0", "CELERY_TASK_ALWAYS_EAGER": "0"}
    env.pop("PYTEST_CURRENT_TEST", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lms",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=WARNING",
            "-n",
            "proof@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        result = _run_with_env(
            "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','lms.settings'); import django; django.setup();"
            "from lms.tasks import ping; from ops import health, watchdog; import json;"
            "r = ping.delay('hello').get(timeout=45);"
            "print(json.dumps({'payload': r['payload'], 'worker': r['worker'], 'workers': health.check_workers().as_dict(),"
            " 'watchdog': watchdog.bounded('workers', lambda: watchdog.check_workers(3), 3).as_dict()}))",
            REDIS_URL=redis_url,
            LMS_TESTING="0",
            CELERY_TASK_ALWAYS_EAGER="0",
        )
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout.strip().splitlines()[-1])
        assert body["payload"] == "hello"
        assert body["worker"].startswith("proof@")
        assert body["workers"]["status"] == "healthy"
        # The watchdog's own ping (drill: it said "no answer within 0.9 s" of a live worker).
        assert body["watchdog"]["status"] == "healthy", body["watchdog"]
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_access_lines_are_json_with_the_request_id(client, settings):
    import io

    settings.LOG_REQUESTS = True
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s"))
    logger = logging.getLogger("lms.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        response = client.get("/health/live/", HTTP_X_REQUEST_ID="trace-7")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert response["X-Request-ID"] == "trace-7"
    assert line["request_id"] == "trace-7"
    assert line["status"] == 200
    assert line["path"] == "/health/live/"
    assert line["duration_ms"] >= 0


@contextmanager
def request_log_records() -> Iterator[list[logging.LogRecord]]:
    """The records django.request logs inside the block, with their request id."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(("path", "status"), [("/api/v1/auth/token/", 400), ("/api/v1/auth/me/", 401)])
def test_4xx_log_lines_keep_the_request_id(client, path: str, status: int) -> None:
    with request_log_records() as records:
        if status == 400:
            response = client.post(path, {"username": "x"}, HTTP_X_REQUEST_ID="trace-4xx")
        else:
            response = client.get(path, HTTP_X_REQUEST_ID="trace-4xx")
    assert response.status_code == status
    assert len(records) == 1  # logged once, not again by Django's handler
    assert records[0].request_id == "trace-4xx"
    assert records[0].status_code == status


@pytest.mark.parametrize("kind", ["exception", "returned"])
def test_5xx_log_lines_keep_the_request_id(settings, admin, kind: str) -> None:
    from django.test import Client

    from ops import services

    settings.ROOT_URLCONF = "tests.ops.boom_urls"
    if kind == "returned":  # a 503 response from a middleware, not an exception
        services.maintenance_mode_set(on=True, user=admin)
    try:
        with request_log_records() as records:
            response = Client(raise_request_exception=False).get(
                "/test/boom/" if kind == "exception" else "/decks/", HTTP_X_REQUEST_ID="trace-5xx"
            )
    finally:
        services.forget_switch()
    assert response.status_code == (500 if kind == "exception" else 503)
    assert [r.request_id for r in records] == ["trace-5xx"]
