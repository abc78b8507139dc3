"""Feature requests, votes, comments, duplicates, the brief's priority score and the roadmap.

priority = demand × 0.4 + business impact × 0.3 + strategic alignment × 0.2
+ (10 − complexity) × 0.1, where demand = min(votes / 10, 10) and an unscored
criterion counts as 5; HIGH from 8, MEDIUM from 6, LOW from 4, else BACKLOG.
Voters hear (in-app notice and email) when a request ships or its flag
starts rolling out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from analytics import feedback
from analytics.models import FeatureComment, FeatureRequest, FeatureVote, Flag
from lms.errors import Conflict, ServiceError
from lms.models import User

Status = FeatureRequest.Status
SCORE_FIELDS = ("business_impact", "strategic_alignment", "complexity")


def priority_score(
    votes: int, business_impact: int | None, strategic_alignment: int | None, complexity: int | None
) -> float:
    demand = min(votes / 10, 10)
    impact = 5 if business_impact is None else business_impact
    alignment = 5 if strategic_alignment is None else strategic_alignment
    penalty = 10 - (5 if complexity is None else complexity)
    return round(demand * 0.4 + impact * 0.3 + alignment * 0.2 + penalty * 0.1, 2)


def priority_level(score: float) -> str:
    if score >= 8.0:
        return "HIGH"
    if score >= 6.0:
        return "MEDIUM"
    if score >= 4.0:
        return "LOW"
    return "BACKLOG"


def top_ten() -> list[FeatureRequest]:
    """Open requests by score (the same formula in SQL, so the database sorts)."""
    return list(FeatureRequest.objects.open().with_score().select_related("author").order_by("-score", "-votes")[:10])


def _text(value: str, name: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ServiceError(f"{name} is required.", details={name: ["This field is required."]})
    if len(value) > limit:
        raise ServiceError(f"{name} is too long.", details={name: [f"At most {limit} characters."]})
    return value


@transaction.atomic
def request_submit(*, user: User, title: str, description: str = "") -> FeatureRequest:
    request = FeatureRequest.objects.create(
        author=user,
        title=_text(title, "title", 200),
        description=_text(description, "description", 5000, required=False),
    )
    vote(user=user, request=request)  # the author wants it too
    request.refresh_from_db(fields=["votes"])
    return request


@transaction.atomic
def vote(*, user: User, request: FeatureRequest) -> bool:
    """One vote per user: True when counted, False when they had voted already."""
    target = request.merged_into or request
    try:
        with transaction.atomic():
            FeatureVote.objects.create(request=target, user=user)
    except IntegrityError:
        return False
    FeatureRequest.objects.filter(pk=target.pk).update(votes=F("votes") + 1)
    return True


@transaction.atomic
def unvote(*, user: User, request: FeatureRequest) -> bool:
    target = request.merged_into or request
    deleted, _ = FeatureVote.objects.filter(request=target, user=user).delete()
    if deleted:
        FeatureRequest.objects.filter(pk=target.pk, votes__gt=0).update(votes=F("votes") - 1)
    return bool(deleted)


@transaction.atomic
def comment(*, user: User, request: FeatureRequest, body: str) -> FeatureComment:
    return FeatureComment.objects.create(request=request, author=user, body=_text(body, "body", 5000))


def _notify_voters(request: FeatureRequest, message: str) -> int:
    voters = list(FeatureVote.objects.filter(request=request).values_list("user_id", flat=True))
    return feedback.notice_send(
        users=voters, message=message, url=f"/feature-requests/{request.pk}/", subject=f"Update: {request.title}"
    )


@transaction.atomic
def request_update(
    *,
    request: FeatureRequest,
    actor: User,
    status: str | None = None,
    flag: Flag | str | None = "keep",
    now: datetime | None = None,
    **scores: Any,
) -> FeatureRequest:
    """Staff set status, scores (0-10) and the flag a request ships behind."""
    request = FeatureRequest.objects.select_for_update().get(pk=request.pk)
    now = now or timezone.now()
    fields = ["updated_at"]
    for name, value in scores.items():
        if name not in SCORE_FIELDS:
            raise ServiceError(f"Unknown field {name}.", details={name: ["Unknown field."]})
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10):
            raise ServiceError(f"{name}: 0 to 10.", details={name: ["0 to 10."]})
        setattr(request, name, value)
        fields.append(name)
    if flag != "keep":
        request.flag = flag
        fields.append("flag")
    shipped_now = False
    if status is not None and status != request.status:
        if status not in Status.values:
            raise ServiceError("Unknown status.", details={"status": [f"One of {', '.join(Status.values)}."]})
        if request.merged_into_id:
            raise Conflict("A merged request has no status of its own.", details={"status": ["Merged."]})
        request.status = status
        fields.append("status")
        if status == Status.SHIPPED:
            request.shipped_at = now
            fields.append("shipped_at")
            shipped_now = True
    request.updated_at = now
    request.save(update_fields=fields)
    if shipped_now:
        _notify_voters(request, f"Shipped: “{request.title}”, which you voted for.")
    return request


@transaction.atomic
def request_merge(*, duplicate: FeatureRequest, into: FeatureRequest, actor: User) -> FeatureRequest:
    """Fold a duplicate into another request: its voters (once each) and comments move over."""
    if duplicate.pk == into.pk:
        raise ServiceError("A request cannot be merged into itself.", details={"into": ["Pick another request."]})
    rows = {r.pk: r for r in FeatureRequest.objects.select_for_update().filter(pk__in=[duplicate.pk, into.pk])}
    duplicate, into = rows[duplicate.pk], rows[into.pk]
    if into.merged_into_id:
        into = into.merged_into
    if duplicate.merged_into_id:
        raise Conflict("Already merged.", details={"duplicate": ["Already merged."]})
    already = set(FeatureVote.objects.filter(request=into).values_list("user_id", flat=True))
    moving = FeatureVote.objects.filter(request=duplicate).exclude(user_id__in=already)
    moved = moving.update(request=into)
    FeatureVote.objects.filter(request=duplicate).delete()
    FeatureComment.objects.filter(request=duplicate).update(request=into)
    FeatureRequest.objects.filter(pk=into.pk).update(votes=F("votes") + moved)
    duplicate.merged_into = into
    duplicate.votes = 0
    duplicate.updated_at = timezone.now()
    duplicate.save(update_fields=["merged_into", "votes", "updated_at"])
    into.refresh_from_db()
    return into


def notify_rollout_start(flag: Flag) -> None:
    """A flag went from nobody to somebody: tell the voters of requests behind it."""
    for request in FeatureRequest.objects.filter(flag=flag, merged_into__isnull=True):
        _notify_voters(request, f"Rolling out: “{request.title}”, which you voted for, is reaching its first users.")


# --- reads ---------------------------------------------------------------------------------


def public_list(params: dict[str, str]) -> QuerySet[FeatureRequest]:
    qs = FeatureRequest.objects.filter(merged_into__isnull=True).select_related("author")
    if params.get("status") in Status.values:
        qs = qs.filter(status=params["status"])
    if params.get("q"):
        qs = qs.filter(title__icontains=params["q"][:200])
    order = {"new": ("-created_at", "-id"), "top": ("-votes", "-created_at")}.get(params.get("sort", ""))
    return qs.order_by(*(order or ("-votes", "-created_at")))


def voted_ids(user: User, ids: list[int]) -> set[int]:
    if not user.is_authenticated or not ids:
        return set()
    return set(FeatureVote.objects.filter(user=user, request_id__in=ids).values_list("request_id", flat=True))


def roadmap(*, now: datetime | None = None) -> dict[str, list[FeatureRequest]]:
    now = now or timezone.now()
    rows = list(
        FeatureRequest.objects.filter(merged_into__isnull=True)
        .filter(status__in=[Status.PLANNED, Status.IN_PROGRESS, Status.SHIPPED])
        .exclude(status=Status.SHIPPED, shipped_at__lt=now - timedelta(days=90))
        .order_by("-votes", "-updated_at")[:300]
    )
    return {
        "planned": [r for r in rows if r.status == Status.PLANNED],
        "in_progress": [r for r in rows if r.status == Status.IN_PROGRESS],
        "shipped": sorted((r for r in rows if r.status == Status.SHIPPED), key=lambda r: r.shipped_at, reverse=True),
    }
