"""A Celery app for tests/lms/test_process_exit.py: the project's app with
one test-only task that leaves its pool process owing a cache invalidation."""

from __future__ import annotations

from lms.celery import app

__all__ = ["app", "owe_invalidation"]


@app.task(name="tests.owe_invalidation")
def owe_invalidation(key: str) -> int:
    """Invalidate `key` while this process's breaker is open (as after a
    Redis timeout): the delete is kept, owed, not sent."""
    from lms import cache as lms_cache

    lms_cache._trip(TimeoutError("test: Redis did not answer"))
    lms_cache.invalidate(delete=[key])
    return len(lms_cache._unsent)
