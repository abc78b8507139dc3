"""Errors a service raises when a request cannot be carried out.

Services raise these (or Django's ValidationError); the API's exception handler
turns them into the DESIGN.md error body and HTML views into a message.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "invalid"
    retry_after: int | None = None  # seconds, sent as Retry-After (and in the details)

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable"


class Unavailable(ServiceError):
    """A service the request needs (the task queue) cannot take it now: try again shortly."""

    status = 503
    code = "unavailable"
    retry_after = 30


class TooLarge(ServiceError):
    status = 413
    code = "too_large"
