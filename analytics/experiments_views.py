"""Staff pages for experiments: the list, and one experiment's results with
its cumulative-lift chart (lift and 95% interval as users accumulate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods

from analytics import experiments
from analytics.access import staff_required
from analytics.flags_api import is_flag_admin
from analytics.models import Experiment
from lms import charts
from lms.errors import ServiceError


@staff_required
def experiment_list(request: HttpRequest) -> HttpResponse:
    rows = Experiment.objects.select_related("flag").order_by("-created_at", "-id")[:200]
    return render(request, "analytics/experiment_list.html", {"experiments": rows, "section": "experiments"})


def lift_chart(points: Sequence[dict[str, Any]], *, percent: bool, width: int = 640, height: int = 220) -> SafeString:
    """Lift over control with its interval as a band; zero is the dashed line."""
    left, right, top, bottom = 56, 28, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    shown = [p for p in points if p["lift"] is not None]
    fmt = (lambda v: f"{v * 100:+.1f} pt") if percent else (lambda v: f"{v:+.2f}")
    if not shown:
        return charts._svg(width, height, "Cumulative lift", [])
    low = min(min(p["low"] for p in shown), 0.0)
    high = max(max(p["high"] for p in shown), 0.0)
    span = (high - low) or 1.0
    count = len(shown)

    def x(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v - low) / span

    body = [
        f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="{charts.AXIS_TEXT}" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{left - 6}" y="{y(high) + 4:.1f}" text-anchor="end">{escape(fmt(high))}</text>',
        f'<text x="{left - 6}" y="{y(low) + 4:.1f}" text-anchor="end">{escape(fmt(low))}</text>',
    ]
    band = [f"{x(i):.1f},{y(p['high']):.1f}" for i, p in enumerate(shown)]
    band += [f"{x(i):.1f},{y(p['low']):.1f}" for i, p in reversed(list(enumerate(shown)))]
    body.append(f'<polygon points="{" ".join(band)}" fill="{charts.PALETTE[0]}" fill-opacity="0.15"/>')
    line = " ".join(f"{x(i):.1f},{y(p['lift']):.1f}" for i, p in enumerate(shown))
    body.append(f'<polyline fill="none" stroke="{charts.PALETTE[0]}" stroke-width="2" points="{line}"/>')
    step = max(1, count // 6)
    for i, p in enumerate(shown):
        label = p["day"].strftime("%b %-d")
        body.append(
            f'<circle cx="{x(i):.1f}" cy="{y(p["lift"]):.1f}" r="2.5" fill="{charts.PALETTE[0]}"><title>'
            f"{escape(label)}: {escape(fmt(p['lift']))} ({escape(fmt(p['low']))} to {escape(fmt(p['high']))}), "
            f"{p['users']} users</title></circle>"
        )
        if i % step == 0 or i == count - 1:
            body.append(f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="middle">{escape(label)}</text>')
    return charts._svg(width, height, "Cumulative lift over control with 95% interval", body)


@staff_required
@require_http_methods(["GET", "POST"])
def experiment_detail(request: HttpRequest, name: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.select_related("flag"), name=name)
    if request.method == "POST":
        if not is_flag_admin(request.user):
            raise PermissionDenied
        try:
            if request.POST.get("action") == "start":
                experiments.experiment_start(experiment=experiment)
            elif request.POST.get("action") == "stop":
                experiments.experiment_stop(experiment=experiment)
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("analytics:experiment", name=experiment.name)
    out = experiments.results(experiment)
    percent = experiment.primary_metric["kind"] in experiments.RATE_KINDS
    return render(
        request,
        "analytics/experiment_detail.html",
        {
            "experiment": experiment,
            "r": out,
            "chart": lift_chart(out["cumulative"], percent=percent),
            "percent": percent,
            "can_change": is_flag_admin(request.user),
            "section": "experiments",
        },
    )
