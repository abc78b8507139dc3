"""Staff pages for feature flags: the list (rollout, exposures, guardrail state,
stale) and one flag with its plan, actions (admins) and audit log."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from analytics import flags
from analytics.access import staff_required
from analytics.flags_api import flags_with_exposures, is_flag_admin
from analytics.models import Flag, FlagChange
from lms.errors import ServiceError


@staff_required
def flag_list(request: HttpRequest) -> HttpResponse:
    rows = list(flags_with_exposures().order_by("name"))
    stale = flags.stale_names(rows)
    items = [{"flag": f, "effective": flags.effective_percentage(f), "stale": f.name in stale} for f in rows]
    return render(request, "analytics/flag_list.html", {"items": items, "section": "flags", "stale": sorted(stale)})


def _percent(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ServiceError("Give a number.", details={"percentage": ["Give a number."]}) from None


@staff_required
@require_http_methods(["GET", "POST"])
def flag_detail(request: HttpRequest, name: str) -> HttpResponse:
    flag = get_object_or_404(flags_with_exposures(), name=name)
    if request.method == "POST":
        if not is_flag_admin(request.user):
            raise PermissionDenied
        action = request.POST.get("action", "")
        reason = request.POST.get("reason", "")[:500]
        source = FlagChange.Source.STAFF
        changes_before = FlagChange.objects.filter(flag_name=flag.name).count()
        try:
            if action == "enable":
                flags.flag_update(flag=flag, actor=request.user, source=source, reason=reason, enabled=True)
            elif action == "disable":
                flags.flag_update(flag=flag, actor=request.user, source=source, reason=reason, enabled=False)
            elif action == "percentage":
                flags.flag_update(
                    flag=flag,
                    actor=request.user,
                    source=source,
                    reason=reason,
                    percentage=_percent(request.POST.get("percentage", "")),
                )
            elif action == "plan":
                flags.flag_plan_rollout(
                    flag=flag,
                    actor=request.user,
                    source=source,
                    target=_percent(request.POST.get("target", "100")),
                    increment=_percent(request.POST.get("increment", "10")),
                    auto_advance=request.POST.get("auto_advance") == "on",
                    reason=reason,
                )
            elif action == "advance":
                flags.flag_advance(flag=flag, actor=request.user, source=source, reason=reason)
            elif action == "back":
                flags.flag_step_back(flag=flag, actor=request.user, source=source, reason=reason or "stepped back")
            else:
                raise ServiceError("Unknown action.")
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            if FlagChange.objects.filter(flag_name=flag.name).count() > changes_before:
                messages.success(request, "Saved. The change is in the audit log below.")
            else:
                messages.info(request, "Nothing changed: the flag already was that way.")
        return redirect("analytics:flag", name=flag.name)
    changes = Paginator(FlagChange.objects.filter(flag_name=flag.name).select_related("actor"), 25).get_page(
        request.GET.get("page")
    )
    plan = flag.rollout_plan or {}
    steps = [
        {"value": v, "done": i < flag.rollout_step, "current": i == flag.rollout_step - 1}
        for i, v in enumerate(plan.get("steps", []))
    ]
    return render(
        request,
        "analytics/flag_detail.html",
        {
            "flag": flag,
            "effective": flags.effective_percentage(flag),
            "next_step": flags.next_step(flag),
            "steps": steps,
            "plan": plan,
            "changes": changes,
            "can_change": is_flag_admin(request.user),
            "stale": flag.name in flags.stale_names([flag]),
            "strategies": Flag.Strategy,
            "section": "flags",
        },
    )
