"""Calls run at the same instant in threads, each on its own database
connection: how the tests race two requests for the same rows."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_together(*calls: Callable[[], object]) -> list[object]:
    """Run the calls in threads released at once; their results, or the exceptions they raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(i: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # handed to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results
