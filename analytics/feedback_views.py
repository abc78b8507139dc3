"""Feedback pages: the control on every page posts here; users read their own
feedback, replies and notices; staff triage with filters and an NPS chart."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from analytics import feedback
from analytics.access import staff_required
from analytics.flags import flag_on
from analytics.models import Feedback, Notice
from lms import charts
from lms.errors import ServiceError
from lms.models import User
from lms.redirects import on_this_site


def _back(request: HttpRequest, url: str) -> HttpResponse:
    return redirect(on_this_site(request, url) or "feedback_mine")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return -1  # refused by the service with a clear message


@login_required
@require_POST
def feedback_submit(request: HttpRequest) -> HttpResponse:
    page = request.POST.get("page_url", "")[:500]
    try:
        feedback.feedback_submit(
            user=request.user,
            kind=request.POST.get("type", ""),
            message=request.POST.get("message", ""),
            rating=_int_or_none(request.POST.get("rating")),
            page_url=page,
            browser=request.headers.get("User-Agent", ""),
        )
    except ServiceError as exc:
        messages.error(request, f"Feedback not sent: {exc.message}")
    else:
        messages.success(request, "Thank you — your feedback reached the team. Replies appear under My feedback.")
    return _back(request, page)


@login_required
@require_POST
def nps_submit(request: HttpRequest) -> HttpResponse:
    page = request.POST.get("page_url", "")[:500]
    score = None if request.POST.get("dismiss") else _int_or_none(request.POST.get("score"))
    try:
        feedback.nps_submit(user=request.user, score=score, comment=request.POST.get("comment", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if score is not None:
            messages.success(request, "Thanks for rating us.")
    return _back(request, page)


@login_required
def feedback_prompt(request: HttpRequest) -> HttpResponse:
    """The footer's live part, fetched by htmx: unread notices and, when due, the NPS question."""
    return render(
        request,
        "analytics/_feedback_prompt.html",
        {
            "unread": feedback.unread_count(request.user),
            "nps_due": feedback.nps_due(request.user),
            "roadmap": flag_on(request, "public-roadmap"),
            "page_url": request.GET.get("page_url", "")[:500],
        },
    )


@login_required
def feedback_mine(request: HttpRequest) -> HttpResponse:
    rows = Paginator(Feedback.objects.filter(user=request.user).order_by("-created_at", "-id"), 20).get_page(
        request.GET.get("page")
    )
    notices = list(Notice.objects.filter(user=request.user)[:20])
    unread = [n.pk for n in notices if n.read_at is None]
    if unread:
        feedback.notices_mark_read(user=request.user)
    return render(request, "analytics/feedback_mine.html", {"rows": rows, "notices": notices, "unread": set(unread)})


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _month_labels(keys: list[str]) -> list[str]:
    """'2026-12' -> 'Dec', with the year on the first label and on each January
    but never on the last one: a centred 'YYYY-MM' under the last point is cut
    off by the chart's right edge."""
    labels = []
    for i, key in enumerate(keys):
        year, month = key.split("-")
        name = MONTHS[int(month) - 1]
        with_year = (i == 0 or month == "01") and i != len(keys) - 1
        labels.append(f"{name} {year}" if with_year else name)
    return labels


@staff_required
def feedback_triage(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("status", "type", "tag", "q")}
    rows = Paginator(feedback.triage_queryset(params), 25).get_page(request.GET.get("page"))
    months = feedback.nps_by_month()
    chart = charts.line_chart(
        _month_labels([m["month"] for m in months]),
        [charts.Series("NPS", [None if m["nps"] is None else m["nps"] + 100 for m in months])],
        title="NPS by month (shifted: 100 is an NPS of 0)",
        y_max=200,
        value_format=lambda v: f"{v - 100:+.0f}",
    )
    return render(
        request,
        "analytics/feedback_triage.html",
        {
            "rows": rows,
            "params": params,
            "counts": feedback.status_counts(),
            "statuses": Feedback.Status.choices,
            "kinds": Feedback.Kind.choices,
            "staff": User.objects.filter(is_staff=True, is_active=True).order_by("username")[:100],
            "months": months,
            "chart": chart,
            "section": "feedback",
        },
    )


@staff_required
@require_POST
def feedback_update(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Feedback, pk=pk)
    assignee_id = _int_or_none(request.POST.get("assignee"))
    assignee = User.objects.filter(pk=assignee_id).first() if assignee_id else None
    tags = [t for t in (s.strip() for s in request.POST.get("tags", "").split(",")) if t]
    try:
        feedback.feedback_triage(
            feedback=item,
            actor=request.user,
            status=request.POST.get("status") or None,
            assignee=assignee,
            tags=tags,
            reply=request.POST.get("reply", ""),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Feedback updated.")
    return redirect(
        request.POST.get("next") if request.POST.get("next", "").startswith("/analytics/") else "analytics:feedback"
    )
