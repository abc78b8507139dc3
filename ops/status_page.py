"""The public status page's data, its caches and its last good copy.

The page must stay up when what it reports on is down, so it is served in
three layers:

1. the whole rendered anonymous page, cached (`PAGE_KEY`) until a probe
   round, an incident, an incident update, a maintenance window or the
   maintenance switch changes it (`forget()` is called by each of those, and
   gives the page a new version, `VERSION_KEY`); each process keeps its own
   copy of the page for as long as the version in Redis is the one it was
   rendered at (`cached_page()`), so serving it costs one small GET, not the
   page fetched and unpickled from Redis; its gzip-compressed body is made
   once per version too (`Page.gzip()`), never per request;
2. a fresh render from the database (`data()`, itself cached as `DATA_KEY`
   for the API);
3. when the database (or anything under the page) fails, the last good copy:
   the anonymous page and the API's JSON are written to files under
   `OPS_STATUS_SNAPSHOT_DIR` on each successful render and served from there.

On top of every layer goes the watchdog's outage state (the JSON file at
`WATCHDOG_STATE_FILE`, components -> {status, since, message}) when it is
present and fresh: the watchdog watches from outside the database and Celery,
so it knows about outages the probes cannot record. `overlay()` puts it on the
data (the API's JSON) and `overlay_page()` on a rendered page through the same
`overlay()`: the banner, each component's badge and the overall status, which
the page marks with `<!--ops:badge:NAME-->…<!--/ops:badge-->` and
`<!--ops:overall-->…<!--/ops:overall-->` so a cached page or its last good copy
is not rendered again.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe

from lms import cache as lms_cache
from lms.cache import guarded, raw_client

logger = logging.getLogger(__name__)

DATA_KEY = "ops:status-page"
# (version, html, rendered at): another key than the plain html of the code
# before it, so old and new processes sharing a Redis during a deploy never
# read each other's entry.
PAGE_KEY = "ops:status-page:page"
# An integer bumped by `forget()`: each process's copy of the page is good
# while this is the version it was rendered at.
VERSION_KEY = "ops:status-page:version"
OUTAGE_MARKER = "<!--ops:outage-state-->"
PAGE_FILE = "status.html"
DATA_FILE = "status.json"
BADGE = re.compile(r"<!--ops:badge:(?P<name>[\w-]+)-->.*?<!--/ops:badge-->", re.S)
OVERALL = re.compile(r"<!--ops:overall-->.*?<!--/ops:overall-->", re.S)
STATUS_LABELS = {
    "operational": "All systems operational",
    "degraded": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "maintenance": "Under maintenance",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def forget() -> None:
    """Drop the cached data and page and give the page a new version (every
    process's copy is out of date): now (this request, and tests, which never
    commit) and again on commit, in case another request cached the old state
    in between. A new random version is as good as the next count (copies
    compare it for equality), and lms.cache keeps it to send again when Redis
    cannot take it now."""

    def drop_local() -> None:
        global _local
        _local = None  # this process: at once, without waiting for a recheck

    drop_local()
    transaction.on_commit(drop_local)
    lms_cache.invalidate(delete=[DATA_KEY, PAGE_KEY], bump=[VERSION_KEY])


def page_version() -> int | None:
    """The page's current version, None when unknown (Redis unreachable or
    emptied). An integer, which django-redis stores as is (not pickled): on
    Redis it is read with one plain GET on the raw client, the one Redis call
    of a page served from this process's copy."""
    client = raw_client()
    if client is None:
        found = cache.get(VERSION_KEY)
    else:
        key = cache.make_key(VERSION_KEY)
        found = guarded(lambda: client.get(key), default=None)
    try:
        return int(found) if found is not None else None
    except (TypeError, ValueError):
        return None


class Page:
    """The rendered anonymous page at a version, and (made once, when first
    asked) its gzip-compressed body with no outage banner, sent as is to
    clients that accept gzip: the page is ~56 KB of repetitive SVG."""

    __slots__ = ("_gzip", "html", "rendered_at", "version")

    def __init__(self, version: int, html: str, rendered_at: float) -> None:
        self.version = version
        self.html = html
        self.rendered_at = rendered_at
        self._gzip: bytes | None = None

    def fresh(self, version: int) -> bool:
        """It is the page at `version` and younger than OPS_STATUS_CACHE_SECONDS
        (the page also says how long ago things were checked: it is rendered
        again at least that often)."""
        return self.version == version and time.time() - self.rendered_at < settings.OPS_STATUS_CACHE_SECONDS

    def gzip(self) -> bytes:
        # Two threads may both compress it the first time: same bytes, no harm.
        if self._gzip is None:
            self._gzip = gzip.compress(self.html.replace(OUTAGE_MARKER, "", 1).encode(), compresslevel=6, mtime=0)
        return self._gzip


# This process's copy of the anonymous page, shared by the worker's threads
# (replaced whole, never changed in place), and when (time.monotonic()) its
# version was last confirmed against Redis.
_local: Page | None = None
_confirmed_at = 0.0


def _shared(version: int) -> Page | None:
    """The page at `version` from the shared cache, stored as (version, html,
    rendered at)."""
    entry = cache.get(PAGE_KEY)
    if not (isinstance(entry, tuple) and len(entry) == 3):
        return None
    page = Page(*entry)
    return page if page.fresh(version) else None


def cached_page() -> Page | None:
    """The anonymous page when a current one is cached, else None: this
    process's copy while its version was confirmed less than
    OPS_STATUS_RECHECK_MS ago (no Redis call: this was the one round trip
    the trivial endpoint does not make), else one GET of the version, and the
    page itself only when this process's copy is of another version (then
    kept for the next requests)."""
    global _local, _confirmed_at
    local, now = _local, time.monotonic()
    if local is not None and now - _confirmed_at < settings.OPS_STATUS_RECHECK_MS / 1000 and local.fresh(local.version):
        return local
    version = page_version()
    if version is None:
        return None
    if local is None or not local.fresh(version):
        local = _shared(version)
    if local is not None:
        _local, _confirmed_at = local, now
    return local


def anonymous_page(render: Callable[[], str]) -> Page:
    """The anonymous page, from the cache or rendered (and cached) now. The
    version is read before rendering: a change while it renders bumps the
    version, so this render is cached under the old one and never served by
    `cached_page()` again."""
    global _local
    version = page_version()
    if version is None:
        # A missing version (Redis emptied or restarted) starts anywhere, so a
        # process's copy from before never matches a count that started again.
        cache.add(VERSION_KEY, lms_cache.new_token(), None)  # another process may have set it first
        version = page_version()
    if version is None:  # there, but not an integer: start again
        cache.set(VERSION_KEY, lms_cache.new_token(), None)
        version = page_version()
    local = _local
    if version is not None and local is not None and local.fresh(version):
        return local
    page = _shared(version) if version is not None else None
    if page is None:
        # Version None: Redis is unreachable; rendered, not cached (a miss).
        page = Page(version if version is not None else -1, render(), time.time())
        if version is not None:
            cache.set(PAGE_KEY, (page.version, page.html, page.rendered_at), settings.OPS_STATUS_CACHE_SECONDS)
        save_copy(PAGE_FILE, page.html)
    if version is not None:
        _local = page
    return page


def data() -> dict[str, Any]:
    """What the page and /api/v1/status/ show (raises DatabaseError when the
    database is down; callers fall back to the last good copy)."""
    from ops import queries
    from ops.models import HealthProbe
    from ops.services import run_probes  # services forget this page: imported when used

    found = cache.get(DATA_KEY)
    if found is not None:
        return found
    if (
        settings.OPS_PROBE_ON_STATUS_VIEW
        and not HealthProbe.objects.filter(checked_at__gte=timezone.now() - timedelta(minutes=1)).exists()
    ):
        # No beat in the embedded mode: probe now rather than show "unknown".
        run_probes()
    found = queries.status_page()
    cache.set(DATA_KEY, found, settings.OPS_STATUS_CACHE_SECONDS)
    save_copy(DATA_FILE, json.dumps(found, cls=DjangoJSONEncoder))
    return found


# --- The last good copy ----------------------------------------------------------------


def _path(name: str) -> Path:
    return Path(settings.OPS_STATUS_SNAPSHOT_DIR) / name


def save_copy(name: str, content: str) -> None:
    """Write atomically (a reader never sees half a page); never raises."""
    path = _path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        os.replace(tmp, path)
    except OSError:
        logger.warning("could not write the status page's last good copy %s", path, exc_info=True)


def last_copy(name: str) -> tuple[str, float] | None:
    """The copy and its age in seconds, or None."""
    path = _path(name)
    try:
        return path.read_text(encoding="utf-8"), max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return None


def last_data() -> tuple[dict[str, Any], float] | None:
    """The API's last good copy, parsed, and its age in seconds, or None."""
    copy = last_copy(DATA_FILE)
    if copy is None:
        return None
    try:
        body = json.loads(copy[0])
    except ValueError:
        return None
    return (body, copy[1]) if isinstance(body, dict) else None


# --- The watchdog's outage state -------------------------------------------------------


def outage_state() -> dict[str, dict[str, Any]]:
    """Components the watchdog reports down, from its state file when it is
    fresh; {} when there is no file, it is stale or it cannot be read."""
    path = Path(settings.WATCHDOG_STATE_FILE)
    try:
        age = time.time() - path.stat().st_mtime
        if age > settings.OPS_WATCHDOG_STATE_MAX_AGE:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if isinstance(raw, dict) and isinstance(raw.get("components"), dict):
        raw = raw["components"]
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, info in raw.items():
        if not isinstance(info, dict):
            continue
        status = str(info.get("status", ""))
        if status in ("", "ok", "up", "operational", "healthy"):
            continue
        out[str(name)[:50]] = {
            "status": status[:50],
            "since": str(info.get("since") or "")[:40],
            "message": str(info.get("message") or "")[:300],
        }
    return out


def overlay(body: dict[str, Any], outages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The status data with the watchdog's outages on top: each component it
    reports down takes its status, and the overall status is worked out again.
    (The drill: with PostgreSQL down the API's `components` still said the
    database was "operational" from the last good copy, the outage only in
    `outages`.) Returns a new dict; `outages` is included as is."""
    components = body.get("components")
    if not isinstance(components, dict):
        return {**body, "outages": outages}
    merged = {
        name: ({**info, "status": outages[name]["status"]} if name in outages and isinstance(info, dict) else info)
        for name, info in components.items()
    }
    status = body.get("status")
    if outages and status != "maintenance":
        from ops.queries import overall_status

        valid = {name: info for name, info in merged.items() if isinstance(info, dict) and "status" in info}
        status = overall_status(valid, in_maintenance=False, open_incidents=len(body.get("active_incidents") or []))
    return {**body, "components": merged, "status": status, "outages": outages}


def outage_banner(outages: dict[str, dict[str, Any]]) -> str:
    if not outages:
        return ""
    return render_to_string("ops/_status_outage.html", {"outages": sorted(outages.items())})


def overlay_page(html: str, body: dict[str, Any] | None, outages: dict[str, dict[str, Any]], *, banner: str) -> str:
    """A rendered page with the watchdog's outages on top: `banner` at the
    marker, and the component badges and overall status that `overlay()` gives
    `body`, the data the page was rendered from (None when it is unknown: the
    banner alone)."""
    html = html.replace(OUTAGE_MARKER, banner, 1)
    if not outages or body is None:
        return html
    merged = overlay(body, outages)
    components = merged["components"] if isinstance(merged.get("components"), dict) else {}

    def badge(match: re.Match[str]) -> str:
        info = components.get(match["name"])
        if match["name"] not in outages or not isinstance(info, dict):
            return match[0]
        return render_to_string("ops/_status_badge.html", {"name": match["name"], "status": info["status"]})

    status = str(merged.get("status") or "")
    overall = render_to_string("ops/_status_overall.html", {"status": status, "label": status_label(status)})
    return OVERALL.sub(lambda _: overall, BADGE.sub(badge, html), count=1)


def with_outages(html: str) -> str:
    """The live page with the watchdog's outages on top (reads `data()` when
    there are any, so it can raise DatabaseError like a render)."""
    outages = outage_state()
    return overlay_page(html, data() if outages else None, outages, banner=outage_banner(outages))


ACCEPTS_GZIP = re.compile(r"\bgzip\b")  # as django.middleware.gzip reads Accept-Encoding


def page_response(
    html: str, *, public: bool, page: Page | None = None, request: HttpRequest | None = None
) -> HttpResponse:
    """The page as served, from the view or from the anonymous fast path
    (`ops.middleware.StatusFastPathMiddleware`): the watchdog's outage state on
    top, cacheable by anyone when it is the anonymous page. The anonymous
    `page` goes out compressed, as compressed once for its version, to a
    `request` that accepts gzip while no outage is to be shown on it."""
    outages = outage_state()
    if (
        page is not None
        and not outages
        and request is not None
        and ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", ""))
    ):
        response = HttpResponse(page.gzip())
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(overlay_page(html, data() if outages else None, outages, banner=outage_banner(outages)))
    if page is not None:
        patch_vary_headers(response, ("Accept-Encoding",))
    scope = "public" if public else "private"
    response["Cache-Control"] = f"{scope}, max-age={settings.OPS_STATUS_HTTP_MAX_AGE}"
    return response


# --- Responses when the page cannot be rendered ----------------------------------------


def fallback_response(*, api: bool) -> HttpResponse:
    """The last good copy with the watchdog's outage state on top (200), or,
    with no copy yet, a page or JSON body saying the status is unknown."""
    outages = outage_state()
    copied = last_data()
    if api:
        if copied is not None:
            body, age = copied
            response: HttpResponse = JsonResponse(overlay(body, outages) | {"stale": True, "stale_seconds": round(age)})
            return _mark(response)
        response = JsonResponse(
            {
                "error": {
                    "code": "status_unavailable",
                    "message": "The service status cannot be read right now.",
                    "details": {"outages": outages},
                }
            },
            status=503,
        )
        response["Retry-After"] = "30"
        return _mark(response)
    copy = last_copy(PAGE_FILE)
    note = render_to_string("ops/_status_stale.html", {"age_minutes": round(copy[1] / 60) if copy else None})
    banner = mark_safe(note + outage_banner(outages))  # noqa: S308 - both rendered by templates
    if copy is not None:
        html = overlay_page(copy[0], copied[0] if copied else None, outages, banner=banner)
    else:
        html = render_to_string("ops/status_fallback.html", {"banner": banner})
    return _mark(HttpResponse(html))


def _mark(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-cache"
    response.status_fallback = True  # type: ignore[attr-defined]
    return response
