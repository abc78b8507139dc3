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
from django.http import HttpRequest

from lms.request_context import current_request

logger = logging.getLogger(__name__)

# Sent with: name (str), user (User | None), session_key (str), properties (dict)
event_tracked = Signal()


def tracking_allowed(*, user: Any = None, request: HttpRequest | None = None) -> bool:
    """False when the person opted out of analytics in their profile, or the
    browser sends Global Privacy Control (`Sec-GPC: 1`). `request` defaults to
    the one being served; the user is read lazily, after DRF authenticated."""
    request = request if request is not None else current_request()
    if request is not None:
        if request.headers.get("Sec-GPC", "").strip() == "1":
            return False
        if user is None:
            user = getattr(request, "user", None)
    return not (user is not None and getattr(user, "analytics_opt_out", False))


def track(name: str, *, user: Any = None, session_key: str = "", **properties: Any) -> None:
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if not tracking_allowed(user=user):
        return
    for receiver, result in event_tracked.send_robust(
        sender=None, name=name, user=user, session_key=session_key or "", properties=properties
    ):
        if isinstance(result, Exception):
            logger.warning("event receiver %r failed for %s: %r", receiver, name, result)
