"""What a process still owes others when it exits: the cache invalidations it
could not send (lms.cache) and the request metrics it holds in memory
(ops.metrics). Each registers its hook here; this module runs them on every
exit path that lets code run:

- an interpreter that ends normally, through `atexit`: a gunicorn worker
  recycled after `max_requests` or stopped (its loop ends and it calls
  `sys.exit`), Celery's main process, beat, management commands;
- a Celery prefork pool process, through Celery's `worker_process_shutdown`
  (connected in lms.celery): billiard ends its children with `os._exit`,
  which skips `atexit`, whether the child is recycled after
  `worker_max_tasks_per_child` or stopped with the pool at a warm shutdown.

A process killed (SIGKILL, the kernel's OOM killer, a cold shutdown's
SIGTERM to a busy pool process, gunicorn's worker timeout) runs nothing.

The hooks run once per process, in the order registered, each in turn even
when one fails, and never raise. They are bounded by their own stores'
timeouts (the cache's socket timeouts, a quarter of a second; the database's
connect timeout), so a dead Redis or database never hangs a shutdown.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable

logger = logging.getLogger(__name__)

Hook = Callable[[], None]
_hooks: list[Hook] = []
_ran_in = 0  # the pid that ran them: a forked child starts owing its own


def register(hook: Hook) -> Hook:
    """Run `hook` when this process exits (usable as a decorator)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def run() -> None:
    """Run every hook, once per process."""
    global _ran_in
    if _ran_in == os.getpid():
        return
    _ran_in = os.getpid()
    for hook in _hooks:
        try:
            hook()
        except Exception:  # exiting: the next hook still runs
            logger.exception("exit hook %s failed", hook.__qualname__)


def forget_run() -> None:
    """Let `run` run again in this process (tests)."""
    global _ran_in
    _ran_in = 0


atexit.register(run)
