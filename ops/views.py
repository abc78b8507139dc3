from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ops import health


@never_cache
@require_GET
def health_basic(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "time": timezone.now().isoformat(), "version": settings.VERSION})


@never_cache
@require_GET
def health_live(request: HttpRequest) -> JsonResponse:
    """The process answers; touches no dependency (for the container HEALTHCHECK)."""
    return JsonResponse({"status": "alive"})


@never_cache
@require_GET
def health_ready(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and every migration is applied."""
    components = [health.check_database()]
    if components[0].status == health.HEALTHY:
        components.append(health.check_migrations())
    ready = all(c.status == health.HEALTHY for c in components)
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": {c.name: c.as_dict() for c in components}},
        status=200 if ready else 503,
    )


@never_cache
@require_GET
def health_detailed(request: HttpRequest) -> JsonResponse:
    status, components = health.check_all()
    return JsonResponse(
        {
            "status": status,
            "time": timezone.now().isoformat(),
            "version": settings.VERSION,
            "components": {c.name: c.as_dict() for c in components},
        },
        status=503 if status == health.UNHEALTHY else 200,
    )
