"""The request being served, for code that runs inside it without being handed
it: the audit log (who and from where) and tracking (the visitor's Global
Privacy Control signal). None in Celery tasks and management commands."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_current_request: ContextVar[HttpRequest | None] = ContextVar("lms_current_request", default=None)


def current_request() -> HttpRequest | None:
    return _current_request.get()


class RequestContextMiddleware:
    """Placed right after AuthenticationMiddleware; the user is read lazily, so
    a DRF token authenticated later in the view is seen too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
