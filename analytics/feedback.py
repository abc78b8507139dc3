"""Feedback from every page, NPS, staff triage, and in-app notices.

A message carries its context without the user typing it: the page, role,
app version, browser, the flags and experiment variants the user has, and
any incident open at the time (ops registers the reader, see
`incident_reader`, since analytics does not import ops).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from analytics import flags
from analytics.models import Experiment, ExperimentExposure, Feedback, Notice, NpsResponse
from learning.models import StudySession
from lms.errors import Conflict, ServiceError
from lms.models import User

logger = logging.getLogger(__name__)

MAX_MESSAGE = 5000
MAX_TAGS = 10
NPS_EVERY_DAYS = 90
NPS_AFTER_SESSIONS = 3
NPS_FLAG = "nps-survey"

# Set by ops at start-up: returns [{"id", "title", "severity"}] of open incidents.
incident_reader: list[Callable[[], list[dict[str, Any]]]] = []


def open_incidents() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for reader in incident_reader:
        try:
            out.extend(reader())
        except Exception:  # context is a nicety: never lose the message over it
            logger.warning("could not read open incidents", exc_info=True)
    return out


def _variants_of(user: User) -> dict[str, str]:
    return dict(
        ExperimentExposure.objects.filter(user=user, experiment__status=Experiment.Status.RUNNING).values_list(
            "experiment__name", "variant"
        )
    )


def _clean_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise ServiceError("tags: a list of at most 10.", details={"tags": ["At most 10 tags."]})
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not 0 < len(tag.strip()) <= 40:
            raise ServiceError("A tag is 1-40 characters.", details={"tags": ["1-40 characters each."]})
        out.append(tag.strip().lower())
    return sorted(set(out))


def _local_path(url: str | None) -> str:
    """Only a path on this site is kept: the page URL is shown to staff as a link."""
    url = (url or "")[:500]
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else ""


@transaction.atomic
def feedback_submit(
    *,
    user: User,
    kind: str,
    message: str,
    rating: int | None = None,
    page_url: str = "",
    browser: str = "",
) -> Feedback:
    message = (message or "").strip()
    if kind not in Feedback.Kind.values:
        raise ServiceError("Pick a type.", details={"type": [f"One of {', '.join(Feedback.Kind.values)}."]})
    if not message:
        raise ServiceError("Write a message.", details={"message": ["This field is required."]})
    if len(message) > MAX_MESSAGE:
        raise ServiceError("The message is too long.", details={"message": [f"At most {MAX_MESSAGE} characters."]})
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
        raise ServiceError("Rate 1 to 5.", details={"rating": ["1 to 5."]})
    return Feedback.objects.create(
        user=user,
        kind=kind,
        rating=rating,
        message=message,
        page_url=_local_path(page_url),
        role=user.role,
        app_version=settings.VERSION,
        browser=(browser or "")[:300],
        flags={name: on for name, on in flags.flags_for(flags.subject_for(user)).items() if on},
        variants=_variants_of(user),
        incidents=open_incidents(),
    )


@transaction.atomic
def feedback_triage(
    *,
    feedback: Feedback,
    actor: User,
    status: str | None = None,
    assignee: User | str | None = "keep",
    tags: Any = None,
    reply: str | None = None,
) -> Feedback:
    feedback = Feedback.objects.select_for_update().get(pk=feedback.pk)
    fields = []
    if status is not None:
        if status not in Feedback.Status.values:
            raise ServiceError("Unknown status.", details={"status": [f"One of {', '.join(Feedback.Status.values)}."]})
        feedback.status = status
        fields.append("status")
    if assignee != "keep":
        if assignee is not None and not assignee.is_staff:
            raise ServiceError("Assign to staff.", details={"assignee": ["Must be staff."]})
        feedback.assignee = assignee
        fields.append("assignee")
    if tags is not None:
        feedback.tags = _clean_tags(tags)
        fields.append("tags")
    if reply is not None and reply.strip() != feedback.reply:
        if len(reply) > MAX_MESSAGE:
            raise ServiceError("The reply is too long.", details={"response": [f"At most {MAX_MESSAGE} characters."]})
        feedback.reply = reply.strip()
        feedback.replied_at = timezone.now()
        fields += ["reply", "replied_at"]
        if feedback.reply:
            notice_send(
                users=[feedback.user_id], message="Staff replied to your feedback.", url="/feedback/mine/", email=False
            )
    if fields:
        feedback.save(update_fields=fields)
    return feedback


# --- NPS ------------------------------------------------------------------------------


def _nps_key(user_id: int) -> str:
    return f"analytics:nps-due:{user_id}"


def nps_due(user: User, *, now: datetime | None = None) -> bool:
    """Ask for NPS? After a few study sessions, at most once per 90 days, behind its flag.
    Cached per user for an hour: it is checked on every page."""
    if not user.is_authenticated or not flags.flag_on_for_user(user, NPS_FLAG):
        return False
    cached = cache.get(_nps_key(user.pk))
    if cached is not None:
        return bool(cached)
    now = now or timezone.now()
    recent = NpsResponse.objects.filter(user=user, created_at__gte=now - timedelta(days=NPS_EVERY_DAYS)).exists()
    due = (
        not recent
        and StudySession.objects.filter(student=user, answers_count__gt=0)[:NPS_AFTER_SESSIONS].count()
        >= NPS_AFTER_SESSIONS
    )
    cache.set(_nps_key(user.pk), due, 3600)
    return due


def forget_nps(user: User) -> None:
    cache.delete(_nps_key(user.pk))


@transaction.atomic
def nps_submit(*, user: User, score: int | None, comment: str = "", now: datetime | None = None) -> NpsResponse:
    """An answer (0-10) or a dismissal (None); either way, not asked again for 90 days."""
    now = now or timezone.now()
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10):
        raise ServiceError("Score 0 to 10.", details={"score": ["0 to 10."]})
    if NpsResponse.objects.filter(user=user, created_at__gte=now - timedelta(days=NPS_EVERY_DAYS)).exists():
        raise Conflict("Already answered in the last 90 days.")
    response = NpsResponse.objects.create(user=user, score=score, comment=(comment or "")[:1000], created_at=now)
    cache.set(_nps_key(user.pk), False, 3600)
    return response


def nps_by_month(*, months: int = 12, now: datetime | None = None) -> list[dict[str, Any]]:
    """NPS = % promoters (9-10) − % detractors (0-6), per calendar month (UTC)."""
    now = now or timezone.now()
    start = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=31 * (months - 1))).replace(
        day=1
    )
    rows = list(
        NpsResponse.objects.filter(created_at__gte=start, score__isnull=False).values_list("created_at", "score")
    )
    buckets: dict[tuple[int, int], list[int]] = {}
    cursor = start
    while cursor <= now:
        buckets[(cursor.year, cursor.month)] = []
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    for at, score in rows:
        buckets.setdefault((at.year, at.month), []).append(score)
    out = []
    for (year, month), scores in sorted(buckets.items()):
        n = len(scores)
        promoters = sum(1 for s in scores if s >= 9)
        detractors = sum(1 for s in scores if s <= 6)
        out.append(
            {
                "month": f"{year}-{month:02d}",
                "responses": n,
                "nps": round(100 * (promoters - detractors) / n) if n else None,
            }
        )
    return out


# --- reads -------------------------------------------------------------------------------


def triage_queryset(params: dict[str, str]) -> QuerySet[Feedback]:
    qs = Feedback.objects.select_related("user", "assignee").order_by("-created_at", "-id")
    if params.get("status") in Feedback.Status.values:
        qs = qs.filter(status=params["status"])
    if params.get("type") in Feedback.Kind.values:
        qs = qs.filter(kind=params["type"])
    if params.get("tag"):
        # The JSON text holds each tag quoted: a portable match on SQLite and PostgreSQL.
        qs = qs.filter(tags__icontains='"' + params["tag"][:40].lower().replace('"', "") + '"')
    if params.get("q"):
        q = params["q"][:200]
        qs = qs.filter(Q(message__icontains=q) | Q(reply__icontains=q) | Q(user__username__icontains=q))
    return qs


def status_counts() -> dict[str, int]:
    return dict(Feedback.objects.order_by().values_list("status").annotate(n=Count("*")).values_list("status", "n"))


# --- notices -----------------------------------------------------------------------------


def _unread_key(user_id: int) -> str:
    return f"analytics:unread-notices:{user_id}"


def unread_count(user: User) -> int:
    key = _unread_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notice.objects.filter(user=user, read_at__isnull=True).count()
        cache.set(key, count, 300)
    return count


def notice_send(*, users: list[int], message: str, url: str = "", email: bool = True, subject: str = "") -> int:
    """An in-app notice for each user, and an email to those with an address (after commit)."""
    ids = sorted(set(users))
    if not ids:
        return 0
    Notice.objects.bulk_create([Notice(user_id=uid, message=message[:300], url=url[:300]) for uid in ids])
    cache.delete_many([_unread_key(uid) for uid in ids])
    if email:
        addresses = list(
            User.objects.filter(pk__in=ids, is_active=True).exclude(email="").values_list("email", flat=True)
        )

        def send() -> None:
            for address in addresses:
                try:
                    body = f"{message}\n\n{settings.SITE_URL}{url}"
                    send_mail(subject or message[:120], body, None, [address])
                except Exception:
                    logger.warning("could not email a notice", exc_info=True)

        transaction.on_commit(send)
    return len(ids)


def notices_mark_read(*, user: User) -> None:
    Notice.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    cache.delete(_unread_key(user.pk))
