"""gunicorn's settings: workers recycled rarely and not together, and the
Prometheus directory belongs to this deployment (not a shared /tmp path)."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "lms" / "gunicorn.conf.py"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER"):
        # setenv first so that the teardown removes what the file sets.
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    conf = runpy.run_path(str(CONF))
    assert conf["max_requests"] >= 20000 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    # Inside this deployment's own folder, not a directory shared by every
    # deployment on the host (a second one would wipe it at start).
    assert path == CONF.parents[1] / "var" / "prometheus"
