"""/metrics under gunicorn with several workers adds up every worker's requests."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bench.server import gunicorn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _health_requests(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "django_http_responses_total_by_status_view_method":
            return sum(
                s.value for s in family.samples if s.name.endswith("_total") and s.labels.get("view") == "health"
            )
    return 0.0


def test_metrics_sum_over_gunicorn_workers(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},
        "LMS_TESTING": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "3",
        "GUNICORN_THREADS": "1",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
    }
    env.pop("DATABASE_URL", None)
    server = gunicorn(env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"{base}/health/live/")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        for _ in range(30):
            _get(f"{base}/health/")
        for _ in range(6):  # several scrapes land on different workers and agree
            total = _health_requests(_get(f"{base}/metrics").decode())
            assert total == 30
        files = list((tmp_path / "prom").glob("*.db"))
        pids = {f.stem.rsplit("_", 1)[-1] for f in files}
        assert len(pids) >= 2, "requests were served by a single worker"
    finally:
        server.terminate()
        server.wait(timeout=30)
