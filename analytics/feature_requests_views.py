"""Feature requests for everyone signed in, the public roadmap, and the staff
page with the top ten by priority score."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from analytics import feature_requests as fr
from analytics.access import staff_required
from analytics.models import FeatureRequest, Flag
from lms.errors import ServiceError


@login_required
@require_http_methods(["GET", "POST"])
def request_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            created = fr.request_submit(
                user=request.user, title=request.POST.get("title", ""), description=request.POST.get("description", "")
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Request added, with your vote.")
            return redirect("feature_request", pk=created.pk)
    params = {k: request.GET.get(k, "") for k in ("status", "q", "sort")}
    rows = Paginator(fr.public_list(params), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "analytics/feature_request_list.html",
        {
            "rows": rows,
            "voted": fr.voted_ids(request.user, [r.pk for r in rows]),
            "params": params,
            "statuses": FeatureRequest.Status.choices,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(FeatureRequest.objects.select_related("author", "merged_into"), pk=pk)
    if item.merged_into_id:
        messages.info(request, "This request was merged into another one; your vote moved with it.")
        return redirect("feature_request", pk=item.merged_into_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "vote":
                if not fr.vote(user=request.user, request=item):
                    messages.info(request, "You have already voted for this.")
            elif action == "unvote":
                fr.unvote(user=request.user, request=item)
            elif action == "comment":
                fr.comment(user=request.user, request=item, body=request.POST.get("body", ""))
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("feature_request", pk=item.pk)
    return render(
        request,
        "analytics/feature_request_detail.html",
        {
            "item": item,
            "comments": item.comments.select_related("author")[:200],
            "voted": item.pk in fr.voted_ids(request.user, [item.pk]),
        },
    )


def roadmap(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/roadmap.html", {"columns": fr.roadmap()})


@staff_required
def staff_requests(request: HttpRequest) -> HttpResponse:
    top = fr.top_ten()
    for r in top:
        r.level = fr.priority_level(r.score)
    rows = Paginator(
        FeatureRequest.objects.open().with_score().select_related("flag").order_by("-score", "-votes"), 50
    ).get_page(request.GET.get("page"))
    for r in rows:
        r.level = fr.priority_level(r.score)
    return render(
        request,
        "analytics/feature_requests_staff.html",
        {
            "top": top,
            "rows": rows,
            "statuses": FeatureRequest.Status.choices,
            "flags": Flag.objects.order_by("name").values_list("name", flat=True)[:200],
            "section": "requests",
        },
    )


def _score(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        return -1  # refused by the service


@staff_required
@require_POST
def staff_request_update(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(FeatureRequest, pk=pk)
    try:
        if request.POST.get("action") == "merge":
            into_id = _score(request.POST.get("into"))
            into = FeatureRequest.objects.filter(pk=into_id).first() if into_id and 0 < into_id < 2**31 else None
            if into is None:
                raise ServiceError("Give the number of an existing request this one duplicates.")
            fr.request_merge(duplicate=item, into=into, actor=request.user)
        else:
            flag_name = request.POST.get("flag", "")
            fr.request_update(
                request=item,
                actor=request.user,
                status=request.POST.get("status") or None,
                flag=Flag.objects.filter(name=flag_name).first() if flag_name else None,
                **{name: _score(request.POST.get(name)) for name in fr.SCORE_FIELDS},
            )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Saved.")
    return redirect("analytics:feature_requests")
