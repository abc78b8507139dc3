from __future__ import annotations

import logging
from datetime import timedelta

from django import forms as forms_module
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.db.models import Avg, Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lms import chart_annotations
from lms.charts import Series, bar_chart, line_chart
from lms.errors import ServiceError
from ops import health, queries, services
from ops import status_page as status_page_data
from ops.access import get_incident_for, staff_required
from ops.annotations import impact as incident_impact
from ops.backups import latest_backup, list_backups
from ops.charts import uptime_bars
from ops.forms import (
    WINDOW_CHOICES,
    IncidentFilterForm,
    IncidentForm,
    IncidentUpdateForm,
    MaintenanceModeForm,
    MaintenanceWindowForm,
    PostmortemForm,
    ResolveForm,
    add_service_errors,
)
from ops.models import BackupDrill, HealthProbe, Incident, MaintenanceRun, MaintenanceWindow

logger = logging.getLogger(__name__)


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
    """Ready for traffic: the database answers and every migration is applied.

    Only the database: without it nothing works. The cache is not required:
    it fails open (a Redis outage makes pages slower, never errors), so a
    load balancer must not take every replica out of service for it."""
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
    """Every component; answers within HEALTH_CHECK_TIMEOUT whatever is down,
    and reuses its answer for a few seconds (see `check_all_cached`)."""
    status, components = health.check_all_cached()
    return JsonResponse(
        {
            "status": status,
            "time": timezone.now().isoformat(),
            "version": settings.VERSION,
            "components": {c.name: c.as_dict() for c in components},
        },
        status=503 if status == health.UNHEALTHY else 200,
    )


# --- Staff pages ---------------------------------------------------------------------


def _minutes(request: HttpRequest, default: int = 60) -> int:
    try:
        minutes = int(request.GET.get("minutes", default))
    except ValueError:
        return default
    return min(max(minutes, 1), 24 * 60)


@staff_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    incidents = Incident.objects.open().for_list()[:10]
    context = {
        "totals": queries.totals(60, now=now),
        "open_incidents": list(incidents),
        "open_count": Incident.objects.open().count(),
        "breach_count": Incident.objects.filter(Q(response_breached=True) | Q(resolution_breached=True))
        .filter(triggered_at__gte=now - timedelta(days=30))
        .count(),
        "latest_run": MaintenanceRun.objects.first(),
        "maintenance_on": services.maintenance_mode_on(),
        "maintenance_message": services.maintenance_message(),
        "components": queries.current_components(now=now),
        "mode_form": MaintenanceModeForm(),
        "upcoming": MaintenanceWindow.objects.upcoming(now)[:5],
        "latest_backup": latest_backup(),
        "latest_drill": BackupDrill.objects.first(),
    }
    return render(request, "ops/dashboard.html", context)


@staff_required
@require_GET
def performance_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    minutes = _minutes(request)
    step = max(1, -(-minutes // 120))  # at most ~120 points per chart
    points = queries.series(minutes, now=now, step=step)
    local = timezone.localtime
    labels = [local(p["minute"]).strftime("%H:%M" if minutes <= 1440 else "%a %H:%M") for p in points]
    folded = queries.fold_window(minutes, now=now)
    routes = list(queries.performance(minutes, now=now, folded=folded).values())
    starts = [p["minute"] for p in points]
    marks = chart_annotations.between(starts[0], now) if starts else []
    shades = chart_annotations.shades(marks, starts, timedelta(minutes=step))
    context = {
        "minutes": minutes,
        "windows": WINDOW_CHOICES,
        "step": step,
        "totals": queries.totals(minutes, now=now, folded=folded),
        "requests_chart": line_chart(
            labels,
            [Series("Requests per minute", [p["requests_per_minute"] for p in points])],
            title="Requests per minute",
            shades=shades,
            value_format="{:,.1f}",
        ),
        "errors_chart": line_chart(
            labels,
            [
                Series(
                    "Server error rate", [p["error_rate"] * 100 if p["requests"] else None for p in points], "#c53030"
                )
            ],
            title="Server error rate (%)",
            shades=shades,
            value_format="{:.1f}%",
        ),
        "p95_chart": line_chart(
            labels,
            [Series("p95 response time", [p["p95_ms"] for p in points], "#e07b00")],
            title="p95 response time (ms)",
            shades=shades,
            value_format="{:,.0f}",
        ),
        "slowest": sorted(routes, key=lambda r: r["duration_ms"]["p95"] or 0, reverse=True)[:10],
        "failing": sorted(
            (r for r in routes if r["error_count"] or r["client_error_count"]),
            key=lambda r: (r["error_rate"], r["error_count"]),
            reverse=True,
        )[:10],
        "busiest": sorted(routes, key=lambda r: r["request_count"], reverse=True)[:10],
        "marks": marks,
    }
    return render(request, "ops/performance.html", context)


@staff_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    form = IncidentFilterForm(request.GET or None)
    incidents = Incident.objects.for_list()
    if form.is_valid():
        data = form.cleaned_data
        if data["status"] == "open":
            incidents = incidents.open()
        elif data["status"]:
            incidents = incidents.filter(status=data["status"])
        if data["severity"]:
            incidents = incidents.filter(severity=data["severity"])
        if data["component"]:
            incidents = incidents.filter(components__icontains=f'"{data["component"]}"')
    page = Paginator(incidents, 25).get_page(request.GET.get("page"))
    stats = Incident.objects.aggregate(
        open=Count("id", filter=~Q(status=Incident.Status.RESOLVED)),
        response_breaches=Count("id", filter=Q(response_breached=True)),
        resolution_breaches=Count("id", filter=Q(resolution_breached=True)),
        total=Count("id"),
        mtta=Avg("time_to_acknowledge_s"),
        mttr=Avg("time_to_resolve_s"),
    )
    context = {
        "form": form,
        "page": page,
        "stats": stats,
        "query": request.GET.copy(),
    }
    return render(request, "ops/incident_list.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def incident_new(request: HttpRequest) -> HttpResponse:
    form = IncidentForm(request.POST or None, initial={"commander": request.user.pk})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.incident_open(
                title=data["title"],
                severity=data["severity"],
                description=data["description"],
                components=data["components"],
                commander=data["commander"],
                author=request.user,
                public_message=data["public_message"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Incident declared: SEV{incident.severity} {incident.title}.")
            return redirect("ops:incident_detail", pk=incident.pk)
    return render(request, "ops/incident_new.html", {"form": form})


@staff_required
@require_GET
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident_for(request.user, pk)
    return render(request, "ops/incident_detail.html", _detail_context(request, incident))


def _detail_context(request: HttpRequest, incident: Incident, **forms: object) -> dict[str, object]:
    return {
        "incident": incident,
        "updates": incident.updates.select_related("author").order_by("-created_at", "-id"),
        "update_form": forms.get("update_form") or IncidentUpdateForm(),
        "resolve_form": forms.get("resolve_form") or ResolveForm(),
        "postmortem_form": forms.get("postmortem_form")
        or PostmortemForm(
            initial={name: getattr(incident, f"postmortem_{name}") for name in services.POSTMORTEM_FIELDS}
        ),
        "now": timezone.now(),
        "impact": incident_impact(incident),
    }


_form_errors = add_service_errors


@staff_required
@require_POST
def incident_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    incident = get_incident_for(request.user, pk)
    forms_on_error: dict[str, object] = {}
    try:
        if action == "acknowledge":
            services.incident_acknowledge(incident=incident, user=request.user)
            messages.success(request, "Acknowledged: you are on it.")
        elif action == "update":
            form = IncidentUpdateForm(request.POST)
            forms_on_error["update_form"] = form
            if not form.is_valid():
                raise ValidationError("Check the update form.")
            data = form.cleaned_data
            services.incident_post_update(
                incident=incident,
                user=request.user,
                message=data["message"],
                public=data["public"],
                status=data["status"],
                severity=data["severity"],
            )
            messages.success(request, "Update posted.")
        elif action == "resolve":
            form = ResolveForm(request.POST)
            forms_on_error["resolve_form"] = form
            if not form.is_valid():
                raise ValidationError("Check the resolve form.")
            services.incident_resolve(incident=incident, user=request.user, message=form.cleaned_data["message"])
            messages.success(request, "Incident resolved.")
        elif action == "postmortem":
            form = PostmortemForm(request.POST)
            forms_on_error["postmortem_form"] = form
            if not form.is_valid():
                raise ValidationError("Check the post-mortem form.")
            services.incident_write_postmortem(incident=incident, user=request.user, **form.cleaned_data)
            messages.success(request, "Post-mortem saved.")
        else:
            raise Http404("Unknown action")
    except ServiceError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        form = next(iter(forms_on_error.values()), None)
        if isinstance(form, forms_module.Form):
            if form.is_bound and form.is_valid():
                _form_errors(form, exc)
            incident.refresh_from_db()
            return render(
                request, "ops/incident_detail.html", _detail_context(request, incident, **forms_on_error), status=400
            )
        messages.error(request, "; ".join(exc.messages))
    return redirect("ops:incident_detail", pk=incident.pk)


@staff_required
@require_GET
def maintenance_run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(MaintenanceRun.objects.prefetch_related("steps"), 20).get_page(request.GET.get("page"))
    return render(request, "ops/maintenance_run_list.html", {"page": page})


@staff_required
@require_GET
def maintenance_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(MaintenanceRun, pk=pk)
    return render(request, "ops/maintenance_run_detail.html", {"run": run, "steps": run.steps.all()})


@staff_required
@require_POST
def maintenance_mode(request: HttpRequest) -> HttpResponse:
    if not request.user.is_admin:
        raise PermissionDenied
    form = MaintenanceModeForm(request.POST)
    if form.is_valid():
        services.maintenance_mode_set(
            on=form.cleaned_data["enabled"], message=form.cleaned_data["message"], user=request.user
        )
        messages.warning(
            request,
            "Maintenance mode is ON: only staff can use the site."
            if form.cleaned_data["enabled"]
            else "Maintenance mode is off.",
        )
    return redirect("ops:dashboard")


# --- Scheduled maintenance windows -------------------------------------------------------

WINDOW_FIELDS = ("title", "message", "starts_at", "ends_at", "components", "maintenance_mode")


@staff_required
@require_GET
def maintenance_window_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    windows = MaintenanceWindow.objects.select_related("created_by", "cancelled_by")
    # The upcoming list is short by nature; cap it rather than page it.
    upcoming = list(windows.upcoming(now)[:100])
    past = Paginator(windows.past(now), 20).get_page(request.GET.get("page"))
    for window in [*upcoming, *past.object_list]:
        window.current_state = window.state(now)
    return render(request, "ops/maintenance_windows.html", {"upcoming": upcoming, "past": past, "now": now})


@staff_required
@require_http_methods(["GET", "POST"])
def maintenance_window_new(request: HttpRequest) -> HttpResponse:
    form = MaintenanceWindowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            window = services.maintenance_window_create(**form.cleaned_data, user=request.user)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Maintenance scheduled: {window.title}. It is on the status page now.")
            return redirect("ops:maintenance_windows")
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "ops/maintenance_window_form.html", {"form": form, "window": None}, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def maintenance_window_edit(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(MaintenanceWindow, pk=pk)
    state = window.state(timezone.now())
    if state in ("cancelled", "completed"):
        messages.error(request, f"“{window.title}” is {state}; it can no longer be changed.")
        return redirect("ops:maintenance_windows")
    form = MaintenanceWindowForm(request.POST or None, initial={name: getattr(window, name) for name in WINDOW_FIELDS})
    if request.method == "POST" and form.is_valid():
        try:
            window = services.maintenance_window_update(window=window, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("ops:maintenance_windows")
        else:
            messages.success(request, f"Saved: {window.title}.")
            return redirect("ops:maintenance_windows")
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "ops/maintenance_window_form.html", {"form": form, "window": window}, status=status)


@staff_required
@require_POST
def maintenance_window_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(MaintenanceWindow, pk=pk)
    try:
        services.maintenance_window_cancel(window=window, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Cancelled: {window.title}. It is no longer on the status page.")
    return redirect("ops:maintenance_windows")


# --- Backups ------------------------------------------------------------------------------


@staff_required
@require_GET
def backup_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    # At most BACKUP_KEEP manifests (old ones are pruned): no paging needed.
    manifests = list_backups()
    recent_drills = list(BackupDrill.objects.select_related("requested_by")[:10])
    last_drill_of: dict[str, BackupDrill] = {}
    for drill in BackupDrill.objects.filter(file__in=[m.file for m in manifests]).order_by("file", "-ran_at", "-id"):
        last_drill_of.setdefault(drill.file, drill)
    rows = [
        {
            "manifest": m,
            "created": m.created,
            "age_hours": m.age_hours(now),
            "tables": len(m.tables),
            "rows": sum(m.tables.values()),
            "drill": last_drill_of.get(m.file),
        }
        for m in manifests
    ]
    latest_age = rows[0]["age_hours"] if rows else None
    oldest_first = list(reversed(manifests))
    context = {
        "now": now,
        "rows": rows,
        "latest_drill": recent_drills[0] if recent_drills else None,
        "recent_drills": recent_drills,
        "latest_age": latest_age,
        "stale": latest_age is None or latest_age > settings.BACKUP_MAX_AGE_HOURS,
        "max_age_hours": settings.BACKUP_MAX_AGE_HOURS,
        "total_bytes": sum(m.size_bytes for m in manifests),
        "backup_dir": settings.BACKUP_DIR,
        "keep": settings.BACKUP_KEEP,
        "eager": settings.CELERY_TASK_ALWAYS_EAGER,
        "size_chart": bar_chart(
            [timezone.localtime(m.created).strftime("%d %b %H:%M") for m in oldest_first],
            [m.size_bytes / 1024 / 1024 for m in oldest_first],
            title="Backup size (MB), oldest to newest",
            value_format="{:,.2f}",
            height=150,
        )
        if len(manifests) > 1
        else None,
    }
    return render(request, "ops/backups.html", context)


def _admin_only(request: HttpRequest) -> None:
    # Running a backup or a drill loads the database: admins only, like maintenance mode.
    if not request.user.is_admin:
        raise PermissionDenied


@staff_required
@require_POST
def backup_run(request: HttpRequest) -> HttpResponse:
    from ops.tasks import backup

    _admin_only(request)
    try:
        outcome = backup.delay(trigger=BackupDrill.Trigger.PAGE, user_id=request.user.pk)
    except Exception as exc:  # eager mode runs the task here; a failure is a message, not a 500
        messages.error(request, f"The backup failed: {exc}")
    else:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            result = outcome.get()
            messages.success(
                request, f"Backup {result['file']} written and restore-drilled: {result['drill']['message']}"
            )
        else:
            messages.success(request, "Backup queued: a worker writes it and drills it. Reload this page in a minute.")
    return redirect("ops:backups")


@staff_required
@require_POST
def backup_drill(request: HttpRequest) -> HttpResponse:
    from ops.tasks import verify_backup

    _admin_only(request)
    file = request.POST.get("file", "").strip()
    try:
        outcome = verify_backup.delay(file=file, trigger=BackupDrill.Trigger.PAGE, user_id=request.user.pk)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    except Exception as exc:
        messages.error(request, f"The restore drill could not run: {exc}")
    else:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            result = outcome.get()
            level = messages.success if result["ok"] else messages.error
            level(request, f"Restore drill of {result['file'] or 'the latest backup'}: {result['message']}")
        else:
            messages.success(request, "Restore drill queued. Reload this page in a minute for the result.")
    return redirect("ops:backups")


# --- Public status page -------------------------------------------------------------------


def _render_status(request: HttpRequest) -> str:
    data = status_page_data.data()
    components = [
        {
            "name": name,
            "label": HealthProbe.Component(name).label,
            **info,
            "chart": uptime_bars(info["bars"], label=f"{name} uptime, last 90 days"),
        }
        for name, info in data["components"].items()
    ]
    return render_to_string(
        "ops/status.html",
        {"data": data, "components": components, "label": status_page_data.status_label(data["status"])},
        request=request,
    )


@require_GET
def status_page(request: HttpRequest) -> HttpResponse:
    """Anonymous visitors get the whole rendered page from the cache (dropped
    whenever what it shows changes); it is also the last good copy served when
    the database is down. The watchdog's outage state goes on top each time.
    Once cached, an anonymous GET is answered from it above most of the
    middleware (`ops.middleware.StatusFastPathMiddleware`); this view renders
    it on a miss and for signed-in users."""
    try:
        public = not request.user.is_authenticated
        page = None
        if not public:
            # Carries the user's name and CSRF token: rendered for them alone.
            html = _render_status(request)
        else:
            page = status_page_data.anonymous_page(lambda: _render_status(request))
            html = page.html
            # The page is public and cached by anyone: it sets no cookie. Its
            # only forms are elsewhere (subscribe), with their own token.
            request.META["CSRF_COOKIE_NEEDS_UPDATE"] = False
        # Inside the try: with the watchdog reporting outages, the overlay reads the data.
        return status_page_data.page_response(html, public=public, page=page, request=request)
    except DatabaseError:
        logger.warning("status page served from its last good copy", exc_info=True)
        return status_page_data.fallback_response(api=False)
