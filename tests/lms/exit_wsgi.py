"""The project's WSGI application under gunicorn for tests/lms/test_process_exit.py,
with one test-only path that leaves the worker owing a cache invalidation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lms.wsgi import application as django_application


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] != "/test-owe-invalidation/":
        return django_application(environ, start_response)
    from lms import cache as lms_cache

    # As after a Redis timeout: the breaker open, the delete kept, owed.
    lms_cache._trip(TimeoutError("test: Redis did not answer"))
    lms_cache.invalidate(delete=[environ["QUERY_STRING"]])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(lms_cache._unsent)).encode()]
