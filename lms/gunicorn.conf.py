"""gunicorn settings for production (`gunicorn -c lms/gunicorn.conf.py lms.wsgi`).

Prometheus multiprocess mode: every worker writes its metrics to files in
PROMETHEUS_MULTIPROC_DIR and /metrics sums them, so counters are right however
many workers answer; the directory is emptied when the server starts and a
dead worker's live gauges are dropped.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from typing import Any

bind = os.getenv("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.getenv("GUNICORN_WORKERS", str(multiprocessing.cpu_count() * 2 + 1)))
threads = int(os.getenv("GUNICORN_THREADS", "2"))
timeout = int(os.getenv("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycling a worker now and then bounds slow leaks; at a few hundred requests
# a second 2,000 meant a restart every ~20 s per worker. The jitter keeps the
# workers from restarting together.
max_requests = int(os.getenv("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = int(os.getenv("GUNICORN_MAX_REQUESTS_JITTER", str(max(1, max_requests // 10))))
accesslog = None  # the app writes JSON access lines itself (LOG_REQUESTS)
errorlog = "-"
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Per deployment (under the project folder), never a shared /tmp path: every
# server empties this directory when it starts, and a second deployment on the
# same host must not wipe the first one's metrics.
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(PROJECT_DIR, "var", "prometheus"))


def on_starting(server: Any) -> None:
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
