"""System resources from psutil (CPU, memory, disk, uptime)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import psutil
from django.conf import settings
from django.core.cache import cache

_STARTED = time.time()


def process_uptime_seconds() -> int:
    return int(time.time() - _STARTED)


def snapshot(cpu_interval: float = 0.2) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(settings.BASE_DIR))
    return {
        "cpu": {"percent": psutil.cpu_percent(interval=cpu_interval), "count": os.cpu_count() or 1},
        "memory": {
            "total_mb": round(memory.total / 1024**2),
            "used_mb": round((memory.total - memory.available) / 1024**2),
            "available_mb": round(memory.available / 1024**2),
            "percent": round(memory.percent, 1),
        },
        "disk": {
            "total_gb": round(disk.total / 1024**3, 1),
            "used_gb": round(disk.used / 1024**3, 1),
            "percent": round(disk.percent, 1),
        },
        "uptime_seconds": int(time.time() - psutil.boot_time()),
        "process_uptime_seconds": process_uptime_seconds(),
    }


# --- What detection measures ----------------------------------------------------------------
# A 0.2 s cpu_percent sample taken when beat fires its every-minute tasks sees
# that burst, not the minute: three such samples opened a public SEV1 on an
# idle service. Detection instead takes the CPU's busy share over the whole
# interval since its previous pass on this host (psutil.cpu_times deltas kept
# in the cache), which a few seconds of burst barely move.

CPU_TIMES_KEY = "ops:cpu-times:{host}"
FIRST_SAMPLE_SECONDS = 1.0


def busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds from a psutil.cpu_times() result (idle and iowait are not busy)."""
    total = sum(times)
    idle = getattr(times, "idle", 0.0) + getattr(times, "iowait", 0.0)
    return total - idle, total


def percent_between(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """Busy share (%) between two (busy, total) readings; None when no time passed."""
    busy, total = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return None
    return round(max(0.0, min(100.0, 100 * busy / total)), 1)


def cpu_percent_since_last(*, times: Any = None) -> float:
    """CPU use averaged since the previous call on this host (first call: a one-second sample)."""
    key = CPU_TIMES_KEY.format(host=socket.gethostname())
    now = busy_and_total(times if times is not None else psutil.cpu_times())
    before = cache.get(key)
    cache.set(key, now, 3600)
    percent = percent_between(tuple(before), now) if before else None
    if percent is None:
        percent = psutil.cpu_percent(interval=FIRST_SAMPLE_SECONDS)
    return percent


def for_detection(*, times: Any = None) -> dict[str, Any]:
    """CPU (averaged over the interval since the last pass), memory and disk use, in percent."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(settings.BASE_DIR))
    return {
        "cpu": {"percent": cpu_percent_since_last(times=times)},
        "memory": {"percent": round(memory.percent, 1)},
        "disk": {"percent": round(disk.percent, 1)},
    }
