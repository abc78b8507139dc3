"""The performance page's breakdown by feature flag: each flag's variant beside control."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ops import guardrails
from ops.access import staff_required
from ops.models import DetectionRule

WINDOWS = ((15, "15 min"), (60, "1 hour"), (360, "6 hours"), (1440, "24 hours"))


@staff_required
def performance_by_flag(request: HttpRequest) -> HttpResponse:
    try:
        minutes = int(request.GET.get("minutes", 60))
    except ValueError:
        minutes = 60
    minutes = minutes if minutes in dict(WINDOWS) else 60
    rows = guardrails.breakdown(minutes=minutes, now=timezone.now())
    rules = DetectionRule.objects.filter(kind__in=guardrails.FLAG_KINDS).order_by("flag", "slug")
    return render(
        request,
        "ops/performance_flags.html",
        {"rows": rows, "rules": rules, "minutes": minutes, "windows": WINDOWS},
    )
