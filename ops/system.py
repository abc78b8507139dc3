"""System resources from psutil (CPU, memory, disk, uptime)."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
from django.conf import settings

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
