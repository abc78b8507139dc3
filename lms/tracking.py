"""The one way any app reports a product event.

`learning` calls `track("deck_created", user=..., deck_id=...)` and knows nothing
else; the analytics app connects a receiver to `event_tracked` and stores the
event. With no receiver connected the call is a cheap no-op, so `learning`
stays usable alone. A failing receiver is logged, never raised: tracking must
not break the request that triggered it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent with: name (str), user (User | None), session_key (str), properties (dict)
event_tracked = Signal()


def track(name: str, *, user: Any = None, session_key: str = "", **properties: Any) -> None:
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    for receiver, result in event_tracked.send_robust(
        sender=None, name=name, user=user, session_key=session_key or "", properties=properties
    ):
        if isinstance(result, Exception):
            logger.warning("event receiver %r failed for %s: %r", receiver, name, result)
