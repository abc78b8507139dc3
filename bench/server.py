"""The project's gunicorn in a process of its own, for the benchmarks and the
tests that need a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def gunicorn(env: dict[str, str], *, app: str = "lms.wsgi", out: IO[Any] | int = subprocess.DEVNULL, **kwargs: Any):
    """gunicorn with lms/gunicorn.conf.py serving `app` (GUNICORN_* in `env`
    set its address and workers); its output, both streams, to `out`."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "lms/gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out is not subprocess.DEVNULL else subprocess.DEVNULL,
        **kwargs,
    )
