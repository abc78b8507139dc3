"""A person's rights over their data: download it all, delete the account.

The export asks every app for its part through `lms.signals.personal_data_requested`
(learning: enrolments, personal decks, reviews, sessions; analytics: events,
feedback), so lms imports none of them. See docs/privacy.md.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from prometheus_client import Counter

from lms import audit
from lms.models import DataExport, User
from lms.signals import personal_data_requested
from lms.tokens import user_log_out_everywhere

logger = logging.getLogger(__name__)

exports_swept = Counter(
    "lms_data_exports_swept_total",
    "Data exports the sweep acted on, by outcome: resent (its build task was lost: never picked up, "
    "or its build died) or failed (DATA_EXPORT_MAX_ATTEMPTS builds died)",
    ["outcome"],
)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).encode()


def profile_of(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "timezone": user.timezone,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "analytics_opt_out": user.analytics_opt_out,
        "api_tokens": [
            {"prefix": t.prefix, "created": t.created, "expires": t.expires, "last_used": t.last_used}
            for t in user.api_tokens.all()
        ],
    }


# --- Download my data -------------------------------------------------------------


def data_export_request(*, user: User) -> DataExport:
    """A new pending export; one already being prepared is returned instead
    (a failed or ready one is not: asking again after a failure starts anew)."""
    pending = user.data_exports.filter(status=DataExport.Status.PENDING).first()
    if pending is not None:
        return pending
    return DataExport.objects.create(user=user)  # the caller enqueues the build


def build_zip(user: User) -> bytes:
    parts: list[tuple[str, bytes]] = [("profile.json", _json(profile_of(user)))]
    for _receiver, result in personal_data_requested.send(sender=User, user=user):
        parts.extend(result or [])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts:
            archive.writestr(name, content)
        archive.writestr(
            "README.txt",
            f"Your data from the Flashcard LMS, exported {timezone.now():%Y-%m-%d %H:%M} UTC.\n"
            "profile.json: your account; enrolments.json: your classes; decks/: your personal decks\n"
            "(JSON and Anki .apkg); reviews.csv and study_sessions.csv: your study history;\n"
            "events.json: product-analytics events about you; feedback.json: what you sent us.\n",
        )
    return buffer.getvalue()


def data_export_claim(*, export_id: int, now: datetime | None = None) -> DataExport | None:
    """Take a pending export for one build, or None when it is not to be built
    here: finished, gone, or claimed by a build that may still be running.

    Its task can be delivered twice at once (the person asked again, the sweep
    re-sent a message that was only late, a broker redelivered it): the UPDATE
    is a compare-and-set on `attempts`, so of two deliveries that read the same
    row exactly one matches. No transaction is held while the zip is built."""
    now = now or timezone.now()
    export = DataExport.objects.claimable(now).select_related("user").filter(pk=export_id).first()
    if export is None:
        return None
    claimed = (
        DataExport.objects.claimable(now)
        .filter(pk=export.pk, attempts=export.attempts)
        .update(started_at=now, attempts=export.attempts + 1)
    )
    if not claimed:
        return None
    export.started_at, export.attempts = now, export.attempts + 1
    return export


def _finish(export: DataExport, **fields: Any) -> bool:
    """Write a build's outcome if the export is still that build's: pending and
    not claimed since (a build that outlived DATA_EXPORT_CLAIM_STALE_SECONDS
    may have been taken over, or failed by the sweep)."""
    still_ours = DataExport.objects.filter(pk=export.pk, status=DataExport.Status.PENDING, attempts=export.attempts)
    return bool(still_ours.update(**fields))


def data_export_build(*, export_id: int) -> DataExport | None:
    """The task's body: claim the export, build its zip, store it and email
    its owner. None when this delivery had nothing to do (see data_export_claim)."""
    export = data_export_claim(export_id=export_id)
    if export is None:
        return None
    try:
        content = build_zip(export.user)
    except Exception:
        logger.exception("data export %s failed", export.pk)
        now = timezone.now()
        if not _finish(export, status=DataExport.Status.FAILED, finished_at=now):
            return None
        export.status, export.finished_at = DataExport.Status.FAILED, now
        return export
    now = timezone.now()
    export.file.save(f"data-{export.user.username}-{now:%Y%m%d-%H%M%S}.zip", ContentFile(content), save=False)
    export.status = DataExport.Status.READY
    export.finished_at = now
    export.expires_at = now + timedelta(hours=settings.DATA_EXPORT_TTL_HOURS)
    export.size_bytes = len(content)
    if not _finish(
        export,
        file=export.file.name,
        status=export.status,
        finished_at=export.finished_at,
        expires_at=export.expires_at,
        size_bytes=export.size_bytes,
    ):
        logger.warning("data export %s was built after its build was given up: this copy is dropped", export.pk)
        export.file.delete(save=False)
        return None
    if export.user.email:
        link = settings.SITE_URL.rstrip("/") + reverse("data_export_download", args=[export.pk])
        send_mail(
            "Your data from the Flashcard LMS is ready",
            f"Hello {export.user.display_name},\n\nThe copy of your data you asked for is ready. Download it "
            f"(signed in as {export.user.username}) within {settings.DATA_EXPORT_TTL_HOURS} hours:\n\n{link}\n\n"
            "If you did not ask for it, change your password.\n",
            settings.DEFAULT_FROM_EMAIL,
            [export.user.email],
        )
    return export


def data_exports_sweep(*, send: Callable[[int], bool], now: datetime | None = None) -> dict[str, int]:
    """Re-send the build of every pending export whose task was lost, or fail it.

    Lost: no build holds it (never claimed, or its claim is older than
    DATA_EXPORT_CLAIM_STALE_SECONDS) and its task was sent more than
    DATA_EXPORT_QUEUE_STALE_SECONDS ago. Such an export is sent again through
    `send` (the task's enqueue: False when the broker did not take it, and the
    next sweep tries again), unless DATA_EXPORT_MAX_ATTEMPTS builds already
    died on it, or it was asked for DATA_EXPORT_GIVE_UP_HOURS ago (the re-sends
    stop: a dead queue holds a bounded number of them): then it is failed, and
    the page tells its owner to ask again.
    A re-send that was not needed is harmless: the build claims first."""
    now = now or timezone.now()
    waited = now - timedelta(seconds=settings.DATA_EXPORT_QUEUE_STALE_SECONDS)
    done = {"resent": 0, "failed": 0, "not_sent": 0}
    given_up = now - timedelta(hours=settings.DATA_EXPORT_GIVE_UP_HOURS)
    for export in DataExport.objects.claimable(now).filter(queued_at__lt=waited).order_by("pk"):
        died = export.started_at is not None and export.attempts >= settings.DATA_EXPORT_MAX_ATTEMPTS
        if died or export.created_at < given_up:
            if _finish(export, status=DataExport.Status.FAILED, finished_at=now):
                exports_swept.labels(outcome="failed").inc()
                logger.warning(
                    "data export %s failed: %s",
                    export.pk,
                    f"{export.attempts} builds of it stopped without finishing (worker lost?)"
                    if died
                    else f"no build finished in {settings.DATA_EXPORT_GIVE_UP_HOURS} h (no worker took it?)",
                )
                done["failed"] += 1
            continue
        if not send(export.pk):
            done["not_sent"] += 1  # the broker is down: left for the next sweep
            continue
        DataExport.objects.filter(pk=export.pk, status=DataExport.Status.PENDING).update(queued_at=now)
        exports_swept.labels(outcome="resent").inc()
        if export.started_at is None:
            logger.warning(
                "data export %s re-sent: no worker picked its build up in %s s (message lost?)",
                export.pk,
                settings.DATA_EXPORT_QUEUE_STALE_SECONDS,
            )
        else:
            logger.warning(
                "data export %s re-sent: build %s of %s stopped without finishing (worker lost?)",
                export.pk,
                export.attempts,
                settings.DATA_EXPORT_MAX_ATTEMPTS,
            )
        done["resent"] += 1
    return done


def get_data_export_for(user: User, pk: int) -> DataExport:
    """The user's own, ready, unexpired export; anything else is a 404."""
    return get_object_or_404(
        DataExport,
        pk=pk,
        user=user,
        status=DataExport.Status.READY,
        expires_at__gt=timezone.now(),
    )


def exports_delete_expired(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    expired = list(DataExport.objects.filter(expires_at__lte=now))
    for export in expired:
        if export.file:
            export.file.delete(save=False)
    return DataExport.objects.filter(pk__in=[e.pk for e in expired]).delete()[0]


# --- Delete my account ----------------------------------------------------------------


def account_deletion_request(*, user: User, now: datetime | None = None) -> User:
    """Schedule the deletion and sign the person out everywhere; logging in
    again within ACCOUNT_DELETION_GRACE_DAYS cancels it."""
    now = now or timezone.now()
    with transaction.atomic():
        user.deletion_requested_at = now
        user.save(update_fields=["deletion_requested_at"])
        user_log_out_everywhere(user=user, actor=user)
        audit.record("user.deletion_request", target=user, actor=user)
    if user.email:
        when = now + timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS)
        send_mail(
            "Your Flashcard LMS account will be deleted",
            f"Hello {user.display_name},\n\nYour account {user.username} and your data will be deleted on "
            f"{when:%Y-%m-%d} (UTC). Changed your mind? Just log in before then and nothing is deleted.\n",
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
    return user


def account_deletion_cancel(*, user: User) -> bool:
    if user.deletion_requested_at is None:
        return False
    user.deletion_requested_at = None
    user.save(update_fields=["deletion_requested_at"])
    audit.record("user.deletion_cancel", target=user, actor=user)
    return True


def cancel_deletion_on_log_in(sender: object, request: Any, user: User, **kwargs: Any) -> None:
    """user_logged_in receiver: coming back is changing one's mind."""
    if account_deletion_cancel(user=user) and request is not None and hasattr(request, "_messages"):
        messages.success(request, "Welcome back: your account will not be deleted.")


def accounts_delete_due(*, now: datetime | None = None) -> list[str]:
    """Delete the accounts whose grace period is over (the scheduled job)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS)
    deleted = []
    for user in User.objects.filter(deletion_requested_at__lte=cutoff):
        for export in user.data_exports.all():
            if export.file:
                export.file.delete(save=False)
        audit.record("user.delete", target=user, requested_at=user.deletion_requested_at.isoformat())
        user.delete()
        deleted.append(user.username)
    return deleted
