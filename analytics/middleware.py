"""Records page views, API requests and errors.

Sits right after AxesMiddleware (so `request.user` is known). Every event
recorded while the request runs (login, signup, domain events from
`lms.tracking.track`) goes into the same buffer; once the response is ready
they are handed with the automatic ones to `analytics.pending.defer`, which
pushes them to Redis in the request-metrics call every request makes (no
round trip of their own) for the bulk flush, or writes them with one INSERT
when there is no Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from analytics import pending, services
from lms.tracking import tracking_allowed

logger = logging.getLogger(__name__)

SKIP_PREFIXES = ("/static/", "/media/", "/metrics", "/health/", "/favicon.ico")


def route_of(request: HttpRequest) -> str:
    """The URL pattern, not the path, so /decks/<int:pk>/ is one page whatever the id."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return ""
    return "/" + str(match.route).lstrip("^").replace("\\Z", "").replace("$", "")


class AnalyticsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not services.enabled() or request.path.startswith(SKIP_PREFIXES):
            return self.get_response(request)
        buffer = services.RequestBuffer(request=request)
        token = services.current_buffer.set(buffer)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            services.current_buffer.reset(token)
        _finish(request, response, started, buffer)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        request._analytics_exception = exception


def record_served(request: HttpRequest, response: HttpResponse, *, started: float) -> None:
    """The events this middleware records for a response served above it,
    without the rest of the stack (ops' fast path for the anonymous status
    page): the same page view. `started` is a `time.perf_counter()` reading
    taken when the request came in. The event (anonymous: there is no session
    above the stack) is buffered in Redis, with the request metrics' Redis
    call, and written in bulk (`analytics.pending`), as every request's are."""
    if services.enabled() and not request.path.startswith(SKIP_PREFIXES):
        _finish(request, response, started, services.RequestBuffer(request=request))


def _finish(request: HttpRequest, response: HttpResponse, started: float, buffer: services.RequestBuffer) -> None:
    try:
        _automatic(request, response, (time.perf_counter() - started) * 1000, buffer)
    except Exception:
        logger.exception("analytics middleware failed")
    pending.defer(request, buffer.events)


def _automatic(
    request: HttpRequest, response: HttpResponse, duration_ms: float, buffer: services.RequestBuffer
) -> None:
    user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    route = route_of(request)
    session_key = services.request_session_key(request)
    status = response.status_code
    # Opted out (profile setting or Global Privacy Control): no page views
    # or API calls; a server error is still counted, tied to nobody.
    allowed = tracking_allowed(user=user, request=request)
    if not allowed:
        user, session_key = None, ""

    def add(name: str, **properties: object) -> None:
        buffer.events.append(
            services.Event(
                name=name, user=user, session_key=session_key, properties=services.clean_properties(properties)
            )
        )

    # Only server errors count: a view raising Http404 or PermissionDenied
    # (a hidden class, a stale link) answered correctly with a 4xx.
    exception = getattr(request, "_analytics_exception", None)
    if status >= 500:
        add(
            "error",
            type=type(exception).__name__ if exception is not None else f"HTTP{status}",
            message=str(exception)[:300] if exception is not None else "",
            route=route or "(unresolved)",
            method=request.method,
            status=status,
        )
    if not route or not allowed:
        return
    if request.path.startswith("/api/"):
        add("api_request", route=route, method=request.method, status=status, duration_ms=round(duration_ms, 1))
    elif (
        request.method == "GET"
        and 200 <= status < 300  # a redirect or a refusal is not a page someone saw
        and response.get("Content-Type", "").startswith("text/html")
    ):
        add("page_view", route=route, status=status, duration_ms=round(duration_ms, 1))
