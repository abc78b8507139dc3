"""Public status pages beyond the front page: subscribing (double opt-in,
one-click unsubscribe), a page per incident with its public updates, the
history (paginated, beyond 14 days) and an Atom feed. No sign-in needed."""

from __future__ import annotations

import re
from datetime import datetime

from django.contrib.syndication.views import Feed
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from ops import subscriptions
from ops.forms import SubscribeForm, add_service_errors
from ops.models import Incident, IncidentUpdate, MaintenanceWindow

HISTORY_PAGE = 20
FEED_ITEMS = 50


def _public_updates() -> Prefetch:
    return Prefetch(
        "updates", queryset=IncidentUpdate.objects.filter(public=True).order_by("-created_at", "-id"), to_attr="public"
    )


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscriber = subscriptions.subscriber_subscribe(
                email=data["email"], kind=data["kind"], url=data["url"], components=data["components"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return render(request, "ops/status_subscribe_sent.html", {"subscriber": subscriber})
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "ops/status_subscribe.html", {"form": form}, status=status)


@require_GET
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = subscriptions.subscriber_confirm(token=token)
    except ValidationError as exc:
        return render(request, "ops/status_token_error.html", {"message": exc.messages[0]}, status=400)
    return render(
        request,
        "ops/status_confirmed.html",
        {"subscriber": subscriber, "unsubscribe_url": subscriptions.unsubscribe_url(subscriber)},
    )


@csrf_exempt  # the signed token is the credential; mail clients POST here for one-click unsubscribe (RFC 8058)
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (link scanners must not unsubscribe anyone); POST unsubscribes."""
    if request.method == "GET":
        try:
            subscriptions.subscriber_for_unsubscribe(token)
        except ValidationError as exc:
            return render(request, "ops/status_token_error.html", {"message": exc.messages[0]}, status=400)
        return render(request, "ops/status_unsubscribe.html", {"token": token})
    try:
        subscriber = subscriptions.subscriber_unsubscribe(token=token)
    except ValidationError as exc:
        return render(request, "ops/status_token_error.html", {"message": exc.messages[0]}, status=400)
    return render(request, "ops/status_unsubscribed.html", {"subscriber": subscriber})


@require_GET
def incident_page(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(
        Incident.objects.prefetch_related(_public_updates()).only(
            "title", "severity", "status", "components", "triggered_at", "resolved_at"
        ),
        pk=pk,
    )
    response = render(request, "ops/status_incident.html", {"incident": incident})
    response["Cache-Control"] = "public, max-age=30" if not request.user.is_authenticated else "private, max-age=30"
    return response


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Every incident, newest first, 20 a page; and past maintenance."""
    incidents = Incident.objects.order_by("-triggered_at", "-id").prefetch_related(_public_updates())
    page = Paginator(incidents, HISTORY_PAGE).get_page(request.GET.get("page"))
    now = timezone.now()
    maintenance = Paginator(
        MaintenanceWindow.objects.filter(cancelled_at__isnull=True, ends_at__lte=now).order_by("-starts_at"),
        HISTORY_PAGE,
    ).get_page(request.GET.get("mpage"))
    return render(request, "ops/status_history.html", {"page": page, "maintenance": maintenance})


# Characters XML 1.0 cannot carry (control characters but tab, newline and
# carriage return): an incident's text may hold one, and the feed would fail.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


class StatusFeed(Feed):
    """Atom: one entry per public incident update and per maintenance window."""

    feed_type = Atom1Feed
    title = "Service status"
    subtitle = "Incidents and scheduled maintenance"

    def link(self) -> str:
        return reverse("status")

    def items(self) -> list[dict]:
        updates = IncidentUpdate.objects.filter(public=True).select_related("incident").order_by("-created_at", "-id")
        entries = [
            {
                "id": f"incident-{u.incident_id}-update-{u.pk}",
                "title": f"{u.incident.title} — {(u.status or u.incident.status).replace('_', ' ')}",
                "body": u.message,
                "at": u.created_at,
                "link": reverse("status_incident", args=[u.incident_id]),
            }
            for u in updates[:FEED_ITEMS]
        ]
        windows = MaintenanceWindow.objects.filter(cancelled_at__isnull=True).order_by("-starts_at")[:FEED_ITEMS]
        for w in windows:
            entries.append(
                {
                    "id": f"maintenance-{w.pk}",
                    "title": f"Scheduled maintenance: {w.title}",
                    "body": f"{w.message}\n{w.starts_at:%d %b %Y %H:%M} – {w.ends_at:%d %b %Y %H:%M} UTC".strip(),
                    "at": w.starts_at,
                    "link": reverse("status_history") + f"#maintenance-{w.pk}",
                }
            )
        return sorted(entries, key=lambda e: e["at"], reverse=True)[:FEED_ITEMS]

    def item_title(self, item: dict) -> str:
        return _xml_text(item["title"])

    def item_description(self, item: dict) -> str:
        return _xml_text(item["body"])

    def item_link(self, item: dict) -> str:
        return item["link"]

    def item_guid(self, item: dict) -> str:
        return item["id"]

    def item_pubdate(self, item: dict) -> datetime:
        return item["at"]

    def item_updateddate(self, item: dict) -> datetime:
        return item["at"]


feed = StatusFeed()
