"""A/B experiments: deterministic assignment, exposure once, results from real data.

A user's variant is a hash of experiment and user id against the weights, so
pages, the API and Celery agree without storing anything. The exposure row is
written the first time the user actually meets the change (`expose`), and
results count only exposed users: people who never saw the change cannot
have been moved by it.

Metrics (primary and guardrails) are read from the real tables:
- `conversion`: did the user record event `event` within `window_hours` of exposure;
- `event_count`: events called `event` per day since exposure;
- `reviews_per_day`: review rows per day since exposure;
- `session_length`: mean duration of study sessions started since exposure (seconds);
- `true_retention`: share of reviews of mature cards (status "review") passed (quality ≥ 3).
Rates are compared with the two-proportion z-test and a Beta-binomial chance
to beat control; means with Welch's t-test (analytics.stats).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from analytics import flags, stats
from analytics.models import Event, Experiment, ExperimentExposure
from learning.models import Review, StudySession
from lms.errors import Conflict, ServiceError

logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "analytics:experiments:running"
RATE_KINDS = {"conversion"}
MEAN_KINDS = {"event_count", "reviews_per_day", "session_length", "true_retention"}
METRIC_KINDS = RATE_KINDS | MEAN_KINDS
METRIC_LABELS = {
    "conversion": "Conversion",
    "event_count": "Events per day",
    "reviews_per_day": "Reviews per day",
    "session_length": "Study session length (s)",
    "true_retention": "True retention",
}
MAX_VARIANTS = 5


# --- assignment -------------------------------------------------------------------------


def assign(experiment: Experiment, user_id: int) -> str:
    """The user's variant: deterministic, proportional to the weights."""
    digest = hashlib.sha256(f"experiment:{experiment.name}:{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v["weight"] for v in experiment.variants)
    running = 0.0
    for variant in experiment.variants:
        running += variant["weight"]
        if point < running:
            return variant["key"]
    return experiment.variants[-1]["key"]


def running() -> dict[str, Experiment]:
    found = cache.get(SNAPSHOT_KEY)
    if found is None:
        found = {e.name: e for e in Experiment.objects.filter(status=Experiment.Status.RUNNING).select_related("flag")}
        cache.set(SNAPSHOT_KEY, found, 10)
    return found


def forget_running() -> None:
    cache.delete(SNAPSHOT_KEY)


def _forget_now_and_on_commit() -> None:
    # Now, for this transaction's own reads; again on commit, in case another
    # request cached the old state in between.
    forget_running()
    transaction.on_commit(forget_running)


def variant_for(user: Any, name: str) -> str | None:
    """The user's variant if they take part (running, flag on), without recording anything."""
    experiment = running().get(name)
    if experiment is None or user is None or not getattr(user, "is_authenticated", False):
        return None
    if experiment.flag_id and not flags.flag_on_for_user(user, experiment.flag.name):
        return None
    return assign(experiment, user.pk)


def expose(user: Any, name: str) -> str | None:
    """Call where the user meets the change: returns their variant (None: not
    in the experiment) and records the exposure the first time."""
    variant = variant_for(user, name)
    if variant is None:
        return None
    request = flags.current_request.get()
    if request is not None:
        request.__dict__.setdefault("variants_seen", {})[name] = variant
    experiment = running()[name]
    key = f"analytics:exposed:{experiment.pk}:{user.pk}"
    if cache.get(key) is None:
        ExperimentExposure.objects.bulk_create(
            [ExperimentExposure(experiment=experiment, user_id=user.pk, variant=variant)], ignore_conflicts=True
        )
        cache.set(key, 1, 86400)
    return variant


# --- writes -------------------------------------------------------------------------------


def _clean_metric(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("kind") not in METRIC_KINDS:
        raise ServiceError(
            f"{field}: a metric needs a kind.", details={field: [f"kind is one of {', '.join(sorted(METRIC_KINDS))}."]}
        )
    kind = value["kind"]
    metric: dict[str, Any] = {"kind": kind}
    if kind in ("conversion", "event_count"):
        event = value.get("event")
        if not isinstance(event, str) or not event or len(event) > 64:
            raise ServiceError(f"{field}: name the event.", details={field: ["event: an event name."]})
        metric["event"] = event
    if kind == "conversion":
        hours = value.get("window_hours", 72)
        if not isinstance(hours, int) or not 1 <= hours <= 24 * 90:
            raise ServiceError(f"{field}: window_hours 1-2160.", details={field: ["window_hours: 1 to 2160."]})
        metric["window_hours"] = hours
    return metric


def _clean_variants(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_VARIANTS:
        raise ServiceError(
            "Two to five variants.", details={"variants": ["Two to five variants; the first is control."]}
        )
    out, keys = [], set()
    for v in value:
        key = v.get("key") if isinstance(v, dict) else None
        weight = v.get("weight") if isinstance(v, dict) else None
        if not isinstance(key, str) or not key or len(key) > 32 or key in keys:
            raise ServiceError("Each variant needs a unique key.", details={"variants": ["Unique keys, ≤ 32 chars."]})
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 100:
            raise ServiceError("Weights are numbers above 0.", details={"variants": ["weight: above 0, ≤ 100."]})
        keys.add(key)
        out.append({"key": key, "weight": float(weight)})
    return out


@transaction.atomic
def experiment_create(
    *,
    name: str,
    title: str,
    variants: Any,
    primary_metric: Any,
    actor: Any,
    hypothesis: str = "",
    guardrail_metrics: Any = None,
    flag: Any = None,
    planned_sample: int = 0,
    mde: float = 0.1,
) -> Experiment:
    if Experiment.objects.filter(name=name).exists():
        raise Conflict(f"An experiment called {name!r} exists.", details={"name": ["Taken."]})
    guardrails = guardrail_metrics or []
    if not isinstance(guardrails, list) or len(guardrails) > 5:
        raise ServiceError("At most five guardrails.", details={"guardrail_metrics": ["A list, at most five."]})
    if not 0 < mde < 10:
        raise ServiceError("mde is a relative change, e.g. 0.05.", details={"mde": ["Between 0 and 10."]})
    experiment = Experiment.objects.create(
        name=name,
        title=title,
        hypothesis=hypothesis,
        variants=_clean_variants(variants),
        primary_metric=_clean_metric(primary_metric, "primary_metric"),
        guardrail_metrics=[_clean_metric(g, "guardrail_metrics") for g in guardrails],
        flag=flag,
        planned_sample=planned_sample,
        mde=mde,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return experiment


@transaction.atomic
def _move(experiment: Experiment, *, source: str, target: str, stamp: str, now: datetime | None) -> Experiment:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != source:
        raise Conflict(f"Only a {source} experiment can become {target}.", details={"status": [experiment.status]})
    experiment.status = target
    setattr(experiment, stamp, now or timezone.now())
    experiment.save(update_fields=["status", stamp])
    _forget_now_and_on_commit()
    return experiment


def experiment_start(*, experiment: Experiment, now: datetime | None = None) -> Experiment:
    return _move(
        experiment, source=Experiment.Status.DRAFT, target=Experiment.Status.RUNNING, stamp="started_at", now=now
    )


def experiment_stop(*, experiment: Experiment, now: datetime | None = None) -> Experiment:
    return _move(
        experiment, source=Experiment.Status.RUNNING, target=Experiment.Status.STOPPED, stamp="stopped_at", now=now
    )


# --- results ------------------------------------------------------------------------------


@dataclass
class UserValue:
    variant: str
    day: date
    value: float | None  # None: the user has no data for a mean metric (e.g. no mature reviews)


def _end(experiment: Experiment, now: datetime) -> datetime:
    return experiment.stopped_at or now


def _count(rows: QuerySet, time_field: str, end: datetime, **extra: Any) -> Coalesce:
    """Rows of one user (already filtered on the outer exposure's user) since exposure."""
    owner = "user_id" if rows.model is Event else "student_id"
    qs = (
        rows.filter(**{f"{time_field}__gte": OuterRef("exposed_at"), f"{time_field}__lte": end}, **extra)
        .order_by()
        .values(owner)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(qs, output_field=IntegerField()), 0)


def user_values(experiment: Experiment, metric: dict[str, Any], *, now: datetime | None = None) -> list[UserValue]:
    """One value per exposed user, read with one query."""
    now = now or timezone.now()
    end = _end(experiment, now)
    exposures = ExperimentExposure.objects.filter(experiment=experiment)
    kind = metric["kind"]
    if kind == "conversion":
        window = timedelta(hours=metric["window_hours"])
        converted = Event.objects.filter(
            user_id=OuterRef("user_id"),
            name=metric["event"],
            timestamp__gte=OuterRef("exposed_at"),
            timestamp__lte=OuterRef("exposed_at") + window,
        )
        rows = exposures.annotate(v=Exists(converted)).values_list("variant", "exposed_at", "v")
        return [UserValue(variant, at.date(), 1.0 if v else 0.0) for variant, at, v in rows]
    if kind in ("reviews_per_day", "event_count"):
        if kind == "reviews_per_day":
            counted = _count(Review.objects.filter(student_id=OuterRef("user_id")), "reviewed_at", end)
        else:
            counted = _count(Event.objects.filter(user_id=OuterRef("user_id"), name=metric["event"]), "timestamp", end)
        rows = exposures.annotate(v=counted).values_list("variant", "exposed_at", "v")
        out = []
        for variant, at, n in rows:
            days = max((end - at).total_seconds() / 86400, 1.0)  # a first-day user is judged on one day
            out.append(UserValue(variant, at.date(), n / days))
        return out
    if kind == "session_length":
        sessions = StudySession.objects.filter(student_id=OuterRef("user_id"), answers_count__gt=0)
        total = Subquery(
            sessions.filter(started_at__gte=OuterRef("exposed_at"), started_at__lte=end)
            .order_by()
            .values("student_id")
            .annotate(s=Coalesce(Sum("duration_seconds"), 0))
            .values("s"),
            output_field=IntegerField(),
        )
        rows = exposures.annotate(total=total, n=_count(sessions, "started_at", end)).values_list(
            "variant", "exposed_at", "total", "n"
        )
        return [UserValue(variant, at.date(), (s / n) if n else None) for variant, at, s, n in rows]
    if kind == "true_retention":
        mature = Review.objects.filter(student_id=OuterRef("user_id"), status_before="review", changed_schedule=True)
        rows = exposures.annotate(
            n=_count(mature, "reviewed_at", end), passed=_count(mature, "reviewed_at", end, quality__gte=3)
        ).values_list("variant", "exposed_at", "n", "passed")
        return [UserValue(variant, at.date(), (p / n) if n else None) for variant, at, n, p in rows]
    raise ServiceError(f"Unknown metric {kind!r}.")


@dataclass
class Group:
    n: int = 0  # users with a value
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.total_sq += value * value

    def merged(self, other: Group) -> Group:
        return Group(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)


def compare(kind: str, control: Group, variant: Group) -> stats.Comparison | None:
    if control.n == 0 or variant.n == 0:
        return None
    if kind in RATE_KINDS:
        return stats.compare_rates(round(control.total), control.n, round(variant.total), variant.n)
    m1, v1 = stats.mean_variance(control.total, control.total_sq, control.n)
    m2, v2 = stats.mean_variance(variant.total, variant.total_sq, variant.n)
    return stats.compare_means(m1, v1, control.n, m2, v2, variant.n)


def metric_result(experiment: Experiment, metric: dict[str, Any], values: list[UserValue]) -> dict[str, Any]:
    groups: dict[str, Group] = {key: Group() for key in experiment.variant_keys}
    for uv in values:
        if uv.value is not None and uv.variant in groups:
            groups[uv.variant].add(uv.value)
    control = groups[experiment.control_key]
    rows = []
    for key in experiment.variant_keys:
        g = groups[key]
        mean, var = stats.mean_variance(g.total, g.total_sq, g.n)
        row: dict[str, Any] = {"variant": key, "users": g.n, "value": mean, "std": math.sqrt(var)}
        if metric["kind"] in RATE_KINDS:
            row["conversions"] = round(g.total)
        if key != experiment.control_key:
            comparison = compare(metric["kind"], control, g)
            row["comparison"] = comparison.as_dict() if comparison else None
        rows.append(row)
    return {"metric": metric, "label": METRIC_LABELS[metric["kind"]], "variants": rows}


def cumulative_lift(
    experiment: Experiment, metric: dict[str, Any], values: list[UserValue], variant: str
) -> list[dict[str, Any]]:
    """Lift of `variant` over control among users exposed up to each day, with its 95% interval."""
    by_day: dict[date, dict[str, Group]] = defaultdict(lambda: defaultdict(Group))
    for uv in values:
        if uv.value is not None:
            by_day[uv.day][uv.variant].add(uv.value)
    points = []
    control, treated = Group(), Group()
    for day in sorted(by_day):
        control = control.merged(by_day[day].get(experiment.control_key, Group()))
        treated = treated.merged(by_day[day].get(variant, Group()))
        comparison = compare(metric["kind"], control, treated)
        if comparison is not None and comparison.abs_low == comparison.abs_high:
            # No spread yet (e.g. nobody converted on either side): a zero-width
            # interval would read as certainty, so the day is left out of the chart.
            comparison = None
        points.append(
            {
                "day": day,
                "users": control.n + treated.n,
                "lift": comparison.abs_lift if comparison else None,
                "low": comparison.abs_low if comparison else None,
                "high": comparison.abs_high if comparison else None,
            }
        )
    return points


def _planned_sample(experiment: Experiment, primary: dict[str, Any]) -> int | None:
    if experiment.planned_sample:
        return experiment.planned_sample
    control = next(r for r in primary["variants"] if r["variant"] == experiment.control_key)
    if control["users"] < 30:
        return None  # no baseline yet to plan from
    if experiment.primary_metric["kind"] in RATE_KINDS:
        return stats.sample_size_rates(control["value"], experiment.mde) or None
    return stats.sample_size_means(control["value"], control["std"], experiment.mde) or None


def split_check(experiment: Experiment) -> tuple[list[int], stats.SrmResult]:
    """Exposures per variant (in the experiment's order) and their SRM test against the weights."""
    counts = dict(
        ExperimentExposure.objects.filter(experiment=experiment)
        .order_by()
        .values_list("variant")
        .annotate(n=Count("*"))
        .values_list("variant", "n")
    )
    observed = [counts.get(key, 0) for key in experiment.variant_keys]
    return observed, stats.srm_check(observed, [v["weight"] for v in experiment.variants])


def results(experiment: Experiment, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    observed, srm = split_check(experiment)
    primary_values = user_values(experiment, experiment.primary_metric, now=now)
    primary = metric_result(experiment, experiment.primary_metric, primary_values)
    guardrails = [
        metric_result(experiment, m, user_values(experiment, m, now=now)) for m in experiment.guardrail_metrics
    ]
    needed = _planned_sample(experiment, primary)
    smallest = min(observed) if observed else 0
    progress = min(1.0, smallest / needed) if needed else None
    winner = None
    if not srm.mismatch and progress is not None and progress >= 1.0:
        best = [
            r
            for r in primary["variants"]
            if r.get("comparison") and r["comparison"]["p_value"] < 0.05 and r["comparison"]["abs_lift"] > 0
        ]
        if best:
            winner = max(best, key=lambda r: r["comparison"]["abs_lift"])["variant"]
    treatment = experiment.variant_keys[1] if len(experiment.variant_keys) > 1 else None
    return {
        "experiment": experiment.name,
        "status": experiment.status,
        "exposures": dict(zip(experiment.variant_keys, observed, strict=True)),
        "srm": {
            "chi2": srm.chi2,
            "p_value": srm.p_value,
            "expected": srm.expected,
            "mismatch": srm.mismatch,
            "threshold": stats.SRM_ALPHA,
        },
        "primary": primary,
        "guardrails": guardrails,
        "sample": {"needed_per_variant": needed, "smallest_variant": smallest, "progress": progress},
        "winner": winner,
        "winner_blocked_by_srm": srm.mismatch,
        "cumulative": cumulative_lift(experiment, experiment.primary_metric, primary_values, treatment)
        if treatment
        else [],
    }


def srm_failures() -> list[tuple[Experiment, stats.SrmResult]]:
    """Running experiments whose split fails the SRM test (ops opens a SEV4 for them)."""
    out = []
    for experiment in Experiment.objects.filter(status=Experiment.Status.RUNNING):
        _, srm = split_check(experiment)
        if srm.mismatch:
            out.append((experiment, srm))
    return out


# --- wired into the product ------------------------------------------------------------------

SCHEDULER_EXPERIMENT = "scheduler-default"
SCHEDULER_BY_VARIANT = {"fsrs": "fsrs", "sm2": None}  # None: learning's own default


def choose_personal_scheduler(owner: Any) -> str | None:
    """A new personal deck's scheduler: users the `fsrs-new-personal-decks` flag
    is on for enter the scheduler-default experiment here (creating the deck is
    when they meet the change); None leaves learning's default."""
    variant = expose(owner, SCHEDULER_EXPERIMENT)
    return SCHEDULER_BY_VARIANT.get(variant) if variant else None
