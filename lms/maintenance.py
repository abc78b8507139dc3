"""Whether the site is in maintenance mode, for apps that cannot import ops.

ops owns the switch (a waffle Switch, remembered per process) and registers
its reader here when it is ready; analytics asks `active()` before writing
events, so a restore under maintenance mode is not raced by event inserts.
With no reader registered (learning or analytics used alone) it is never on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_readers: list[Callable[[], bool]] = []


def register(reader: Callable[[], bool]) -> None:
    if reader not in _readers:
        _readers.append(reader)


def active() -> bool:
    for reader in _readers:
        try:
            if reader():
                return True
        except Exception:  # an unreadable switch must not stop event tracking
            logger.warning("maintenance reader %r failed", reader, exc_info=True)
    return False
