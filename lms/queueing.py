"""Handing work to Celery from a request, without the request failing when
the broker cannot take it.

A task sent once a transaction commits (`transaction.on_commit`) runs after
the view has made its changes; a broker that is down or hung then raised out
of the commit and the request answered 500 with its rows already saved (an
import's job, a data export, a sign-up). Celery now gives up on a broker
within CELERY_BROKER_SOCKET_TIMEOUT (ops.beat's settings, docs/ops.md); here
that failure is logged, counted in `lms_task_enqueue_failures_total`, and
handed to the caller, which tells the user or marks its record so it does not
wait for a task that will never run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError
from prometheus_client import Counter

logger = logging.getLogger(__name__)

enqueue_failures = Counter(
    "lms_task_enqueue_failures_total",
    "Tasks a request could not hand to the broker (down, hung or refusing), by task",
    ["task"],
)


def enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """`task.delay(*args, **kwargs)`; False, logged and counted, when the
    broker cannot take it. (In eager mode the task runs here, and an error of
    its own is raised as before: only the broker's failure is caught.)"""
    try:
        task.delay(*args, **kwargs)
    except OperationalError as exc:
        enqueue_failures.labels(task=task.name).inc()
        logger.error("could not queue %s%r: the broker did not take it (%s)", task.name, args, exc)
        return False
    return True


def enqueue_on_commit(task: Any, *args: Any, on_failure: Callable[[], None] | None = None, **kwargs: Any) -> None:
    """`enqueue` once the current transaction commits (at once outside one);
    `on_failure` runs if the broker did not take it."""

    def send() -> None:
        if not enqueue(task, *args, **kwargs) and on_failure is not None:
            on_failure()

    transaction.on_commit(send)
