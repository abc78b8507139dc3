from __future__ import annotations

import time

from celery import Task, shared_task


@shared_task(bind=True, max_retries=3, default_retry_delay=5, acks_late=True)
def ping(self: Task, payload: str = "pong") -> dict:
    """Round-trips through the broker and a worker; `/health/detailed/` and the
    worker test use it to prove the background path end to end."""
    return {"payload": payload, "worker": self.request.hostname, "at": time.time()}
