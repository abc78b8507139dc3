"""The audit log: who did what, when, from where, with the before and after.

Model changes are recorded by django-auditlog (the models are listed in
settings.AUDITLOG_INCLUDE_TRACKING_MODELS). Actions that are not a model save
(a backup, an export of someone else's data) call `record()`. Both end up as
auditlog LogEntry rows, read on one staff page (`/audit/`).

Who and where come from the current request, read when the entry is written:
by then DRF has authenticated an API token (it sets the underlying request's
user), which auditlog's own middleware, reading the user up front, would miss.
The address comes from axes' helper so it honours PROXY_COUNT instead of
trusting any X-Forwarded-For a client sends.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from auditlog.models import LogEntry
from axes.helpers import get_client_ip_address
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from lms.request_context import current_request


def _client_ip(request: HttpRequest) -> str | None:
    try:
        return get_client_ip_address(request) or None
    except ValueError:
        return None


@receiver(pre_save, sender=LogEntry)
def _fill_actor_and_address(sender: type[LogEntry], instance: LogEntry, **kwargs: Any) -> None:
    request = current_request()
    if request is None:
        return  # a Celery task or a command: the actor is the system unless given
    user = getattr(request, "user", None)
    if instance.actor_id is None and user is not None and user.is_authenticated:
        instance.actor = user
        instance.actor_email = user.email or None
    if instance.remote_addr is None:
        instance.remote_addr = _client_ip(request)


_ACTION_OF_VERB = {
    "create": LogEntry.Action.CREATE,
    "delete": LogEntry.Action.DELETE,
    "export": LogEntry.Action.ACCESS,
}


def record(
    event: str,
    *,
    target: models.Model | None = None,
    actor: Any = None,
    changes: dict[str, list[Any]] | None = None,
    description: str = "",
    **data: Any,
) -> LogEntry:
    """An audit entry for an action that is not a model save.

    `event` is a dotted name (`backup.create`, `user.export`); `target` the
    object acted on, if any; `data` whatever else a reader needs (JSON)."""
    if target is not None:
        content_type = ContentType.objects.get_for_model(target)
        object_pk, object_id = str(target.pk), target.pk if isinstance(target.pk, int) else None
        object_repr = str(target)[:500]
    else:
        # No object: the entry points at its own kind, keyed by the event.
        content_type = ContentType.objects.get_for_model(LogEntry)
        object_pk, object_id, object_repr = event, None, description or event
    return LogEntry.objects.create(
        content_type=content_type,
        object_pk=object_pk,
        object_id=object_id,
        object_repr=object_repr,
        action=_ACTION_OF_VERB.get(event.rsplit(".", 1)[-1], LogEntry.Action.UPDATE),
        changes=changes,
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        additional_data={"event": event, **({"description": description} if description else {}), **data},
    )


def event_name(entry: LogEntry) -> str:
    """`backup.create` for recorded actions, `ops.incident.update` for model saves."""
    if entry.additional_data and isinstance(entry.additional_data, dict) and entry.additional_data.get("event"):
        return str(entry.additional_data["event"])
    action = {0: "create", 1: "update", 2: "delete", 3: "access"}.get(entry.action, str(entry.action))
    return f"{entry.content_type.app_label}.{entry.content_type.model}.{action}"


ACTIONS = {"create": 0, "update": 1, "delete": 2, "access": 3}


def tracked_content_types() -> list[ContentType]:
    """The kinds of object the log covers (the tracked models and recorded actions)."""
    labels = [entry["model"] for entry in settings.AUDITLOG_INCLUDE_TRACKING_MODELS]
    models_ = [apps.get_model(label) for label in labels] + [LogEntry]
    return list(ContentType.objects.get_for_models(*models_).values())


def entries_for_page(
    *,
    actor: str = "",
    content_type: ContentType | None = None,
    action: str = "",
    object_pk: str = "",
    since: date | None = None,
    until: date | None = None,
) -> models.QuerySet[LogEntry]:
    """The staff page's read: newest first, with actor and kind in one query."""
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-pk")
    if actor:
        entries = entries.filter(actor__username=actor) if actor != "system" else entries.filter(actor=None)
    if content_type is not None:
        entries = entries.filter(content_type=content_type)
    if action:
        entries = entries.filter(action=ACTIONS[action])
    if object_pk:
        entries = entries.filter(object_pk=object_pk)
    if since:
        entries = entries.filter(timestamp__date__gte=since)
    if until:
        entries = entries.filter(timestamp__date__lte=until)
    return entries


def entries_delete_expired(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.AUDIT_LOG_RETENTION_DAYS)
    return LogEntry.objects.filter(timestamp__lt=cutoff).delete()[0]
