"""Feature flags over django-waffle: evaluation, rollout, audit.

waffle's Flag (here `analytics.models.Flag`, WAFFLE_FLAG_MODEL) is the source
of truth; this module adds what waffle lacks:

- a **sticky percentage**: a user is in the first p% when a hash of flag name
  and user id falls below p, so the same user always gets the same answer
  and raising p only adds users (waffle's own percentage is a random cookie);
- allow and deny lists, and targeting by user attributes (role, class
  membership, sign-up date, time zone, any attribute the caller supplies);
- a gradual-rollout plan stored with the flag and advanced by hand or, once
  the flag's guardrails (ops detection) have held for `hold_minutes`, by
  `rollouts_advance`;
- an audit row (`FlagChange`) for every change, whoever makes it.

Evaluation reads one cached snapshot of every flag (one query when the cache
is cold, none when warm; FLAGS_CACHE_SECONDS across requests, then per
request), and remembers on the request which flags it saw, so ops can break
request metrics down by flag.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date

from analytics.models import Flag, FlagChange, FlagExposure
from lms.errors import Conflict, ServiceError

logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "analytics:flags:snapshot"
Strategy = Flag.Strategy
# Fields the audit log records (before → after).
AUDITED = (
    "title",
    "note",
    "everyone",
    "enabled",
    "strategy",
    "percentage",
    "attributes",
    "allow_users",
    "deny_users",
    "rollout_plan",
    "rollout_step",
    "auto_advance",
    "hold_minutes",
)
MAX_LIST = 1000  # allow/deny list entries
ATTRIBUTE_KEYS_BUILTIN = ("role", "classrooms", "joined_after", "joined_before", "timezone")

current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("flags_request", default=None)


# --- evaluation -------------------------------------------------------------------------


def bucket(flag_name: str, subject_key: str) -> float:
    """Where a user falls for a flag, uniform in [0, 100): the sticky percentage."""
    digest = hashlib.sha256(f"{flag_name}:{subject_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def snapshot() -> dict[str, Flag]:
    """Every flag by name: from the request, else the shared cache, else one query."""
    request = current_request.get()
    if request is not None and hasattr(request, "_flags_snapshot"):
        return request._flags_snapshot
    flags = cache.get(SNAPSHOT_KEY)
    if flags is None:
        flags = {f.name: f for f in Flag.objects.all()}
        cache.set(SNAPSHOT_KEY, flags, settings.FLAGS_CACHE_SECONDS)
    if request is not None:
        request._flags_snapshot = flags
    return flags


def forget_snapshot() -> None:
    cache.delete(SNAPSHOT_KEY)
    request = current_request.get()
    if request is not None and hasattr(request, "_flags_snapshot"):
        del request._flags_snapshot


@dataclass
class Subject:
    """Who a flag is evaluated for: a user id (or anonymous session key) and attributes."""

    key: str | None
    user_id: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    lazy: dict[str, Callable[[], Any]] = field(default_factory=dict)

    def attribute(self, name: str) -> Any:
        if name not in self.attributes and name in self.lazy:
            self.attributes[name] = self.lazy.pop(name)()
        return self.attributes.get(name)


def _classrooms_of(user_id: int) -> list[int]:
    # Read lazily: only a flag that targets classes pays for it.
    from learning.models import Classroom

    return sorted(
        set(Classroom.objects.filter(enrollments__student_id=user_id).values_list("id", flat=True))
        | set(Classroom.objects.filter(teacher_id=user_id).values_list("id", flat=True))
    )


def subject_for(user: Any, extra: dict[str, Any] | None = None) -> Subject:
    if user is None or not getattr(user, "is_authenticated", False):
        return Subject(key=None, attributes=dict(extra or {}))
    attributes: dict[str, Any] = {
        "role": user.role,
        "timezone": user.timezone,
        "date_joined": timezone.localdate(user.date_joined, timezone=user.tzinfo) if user.date_joined else None,
        "username": user.username,
        "is_staff": user.is_staff,
    }
    attributes.update(extra or {})
    lazy = {} if "classrooms" in attributes else {"classrooms": lambda: _classrooms_of(user.pk)}
    return Subject(key=str(user.pk), user_id=user.pk, attributes=attributes, lazy=lazy)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return parse_date(value)
        except ValueError:
            return None
    return None


def attributes_match(rules: dict[str, Any], subject: Subject) -> bool:
    """Every rule must hold. A list rule means "one of"; a list attribute
    (classrooms) matches when the two share a value."""
    for name, wanted in rules.items():
        if name in ("joined_after", "joined_before"):
            joined, bound = _as_date(subject.attribute("date_joined")), _as_date(wanted)
            if joined is None or bound is None:
                return False
            if (name == "joined_after" and joined < bound) or (name == "joined_before" and joined > bound):
                return False
            continue
        have = subject.attribute(name)
        options = wanted if isinstance(wanted, list) else [wanted]
        if isinstance(have, list | tuple | set):
            if not set(map(str, have)) & set(map(str, options)):
                return False
        elif str(have) not in set(map(str, options)) or have is None:
            return False
    return True


def evaluate(flag: Flag | None, subject: Subject) -> tuple[bool, str]:
    """(on?, why) for one flag and one subject."""
    if flag is None or flag.pk is None:
        return False, "unknown flag"
    if flag.everyone is not None:
        return bool(flag.everyone), "waffle: everyone " + ("on" if flag.everyone else "off")
    if not flag.enabled:
        return False, "disabled"
    if subject.user_id is not None and subject.user_id in flag.deny_users:
        return False, "deny list"
    if subject.user_id is not None and subject.user_id in flag.allow_users:
        return True, "allow list"
    if flag.strategy == Strategy.ALL_USERS:
        return True, "all users"
    if flag.strategy == Strategy.USER_LIST:
        return False, "not listed"
    if flag.strategy == Strategy.USER_ATTRIBUTE and not attributes_match(flag.attributes or {}, subject):
        return False, "attributes do not match"
    if subject.key is None:
        return False, "anonymous"
    pct = float(flag.percentage)
    if flag.strategy == Strategy.USER_ATTRIBUTE and pct <= 0:
        pct = 100.0  # an attribute flag with no percentage is for everyone who matches
    on = bucket(flag.name, subject.key) < pct
    return on, f"{'in' if on else 'outside'} {pct:g}%"


def _remember(request: HttpRequest | None, name: str, on: bool) -> None:
    if request is None:
        return
    seen = getattr(request, "flags_seen", None)
    if seen is None:
        seen = request.flags_seen = {}
    seen[name] = "on" if on else "off"


def _request_subject(request: HttpRequest) -> Subject:
    subject = getattr(request, "_flags_subject", None)
    if subject is None:
        user = getattr(request, "user", None)
        subject = subject_for(user)
        if subject.key is None and getattr(request, "session", None) is not None and request.session.session_key:
            subject.key = "s:" + hashlib.sha256(request.session.session_key.encode()).hexdigest()[:16]
        request._flags_subject = subject
    return subject


def flag_on(request: HttpRequest, name: str) -> bool:
    """Is the flag on for this request's user? Remembered on the request."""
    token = None
    if current_request.get() is not request:
        token = current_request.set(request)
    try:
        memo = request.__dict__.setdefault("_flags_memo", {})
        if name not in memo:
            memo[name] = evaluate(snapshot().get(name), _request_subject(request))[0]
        _remember(request, name, memo[name])
        return memo[name]
    finally:
        if token is not None:
            current_request.reset(token)


def flag_on_for_user(user: Any, name: str) -> bool:
    """For code without a request (a service choosing a default); uses the
    current request's cache and memory when there is one."""
    request = current_request.get()
    if request is not None and getattr(request, "user", None) == user:
        return flag_on(request, name)
    return evaluate(snapshot().get(name), subject_for(user))[0]


def flags_for(subject: Subject) -> dict[str, bool]:
    return {name: evaluate(flag, subject)[0] for name, flag in sorted(snapshot().items())}


class FlagsMiddleware:
    """Makes the request reachable from flag checks deep in services, and
    records a user's first meeting with each flag that was on for them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        seen = getattr(request, "flags_seen", None)
        user = getattr(request, "user", None)
        if seen and user is not None and user.is_authenticated:
            try:
                record_exposures(user.pk, [name for name, state in seen.items() if state == "on"])
            except Exception:  # recording must never break the page
                logger.warning("could not record flag exposures", exc_info=True)
        return response


def record_exposures(user_id: int, names: Iterable[str]) -> None:
    """One cache round trip per request; an INSERT only the first time."""
    keys = {f"analytics:flag-seen:{name}:{user_id}": name for name in names}
    if not keys:
        return
    known = cache.get_many(list(keys))
    new = [name for key, name in keys.items() if key not in known]
    if new:
        FlagExposure.objects.bulk_create(
            [FlagExposure(flag_name=name, user_id=user_id) for name in new], ignore_conflicts=True
        )
        cache.set_many({key: 1 for key, name in keys.items() if name in new}, 86400)


# --- rollout plans ------------------------------------------------------------------------


def gradual_plan(current: float, target: float = 100.0, increment: float = 10.0) -> dict[str, Any]:
    """From `current` to `target` by `increment`: 5 → 100 by 10 is 15, 25, …, 95, 100."""
    if increment <= 0:
        raise ServiceError("The increment must be above 0.", details={"increment": ["Must be above 0."]})
    if not 0 <= current <= 100 or not 0 < target <= 100 or target <= current:
        raise ServiceError(
            "The target must be above the current percentage, at most 100.",
            details={"target_percentage": ["Must be above the current percentage and at most 100."]},
        )
    steps: list[float] = []
    value = current + increment
    while value < target - 1e-9:
        steps.append(round(value, 2))
        value += increment
    steps.append(round(target, 2))
    return {
        "current_percentage": round(current, 2),
        "target_percentage": round(target, 2),
        "increment": round(increment, 2),
        "steps": steps,
        "total_steps": len(steps),
        "recommendation": f"Gradually increase from {current:g}% to {target:g}% in {len(steps)} steps",
    }


def next_step(flag: Flag) -> float | None:
    steps = (flag.rollout_plan or {}).get("steps") or []
    return float(steps[flag.rollout_step]) if flag.rollout_step < len(steps) else None


def previous_step(flag: Flag) -> float:
    plan = flag.rollout_plan or {}
    steps = plan.get("steps") or []
    if flag.rollout_step >= 2:
        return float(steps[flag.rollout_step - 2])
    return float(plan.get("current_percentage", 0))


# --- writes -------------------------------------------------------------------------------


def state_of(flag: Flag) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in AUDITED:
        value = getattr(flag, name)
        out[name] = float(value) if isinstance(value, Decimal) else value
    return out


def _clean_ids(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ServiceError(f"{name} must be a list of user ids.", details={name: ["Must be a list of user ids."]})
    if len(value) > MAX_LIST:
        raise ServiceError(f"{name} is too long.", details={name: [f"At most {MAX_LIST} users."]})
    return sorted(set(value))


def _clean_percentage(value: Any) -> Decimal:
    try:
        pct = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError("percentage must be a number.", details={"percentage": ["Must be a number."]}) from exc
    if not Decimal(0) <= pct <= Decimal(100):
        raise ServiceError("percentage must be between 0 and 100.", details={"percentage": ["Between 0 and 100."]})
    return pct


def _clean_attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) > 20:
        raise ServiceError("attributes must be an object.", details={"attributes": ["Must be an object (≤ 20 keys)."]})
    for key, wanted in value.items():
        if key in ("joined_after", "joined_before") and _as_date(wanted) is None:
            raise ServiceError(f"{key} must be a date.", details={"attributes": [f"{key}: use YYYY-MM-DD."]})
        if isinstance(wanted, list) and len(wanted) > MAX_LIST:
            raise ServiceError("An attribute list is too long.", details={"attributes": [f"{key}: too many values."]})
        if isinstance(wanted, dict):
            raise ServiceError("Attribute values are values or lists.", details={"attributes": [f"{key}: no objects."]})
    return value


def _apply(flag: Flag, changes: dict[str, Any]) -> None:
    if "strategy" in changes and changes["strategy"] not in Strategy.values:
        raise ServiceError("Unknown strategy.", details={"strategy": [f"One of {', '.join(Strategy.values)}."]})
    cleaners: dict[str, Callable[[Any], Any]] = {
        "percentage": _clean_percentage,
        "attributes": _clean_attributes,
        "allow_users": lambda v: _clean_ids(v, "allow_users"),
        "deny_users": lambda v: _clean_ids(v, "deny_users"),
    }
    for name, value in changes.items():
        if name not in AUDITED:
            raise ServiceError(f"{name} cannot be changed here.", details={name: ["Unknown field."]})
        setattr(flag, name, cleaners[name](value) if name in cleaners else value)


def _audit(flag: Flag, before: dict[str, Any], *, actor: Any, source: str, reason: str, now: datetime) -> FlagChange:
    after = state_of(flag)
    return FlagChange.objects.create(
        flag=flag,
        flag_name=flag.name,
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        source=source,
        at=now,
        before=before,
        after=after,
        reason=reason[:500],
    )


def reach_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Did the change move who gets the flag (percentage or on/off)?"""
    return float(after.get("percentage") or 0) != float(before.get("percentage") or 0) or after.get(
        "enabled"
    ) != before.get("enabled")


def _save(flag: Flag, before: dict[str, Any], *, now: datetime) -> None:
    if reach_changed(before, state_of(flag)):
        flag.step_changed_at = now
    flag.modified = now
    flag.save()  # waffle's save flushes its cache keys and ours (get_flush_keys)
    transaction.on_commit(forget_snapshot)


def _effective(state: dict[str, Any]) -> float | None:
    """How much of the population a state reaches; None for a targeted flag
    (listed users, attributes) whose reach is not a percentage."""
    if state.get("everyone") is False or not state.get("enabled"):
        return 0.0
    if state.get("everyone") or state.get("strategy") == Strategy.ALL_USERS:
        return 100.0
    if state.get("strategy") == Strategy.USER_LIST:
        return None if state.get("allow_users") else 0.0
    if state.get("strategy") == Strategy.USER_ATTRIBUTE:
        return None
    return float(state.get("percentage") or 0)


_rollout_listeners: list[Callable[[Flag], None]] = []


def on_rollout_start(listener: Callable[[Flag], None]) -> None:
    """Register a callback for a flag going from nobody to somebody (feature requests use it)."""
    if listener not in _rollout_listeners:
        _rollout_listeners.append(listener)


def after_change(flag: Flag, before: dict[str, Any]) -> None:
    """Tell the listeners when a change takes a flag from nobody to somebody."""
    if _effective(before) == 0 and _effective(state_of(flag)) != 0:
        for listener in _rollout_listeners:
            listener(flag)


@transaction.atomic
def flag_create(*, name: str, actor: Any, source: str = FlagChange.Source.API, reason: str = "", **fields: Any) -> Flag:
    name = (name or "").strip()
    if not name or len(name) > 100 or not all(c.isalnum() or c in "-_" for c in name):
        raise ServiceError("A flag name is letters, digits, - and _.", details={"name": ["Letters, digits, - and _."]})
    if Flag.objects.filter(name=name).exists():
        raise Conflict(f"A flag called {name!r} exists.", details={"name": ["Taken."]})
    now = timezone.now()
    flag = Flag(name=name, created=now)
    before = state_of(flag)
    _apply(flag, fields)
    _save(flag, before, now=now)
    _audit(flag, before, actor=actor, source=source, reason=reason or "created", now=now)
    after_change(flag, before)
    return flag


@transaction.atomic
def flag_update(
    *, flag: Flag, actor: Any, source: str, reason: str = "", now: datetime | None = None, **changes: Any
) -> Flag:
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    now = now or timezone.now()
    before = state_of(flag)
    _apply(flag, changes)
    if state_of(flag) == before:
        return flag
    _save(flag, before, now=now)
    _audit(flag, before, actor=actor, source=source, reason=reason, now=now)
    after_change(flag, before)
    return flag


@transaction.atomic
def flag_plan_rollout(
    *,
    flag: Flag,
    actor: Any,
    source: str,
    target: float = 100.0,
    increment: float = 10.0,
    auto_advance: bool = False,
    hold_minutes: int | None = None,
    reason: str = "",
) -> Flag:
    """Store the brief's gradual plan with the flag; the current percentage is its start."""
    plan = gradual_plan(float(flag.percentage), target, increment)
    changes: dict[str, Any] = {
        "strategy": Strategy.GRADUAL,
        "enabled": True,
        "rollout_plan": plan,
        "rollout_step": 0,
        "auto_advance": auto_advance,
    }
    if hold_minutes is not None:
        if not 1 <= hold_minutes <= 10080:
            raise ServiceError("hold_minutes: 1 to 10080.", details={"hold_minutes": ["Between 1 and 10080."]})
        changes["hold_minutes"] = hold_minutes
    return flag_update(flag=flag, actor=actor, source=source, reason=reason or plan["recommendation"], **changes)


@transaction.atomic
def flag_advance(*, flag: Flag, actor: Any, source: str, reason: str = "", now: datetime | None = None) -> Flag:
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    step = next_step(flag)
    if step is None:
        raise Conflict("The rollout plan has no step left.", details={"rollout_plan": ["Done."]})
    return flag_update(
        flag=flag,
        actor=actor,
        source=source,
        reason=reason or f"step {flag.rollout_step + 1} of {len(flag.rollout_plan['steps'])}: {step:g}%",
        now=now,
        percentage=step,
        rollout_step=flag.rollout_step + 1,
    )


@transaction.atomic
def flag_step_back(*, flag: Flag, actor: Any, source: str, reason: str, now: datetime | None = None) -> Flag:
    """Back to the previous step of the plan (or off when there is no plan)."""
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if not flag.rollout_plan or flag.rollout_step == 0:
        return flag_update(
            flag=flag, actor=actor, source=source, reason=reason, now=now, enabled=False, auto_advance=False
        )
    return flag_update(
        flag=flag,
        actor=actor,
        source=source,
        reason=reason,
        now=now,
        percentage=previous_step(flag),
        rollout_step=flag.rollout_step - 1,
        auto_advance=False,
    )


def flag_guard_report(*, name: str, healthy: bool, note: str = "", now: datetime | None = None) -> None:
    """Ops' guardrail rules say whether a flag's variant holds up (each pass).
    Not audited: it changes no behaviour, only what auto-advance may do."""
    now = now or timezone.now()
    state = "healthy" if healthy else "tripped"
    flag = Flag.objects.filter(name=name).only("pk", "guard_state").first()
    if flag is None:
        return
    fields: dict[str, Any] = {"guard_note": note[:300]}
    if flag.guard_state != state:
        fields.update(guard_state=state, guard_since=now)
    Flag.objects.filter(pk=flag.pk).update(**fields)
    forget_snapshot()


def rollouts_advance(*, now: datetime | None = None) -> list[str]:
    """Take the next step of every automatic rollout whose guardrails held for its hold time."""
    now = now or timezone.now()
    advanced = []
    for flag in Flag.objects.filter(strategy=Strategy.GRADUAL, enabled=True, auto_advance=True):
        hold = timedelta(minutes=flag.hold_minutes)
        if next_step(flag) is None or flag.guard_state != "healthy" or flag.guard_since is None:
            continue
        if now - flag.guard_since < hold or (flag.step_changed_at and now - flag.step_changed_at < hold):
            continue
        flag_advance(
            flag=flag,
            actor=None,
            source=FlagChange.Source.AUTO,
            reason=f"guardrails held for {flag.hold_minutes} min; next step {next_step(flag):g}%",
            now=now,
        )
        advanced.append(flag.name)
    return advanced


# --- reads --------------------------------------------------------------------------------


def stale_flags(*, now: datetime | None = None) -> list[Flag]:
    """Flags at 0% or 100% (off or fully on) unchanged for FLAGS_STALE_DAYS: remove the flag or the code."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FLAGS_STALE_DAYS)
    return [f for f in Flag.objects.filter(modified__lt=cutoff) if _effective(state_of(f)) in (0.0, 100.0)]


def stale_names(flags: Iterable[Flag], *, now: datetime | None = None) -> set[str]:
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FLAGS_STALE_DAYS)
    return {f.name for f in flags if f.modified < cutoff and _effective(state_of(f)) in (0.0, 100.0)}


def effective_percentage(flag: Flag) -> float | None:
    return _effective(state_of(flag))
