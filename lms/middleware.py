from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import re
import time
import uuid
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.log import log_response

from lms.inputs import BadInput, check_json_text, check_pairs, check_text
from lms.logging import request_id_var
from lms.views import bad_input, too_large

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
request_logger = logging.getLogger("lms.request")


def loggable_path(request: HttpRequest) -> str:
    """The path with secrets in it masked: a password-reset link carries a
    token that resets the account until it expires, and logs are read by many."""
    match = getattr(request, "resolver_match", None)
    path = request.path
    for name in ("token", "uidb64"):
        value = match.kwargs.get(name) if match is not None else None
        if value:
            path = path.replace(str(value), f"<{name}>")
    return path


class RequestIdMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` when it is sane,
    a fresh one otherwise), puts it on every log line and returns it. With
    LOG_REQUESTS on (production), it also writes one access line per request,
    so the access log is JSON like everything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            if response.status_code >= 400:
                # Django logs 4xx/5xx responses ("Not Found: /x") after the
                # outermost middleware has returned, when the id is already
                # reset: log it here, while the id is set (log_response marks
                # the response, so Django does not log it twice).
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
            if settings.LOG_REQUESTS:
                path = loggable_path(request)
                request_logger.info(
                    "%s %s %s",
                    request.method,
                    path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_id": getattr(getattr(request, "user", None), "pk", None),
                    },
                )
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # The interactive API docs set their own, looser policy.
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


class UserTimezoneMiddleware:
    """Shows times in the signed-in user's own time zone; storage stays UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.timezone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


class InternalEndpointsMiddleware:
    """`/metrics` and `/health/detailed/` tell whoever asks about our routes,
    traffic, database, disk and workers, so they answer only:

    - a request carrying `Authorization: Bearer <METRICS_TOKEN>` (Prometheus's
      `authorization` setting; the uptime probe's header), or
    - a client whose address (REMOTE_ADDR, never a forwarded header) is in
      `INTERNAL_ALLOWED_NETWORKS`, or
    - anyone, when no token is set and `INTERNAL_ENDPOINTS_OPEN` is on (its
      default is DEBUG: open on a laptop, closed in production).

    The plain probes (/health/, live, ready) stay open."""

    PATHS = ("/metrics", "/health/detailed/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path not in self.PATHS or self._allowed(request):
            return self.get_response(request)
        if settings.METRICS_TOKEN:
            response = JsonResponse(
                {"error": {"code": "not_authenticated", "message": "A bearer token is required.", "details": {}}},
                status=401,
            )
            response["WWW-Authenticate"] = "Bearer"
            return response
        return JsonResponse(
            {
                "error": {
                    "code": "permission_denied",
                    "message": "Internal endpoint: set METRICS_TOKEN or INTERNAL_ALLOWED_NETWORKS to reach it.",
                    "details": {},
                }
            },
            status=403,
        )

    @staticmethod
    def _allowed(request: HttpRequest) -> bool:
        token = settings.METRICS_TOKEN
        if token:
            sent = request.headers.get("Authorization", "")
            if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return True
        elif settings.INTERNAL_ENDPOINTS_OPEN:
            return True
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in _networks(tuple(settings.INTERNAL_ALLOWED_NETWORKS)))


@functools.lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in spec]


class RequestSizeMiddleware:
    """Refuse a body over MAX_REQUEST_BYTES (a deck import's: over
    IMPORT_MAX_UPLOAD_BYTES) from its Content-Length, before
    Django streams it to a temporary file: DATA_UPLOAD_MAX_MEMORY_SIZE does not
    count uploaded files, so nothing else stops a 5 GB "import" filling the disk."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES and (
            length > settings.IMPORT_MAX_UPLOAD_BYTES or not _is_import_upload(request)
        ):
            return too_large(request)
        return self.get_response(request)


def _is_import_upload(request: HttpRequest) -> bool:
    """A POST to a deck import (page or API, settings.IMPORT_UPLOAD_VIEWS):
    its cap is IMPORT_MAX_UPLOAD_BYTES; Django streams the file to a
    temporary file on disk and the importer reads it from there."""
    if request.method != "POST":
        return False
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in settings.IMPORT_UPLOAD_VIEWS


class InputGuardMiddleware:
    """Refuses, with a 400, input the database cannot store or the parser cannot
    survive (see lms.inputs): NUL or lone surrogates in the path, a query
    parameter, a form field or an uploaded file's name; JSON nested deeper than
    INPUT_MAX_JSON_DEPTH or holding such a string; any single string over
    INPUT_MAX_STRING_CHARS. Runs before sessions, django-axes and analytics, so a
    refused request writes nothing."""

    FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            self._check(request)
        except BadInput as exc:
            return bad_input(request, exc)
        except (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
            return too_large(request)
        except MultiPartParserError:
            return bad_input(request, BadInput("The form body could not be read.", where="body", code="bad_request"))
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        max_chars = settings.INPUT_MAX_STRING_CHARS
        check_text(request.path, where="path", max_chars=max_chars)
        check_pairs(_pairs(request.GET), kind="query parameter", max_chars=max_chars)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        content_type = request.content_type or ""
        if content_type in self.FORM_TYPES:
            if request.method == "POST":
                form, files = request.POST, request.FILES
            elif content_type == self.FORM_TYPES[0]:
                form, files = QueryDict(request.body, encoding=request.encoding), None
            else:
                return  # a multipart PUT/PATCH: DRF parses it; nothing here sends one
            check_pairs(_pairs(form), kind="form field", max_chars=max_chars)
            if files:
                check_pairs(((name, f.name or "") for name, f in files.items()), kind="file", max_chars=max_chars)
        elif content_type.endswith("json"):
            text = request.body.decode("utf-8", errors="replace")
            check_json_text(text, max_depth=settings.INPUT_MAX_JSON_DEPTH, max_chars=max_chars)


def _pairs(query: object) -> list[tuple[str, str]]:
    return [(key, value) for key, values in query.lists() for value in values]  # type: ignore[attr-defined]


class IdleTimeoutMiddleware:
    """Signs a browser session out after SESSION_IDLE_MINUTES without a request
    (SESSION_IDLE_MINUTES_STAFF for staff, who can change more): a school
    computer left signed in is not an open account for the next person.

    The time of the last request is kept in the session (stamped at log-in),
    rewritten at most every five minutes so pages do not write the session on
    every request. API tokens are not sessions and are not affected."""

    KEY = "_last_seen"
    RESOLUTION_SECONDS = 300

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(self.KEY)
            limit_minutes = (
                settings.SESSION_IDLE_MINUTES_STAFF
                if user.is_staff or getattr(user, "role", "") == "admin"
                else settings.SESSION_IDLE_MINUTES
            )
            if limit_minutes and isinstance(last_seen, int) and now - last_seen > limit_minutes * 60:
                logout(request)
                messages.info(request, f"You were signed out after {limit_minutes} minutes without activity.")
            elif not isinstance(last_seen, int) or now - last_seen >= self.RESOLUTION_SECONDS:
                request.session[self.KEY] = now
        return self.get_response(request)


def stamp_session_on_login(sender: object, request: HttpRequest | None, user: object, **kwargs: object) -> None:
    """Start the idle clock at log-in (connected in lms.apps)."""
    if request is not None and hasattr(request, "session"):
        request.session[IdleTimeoutMiddleware.KEY] = int(time.time())
