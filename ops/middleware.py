from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.template.loader import render_to_string
from django.urls import Resolver404, ResolverMatch, get_resolver
from django.utils.cache import patch_vary_headers
from django_prometheus.middleware import PrometheusAfterMiddleware

from analytics import pending
from analytics.middleware import record_served
from lms import cache as lms_cache
from lms.api import error_body
from lms.tokens import token_lookup
from ops import flag_metrics, metrics, status_page

logger = logging.getLogger(__name__)


class RequestMetricsMiddleware:
    """Counts every request by route pattern and method, with its duration.

    Sits right after the request-id middleware so the time covers almost the
    whole stack (sessions, auth, the view, templates)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        # The request's analytics events to buffer (analytics.pending.defer)
        # and an answer's after-commit cache writes (lms.cache.held_for_request):
        # sent in the metrics' own Redis call below, not round trips (or an
        # INSERT) of their own.
        request.analytics_pending = pending_events = []  # type: ignore[attr-defined]
        with lms_cache.held_for_request() as held:
            response = self.get_response(request)
            duration_ms = (time.perf_counter() - started) * 1000
            match = getattr(request, "resolver_match", None) or _resolve(request)
            route = metrics.route_label(match.route if match else None, request.path)
            method = request.method or "GET"
            current = metrics.store()
            push = pending.fold_into(pending_events, current) if pending_events else None
            also = held.queue_on(current.client) if held and isinstance(current, metrics.RedisStore) else None
            sent = metrics.record(method, route, duration_ms, response.status_code, push=push, also=also)
            if sent and also is not None:
                held.clear()
            # Otherwise held_for_request sends them on its way out.
        if pending_events and not (sent and push is not None):
            pending.push_encoded(pending_events)
        flag_metrics.record(request, duration_ms, response.status_code)
        if settings.OPS_METRICS_SELF_FLUSH:
            metrics.flush_local_if_due()
        return response


def _resolve(request: HttpRequest) -> ResolverMatch | None:
    """The route of a request answered before URL resolution (a middleware's
    503 while the database is down or in maintenance, an HTTPS redirect), so
    an outage's errors count against their route, not "<unmatched>"."""
    try:
        return get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
    except Resolver404:
        return None


class StatusFallbackMiddleware:
    """The public status page and its API never answer a 500: whatever fails
    underneath (the database behind a signed-in user's session, a middleware,
    the view), the last good copy is served instead (see ops.status_page)."""

    PATHS = {"/status/": False, "/api/v1/status/": True}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = self.PATHS.get(request.path)
        if api is None:
            return self.get_response(request)
        response = self.get_response(request)
        if response.status_code >= 500 and not getattr(response, "status_fallback", False):
            return status_page.fallback_response(api=api)
        return response


class StatusFastPathMiddleware:
    """An anonymous GET of the status page, once its rendered page is cached,
    is answered here, above the sessions, CSRF, authentication, flags and the
    view: nothing under this middleware would change that response. The page
    and its headers come from the view's own code (`status_page.page_response`);
    what the middleware below would have added is added the same way (the
    `Vary: Cookie` of the session the view reads, Django's Content-Length and
    X-Frame-Options, django-prometheus' per-view counts), and the page view is
    recorded as the analytics middleware records it. Everything above (request
    id, request metrics, the fallback, security headers and the HTTPS redirect,
    CSP, the input guard) runs as for any request.

    Not taken, so the view answers: with a session cookie (someone may be
    signed in), for another method, or when the page is not cached yet (the
    view renders and caches it) or Redis is unreachable (a miss)."""

    PATH = "/status/"
    VIEW_NAME = "status"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)
        self.x_frame = XFrameOptionsMiddleware(get_response)
        self.prometheus = PrometheusAfterMiddleware(get_response)
        self._matches: dict[str, ResolverMatch | None] = {}

    def _match(self, request: HttpRequest) -> ResolverMatch | None:
        """The path's match, resolved once per URLconf (walking the patterns
        was a tenth of the request's time); the same object each time, which
        nothing changes."""
        urlconf = str(getattr(request, "urlconf", None) or settings.ROOT_URLCONF)
        if urlconf not in self._matches:
            self._matches[urlconf] = _resolve(request)
        return self._matches[urlconf]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != self.PATH or request.method != "GET" or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return self.get_response(request)
        started = time.perf_counter()
        match = self._match(request)
        if match is None or match.view_name != self.VIEW_NAME:
            return self.get_response(request)
        page = status_page.cached_page()
        if page is None:
            return self.get_response(request)
        request.resolver_match = match
        self.prometheus.process_request(request)
        self.prometheus.process_view(request, match.func, match.args, match.kwargs)
        try:
            response = status_page.page_response(page.html, public=True, page=page, request=request)
        except DatabaseError:  # the watchdog's overlay reads the data while it reports outages
            response = status_page.fallback_response(api=False)
        # Innermost first, as the stack runs them.
        for middleware in (self.prometheus, self.x_frame, self.common):
            response = middleware.process_response(request, response)
        # The full stack's view reads the (empty) session to learn the visitor
        # is anonymous, so SessionMiddleware varies the response on Cookie.
        patch_vary_headers(response, ("Cookie",))
        record_served(request, response, started=started)
        return response


# Reachable while maintenance mode is on: probes, metrics, the status page,
# the admin and the log-in page (so staff can still sign in), static files.
MAINTENANCE_EXEMPT = ("/health/", "/metrics", "/status/", "/api/v1/status/", "/admin/", "/accounts/login/", "/static/")
LOGIN_PATH = "/accounts/login/"


class MaintenanceModeMiddleware:
    """While the `maintenance-mode` switch is on, everyone but staff gets a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from ops.services import maintenance_message, maintenance_mode_on

        if request.path.startswith(LOGIN_PATH):
            # The log-in page stays open for staff; everyone else is told
            # before they sign in, not after (registration/login.html).
            request.maintenance_notice = maintenance_message() if maintenance_mode_on() else ""
            return self.get_response(request)
        if request.path.startswith(MAINTENANCE_EXEMPT) or not maintenance_mode_on():
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return self.get_response(request)
        if user is None or not user.is_authenticated:
            # API clients sending a token are authenticated by DRF later, not here.
            user = _token_user(request)
            if user is not None and user.is_staff:
                return self.get_response(request)
        message = maintenance_message()
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            response: HttpResponse = JsonResponse(
                error_body(
                    "maintenance",
                    message,
                    {"retry_after": settings.OPS_MAINTENANCE_RETRY_AFTER},
                ),
                status=503,
            )
        else:
            response = HttpResponse(
                render_to_string("ops/maintenance.html", {"message": message}, request=request), status=503
            )
        response["Retry-After"] = str(settings.OPS_MAINTENANCE_RETRY_AFTER)
        return response


def _token_user(request: HttpRequest) -> object | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Token "):
        return None
    token = token_lookup(header[6:].strip())
    return token.user if token else None
