"""The monthly SLA report as a staff page, a CSV download and a print view."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from lms.charts import PALETTE, Series, line_chart
from lms.spreadsheet import spreadsheet_safe
from ops import sla, uptime
from ops.access import staff_required


def _month_or_404(text: str) -> date:
    try:
        return sla.parse_month(text)
    except ValidationError as exc:
        raise Http404("No such month") from exc


def _daily_chart(report: dict) -> str:
    """Weighted downtime minutes per day and component: outages, partial
    outages and minutes without a probe stand out where a 99.x % line would not."""
    month = sla.parse_month(report["month"])
    last = min(sla.next_month(month) - timedelta(days=1), timezone.localdate())
    if last < month:
        return ""
    per_day = uptime.daily(month, last)
    days = [month + timedelta(days=i) for i in range((last - month).days + 1)]
    series = [
        Series(
            label,
            [round(per_day[(name, d)].downtime_minutes, 1) if per_day[(name, d)].expected else None for d in days],
        )
        for name, label in sla.COMPONENT_LABELS.items()
    ]
    return line_chart(
        [d.strftime("%d %b") for d in days],
        series,
        title=f"Downtime minutes per day, {report['title']}",
        value_format="{:,.1f}",
    )


@staff_required
@require_GET
def sla_index(request: HttpRequest) -> HttpResponse:
    """This month's report, or the month picked in the form (?month=YYYY-MM)."""
    month = sla.current_month()
    if request.GET.get("month"):
        month = _month_or_404(request.GET["month"])
    return redirect("ops:sla_month", month=month.strftime("%Y-%m"))


def _context(request: HttpRequest, month_text: str) -> dict:
    month = _month_or_404(month_text)
    if month > sla.current_month():
        raise Http404("That month has not begun")
    report = sla.monthly_report(month)
    return {
        "report": report,
        "months": [m.strftime("%Y-%m") for m in sla.months_available()],
        "previous": sla.previous_month(month).strftime("%Y-%m"),
        "next": sla.next_month(month).strftime("%Y-%m") if sla.next_month(month) <= sla.current_month() else None,
    }


def _page_context(request: HttpRequest, month: str) -> dict:
    context = _context(request, month)
    context["chart"] = _daily_chart(context["report"])
    context["legend"] = list(zip(sla.COMPONENT_LABELS.values(), PALETTE, strict=False))
    return context


@staff_required
@require_GET
def sla_month(request: HttpRequest, month: str) -> HttpResponse:
    return render(request, "ops/sla.html", _page_context(request, month))


@staff_required
@require_GET
def sla_print(request: HttpRequest, month: str) -> HttpResponse:
    """One page without navigation, laid out for the browser's Print → PDF."""
    return render(request, "ops/sla_print.html", _page_context(request, month))


@staff_required
@require_GET
def sla_csv(request: HttpRequest, month: str) -> HttpResponse:
    report = _context(request, month)["report"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sla-{report["month"]}.csv"'
    writer = csv.writer(response)
    writer.writerow(sla.CSV_HEADER)
    for row in sla.csv_rows(report):
        writer.writerow([spreadsheet_safe(v) for v in row])
    return response
