"""Status subscriptions: people and programs told of incidents and maintenance.

* Email: double opt-in (a signed confirmation link, valid for a week), every
  notice carries a signed one-click unsubscribe link (RFC 8058 headers too).
* Webhook: a JSON POST per notice to the subscriber's URL; the email address
  confirms the subscription and receives the unsubscribe link. URLs that
  resolve to private or loopback addresses are refused unless
  OPS_SUBSCRIBER_WEBHOOK_ALLOW_PRIVATE (our server must not be a way in).
* Per-component choice: no components means all of them.

A notice is one SubscriberNotice row per subscriber and event, made by
`notices_create` and sent by `notice_deliver` from a Celery task with retries;
the row makes a retried delivery send nothing twice.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from lms.queueing import enqueue_on_commit
from ops.models import HealthProbe, IncidentUpdate, MaintenanceWindow, Subscriber, SubscriberNotice

logger = logging.getLogger(__name__)

CONFIRM_SALT = "ops.subscriptions.confirm"
UNSUBSCRIBE_SALT = "ops.subscriptions.unsubscribe"
CONFIRM_MAX_AGE = 7 * 24 * 3600
COMPONENTS = {c.value for c in HealthProbe.Component}
WEBHOOK_TIMEOUT = 10


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# --- Tokens -----------------------------------------------------------------------------


def confirm_token(subscriber: Subscriber) -> str:
    return signing.dumps({"s": subscriber.pk, "e": subscriber.email}, salt=CONFIRM_SALT, compress=True)


def unsubscribe_token(subscriber: Subscriber) -> str:
    # No expiry: an unsubscribe link in a year-old email still works.
    return signing.dumps({"s": subscriber.pk, "e": subscriber.email}, salt=UNSUBSCRIBE_SALT, compress=True)


def _from_token(token: str, *, salt: str, max_age: int | None) -> Subscriber:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ValidationError({"token": ["This link has expired: subscribe again."]}) from exc
    except signing.BadSignature as exc:
        raise ValidationError({"token": ["This link is not valid."]}) from exc
    subscriber = Subscriber.objects.filter(pk=data.get("s"), email=data.get("e")).first()
    if subscriber is None:
        raise ValidationError({"token": ["This subscription no longer exists."]})
    return subscriber


def subscriber_for_unsubscribe(token: str) -> Subscriber:
    """The subscriber an unsubscribe link names (ValidationError when it is not a valid link)."""
    return _from_token(token, salt=UNSUBSCRIBE_SALT, max_age=None)


def confirm_url(subscriber: Subscriber) -> str:
    return _site(reverse("status_confirm", args=[confirm_token(subscriber)]))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return _site(reverse("status_unsubscribe", args=[unsubscribe_token(subscriber)]))


# --- Subscribing ------------------------------------------------------------------------------


def check_webhook_url(url: str) -> str:
    """An http(s) URL whose host does not resolve to a private address (unless allowed)."""
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise ValidationError({"url": ["Give an http(s) URL."]}) from exc
    if len(url) > 500:
        raise ValidationError({"url": ["At most 500 characters."]})
    if settings.OPS_SUBSCRIBER_WEBHOOK_ALLOW_PRIVATE:
        return url
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise ValidationError({"url": [f"{host} does not resolve."]}) from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise ValidationError({"url": ["Webhooks to private or local addresses are not allowed."]})
    return url


@transaction.atomic
def subscriber_subscribe(
    *, email: str, kind: str = Subscriber.Kind.EMAIL, url: str = "", components: list[str] | None = None
) -> Subscriber:
    """Start (or restart) a subscription; it is active once the emailed link is followed."""
    errors: dict[str, list[str]] = {}
    email = (email or "").strip().lower()
    try:
        EmailValidator()(email)
    except ValidationError:
        errors["email"] = ["Give a valid email address."]
    if kind not in Subscriber.Kind.values:
        errors["kind"] = ["Email or webhook."]
    components = list(dict.fromkeys(components or []))
    if set(components) - COMPONENTS:
        errors["components"] = [f"Unknown component(s): {', '.join(sorted(set(components) - COMPONENTS))}."]
    if kind == Subscriber.Kind.WEBHOOK:
        try:
            url = check_webhook_url(url)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    else:
        url = ""
    if errors:
        raise ValidationError(errors)
    subscriber, created = Subscriber.objects.select_for_update().get_or_create(
        kind=kind, email=email, url=url, defaults={"components": components}
    )
    if not created:
        subscriber.components = components
        if subscriber.unsubscribed_at is not None:  # coming back: confirm again
            subscriber.unsubscribed_at = None
            subscriber.confirmed_at = None
        subscriber.save(update_fields=["components", "unsubscribed_at", "confirmed_at"])
    if subscriber.confirmed_at is None:
        from ops.tasks import send_subscription_confirmation

        enqueue_on_commit(send_subscription_confirmation, subscriber.pk)  # logged if the broker cannot take it
    return subscriber


def send_confirmation(subscriber: Subscriber) -> None:
    context = {"subscriber": subscriber, "confirm_url": confirm_url(subscriber), "site_name": settings.SITE_NAME}
    body = render_to_string("ops/subscription_confirm_email.txt", context)
    EmailMultiAlternatives(
        f"Confirm your {settings.SITE_NAME} status subscription", body, settings.DEFAULT_FROM_EMAIL, [subscriber.email]
    ).send()


@transaction.atomic
def subscriber_confirm(*, token: str, now: datetime | None = None) -> Subscriber:
    subscriber = _from_token(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    if subscriber.unsubscribed_at is not None:
        raise ValidationError({"token": ["You unsubscribed since: subscribe again."]})
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = now or timezone.now()
        subscriber.save(update_fields=["confirmed_at"])
    return subscriber


@transaction.atomic
def subscriber_unsubscribe(*, token: str, now: datetime | None = None) -> Subscriber:
    subscriber = _from_token(token, salt=UNSUBSCRIBE_SALT, max_age=None)
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now or timezone.now()
        subscriber.save(update_fields=["unsubscribed_at"])
    return subscriber


# --- Notices --------------------------------------------------------------------------------------


def _subject(kind: str, object_id: int, event: str) -> dict[str, Any] | None:
    """What a notice is about, as the email and the webhook show it (None: nothing to tell)."""
    if kind == "incident":
        update = IncidentUpdate.objects.select_related("incident").filter(pk=object_id, public=True).first()
        if update is None:
            return None
        incident = update.incident
        status = update.status or incident.status
        return {
            "key": f"incident:{incident.pk}:update:{update.pk}",
            "type": f"incident.{'resolved' if status == 'resolved' else 'update'}",
            "components": incident.components,
            "title": " ".join(incident.title.split()),
            "status": status,
            "message": update.message,
            "at": update.created_at,
            "url": _site(reverse("status_incident", args=[incident.pk])),
            "payload": {
                "incident": {
                    "id": incident.pk,
                    "title": incident.title,
                    "severity": f"SEV{incident.severity}",
                    "status": incident.status,
                    "components": incident.components,
                    "started_at": incident.triggered_at.isoformat(),
                    "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
                },
                "update": {
                    "id": update.pk,
                    "status": status,
                    "message": update.message,
                    "at": update.created_at.isoformat(),
                },
            },
        }
    if kind == "maintenance":
        window = MaintenanceWindow.objects.filter(pk=object_id).first()
        if window is None:
            return None
        verb = {"scheduled": "scheduled", "started": "in progress", "completed": "completed"}.get(event, event)
        return {
            "key": f"maintenance:{window.pk}:{event}",
            "type": f"maintenance.{event}",
            "components": window.components,
            "title": " ".join(window.title.split()),
            "status": verb,
            "message": window.message
            or f"{window.starts_at:%d %b %H:%M} – {window.ends_at:%d %b %H:%M} {timezone.get_default_timezone_name()}",
            "at": timezone.now(),
            "url": _site(reverse("status_history")),
            "payload": {
                "maintenance": {
                    "id": window.pk,
                    "title": window.title,
                    "message": window.message,
                    "components": window.components,
                    "starts_at": window.starts_at.isoformat(),
                    "ends_at": window.ends_at.isoformat(),
                    "event": event,
                }
            },
        }
    return None


def notices_create(kind: str, object_id: int, event: str) -> list[int]:
    """One notice row per active subscriber who wants it; returns the new rows' ids."""
    subject = _subject(kind, object_id, event)
    if subject is None:
        return []
    active = Subscriber.objects.filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True).only("components")
    wanted = [s for s in active.iterator() if s.wants(subject["components"])]
    rows = SubscriberNotice.objects.bulk_create(
        [SubscriberNotice(subscriber=s, key=subject["key"]) for s in wanted], ignore_conflicts=True
    )
    # ignore_conflicts leaves pks unset on some databases: read the unsent rows back.
    del rows
    return list(SubscriberNotice.objects.filter(key=subject["key"], sent_at__isnull=True).values_list("pk", flat=True))


def _email(subscriber: Subscriber, subject: dict[str, Any]) -> None:
    unsubscribe = unsubscribe_url(subscriber)
    context = {"s": subject, "unsubscribe_url": unsubscribe, "site_name": settings.SITE_NAME}
    message = EmailMultiAlternatives(
        f"[{settings.SITE_NAME} status] {subject['title']}: {subject['status']}",
        render_to_string("ops/subscription_notice_email.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [subscriber.email],
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    message.send()


def _webhook(subscriber: Subscriber, subject: dict[str, Any]) -> None:
    url = check_webhook_url(subscriber.url)  # again: DNS may have changed since subscribing
    body = json.dumps(
        {
            "type": subject["type"],
            "title": subject["title"],
            "status": subject["status"],
            "message": subject["message"],
            "url": subject["url"],
            "components": subject["components"],
            **subject["payload"],
            "unsubscribe_url": unsubscribe_url(subscriber),
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, data=body, headers={"Content-Type": "application/json", "User-Agent": settings.SITE_NAME}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status}")


def notice_deliver(notice_id: int, kind: str, object_id: int, event: str) -> bool:
    """Send one notice; raises on failure (the task retries). True when sent now."""
    notice = SubscriberNotice.objects.select_related("subscriber").filter(pk=notice_id).first()
    if notice is None or notice.sent_at is not None or not notice.subscriber.active:
        return False
    subject = _subject(kind, object_id, event)
    if subject is None:
        return False
    SubscriberNotice.objects.filter(pk=notice.pk).update(attempts=notice.attempts + 1)
    try:
        if notice.subscriber.kind == Subscriber.Kind.WEBHOOK:
            _webhook(notice.subscriber, subject)
        else:
            _email(notice.subscriber, subject)
    except Exception as exc:
        SubscriberNotice.objects.filter(pk=notice.pk).update(error=str(exc)[:300])
        raise
    SubscriberNotice.objects.filter(pk=notice.pk).update(sent_at=timezone.now(), error="")
    return True
