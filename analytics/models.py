"""The event stream and the small daily tables summarised from it.

Days in the rollup tables are UTC day numbers (days since 1970-01-01) so that
"the next day" is `day + 1` in any database. Which local day a UTC moment falls
on depends on the viewer's time zone; the activity rollup therefore keeps, per
user and UTC day, a bitmap of the quarter-hours in which the user was active
(96 slots split over two 48-bit integers), which is enough to place activity
on local days exactly for every real time-zone offset, DST included.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Cast, Coalesce, Least
from django.http import HttpRequest
from django.utils import timezone
from waffle.models import AbstractUserFlag


class EventQuerySet(models.QuerySet):
    def for_user(self, user_id: int) -> EventQuerySet:
        return self.filter(user_id=user_id).order_by("-timestamp", "-id")

    def for_session(self, session_key: str) -> EventQuerySet:
        return self.filter(session_key=session_key).select_related("user").order_by("timestamp", "id")

    def errors(self) -> EventQuerySet:
        return self.filter(name="error")


class EventManager(models.Manager.from_queryset(EventQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> EventQuerySet:
        # Every ORM read of events (and the related `user.analytics_events`)
        # starts here: the events buffered in Redis are written first
        # (analytics.pending), so what is read is what a direct write would show.
        from analytics import pending

        pending.flush()
        return super().get_queryset()


class Event(models.Model):
    name = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="analytics_events"
    )
    # A keyed hash of the Django session key (never the key itself: it is a credential).
    session_key = models.CharField(max_length=64, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)

    objects = EventManager()

    class Meta:
        indexes = [
            models.Index(fields=["name", "timestamp"], name="event_name_time"),
            models.Index(fields=["user", "timestamp"], name="event_user_time"),
            models.Index(fields=["session_key", "timestamp"], name="event_session_time"),
            # Funnels look up "the next event called X by this user after t".
            models.Index(fields=["user", "name", "timestamp"], name="event_user_name_time"),
            models.Index(fields=["timestamp"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class ActiveUserDay(models.Model):
    """One row per signed-in user per UTC day with any event."""

    day = models.IntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    slots_am = models.BigIntegerField(help_text="bit i: active in quarter-hour i (00:00-11:59 UTC)")
    slots_pm = models.BigIntegerField(help_text="bit i: active in quarter-hour 48+i (12:00-23:59 UTC)")
    events = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="active_user_day_unique")]
        indexes = [models.Index(fields=["user", "day"], name="active_user_day_user")]

    def __str__(self) -> str:
        return f"user {self.user_id} active on day {self.day}"


class DailyEventCount(models.Model):
    day = models.IntegerField()
    name = models.CharField(max_length=64)
    events = models.IntegerField()
    users = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "name"], name="daily_event_count_unique")]

    def __str__(self) -> str:
        return f"{self.name} on day {self.day}: {self.events}"


class FeatureUserDay(models.Model):
    """Who used which event name on a UTC day: distinct users per feature over any range."""

    day = models.IntegerField()
    name = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "name", "user"], name="feature_user_day_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} used {self.name} on day {self.day}"


class DailySessionStats(models.Model):
    """Sessions (runs of one user's events without a gap over 30 minutes) by the UTC day they start."""

    day = models.IntegerField(unique=True)
    sessions = models.IntegerField()
    duration_seconds = models.BigIntegerField()
    events = models.IntegerField()

    def __str__(self) -> str:
        return f"day {self.day}: {self.sessions} sessions"


class RollupDay(models.Model):
    """A UTC day whose rollups are complete; days without a row are computed live."""

    day = models.IntegerField(primary_key=True)
    rolled_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"day {self.day} rolled up at {self.rolled_at:%Y-%m-%d %H:%M}"


# --- Feature flags (analytics.flags) -------------------------------------------------------


class Flag(AbstractUserFlag):
    """waffle's Flag with the strategies it lacks (WAFFLE_FLAG_MODEL points here).

    `flag_is_active`, `{% flag %}` and the admin keep working: `is_active`
    evaluates with analytics.flags (sticky hash, lists, attributes, rollout)."""

    class Strategy(models.TextChoices):
        ALL_USERS = "all_users", "All users"
        PERCENTAGE = "percentage", "Percentage of users"
        USER_LIST = "user_list", "Listed users only"
        USER_ATTRIBUTE = "user_attribute", "Users with attributes"
        GRADUAL = "gradual", "Gradual rollout"

    # waffle turns flags on for superusers by default; a rollout must not.
    superusers = models.BooleanField(default=False, help_text="Flag always active for superusers?")
    title = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=False, help_text="Off: nobody gets the flag, whatever the strategy.")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.PERCENTAGE)
    percentage = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    attributes = models.JSONField(default=dict, blank=True, help_text='e.g. {"role": ["student"]}')
    allow_users = models.JSONField(default=list, blank=True, help_text="User ids who always get the flag.")
    deny_users = models.JSONField(default=list, blank=True, help_text="User ids who never get the flag.")
    # {"start", "target", "increment", "steps": [...], "total_steps", "recommendation"}
    rollout_plan = models.JSONField(default=dict, blank=True)
    rollout_step = models.PositiveSmallIntegerField(default=0, help_text="Steps of the plan taken so far.")
    auto_advance = models.BooleanField(default=False)
    hold_minutes = models.PositiveIntegerField(default=60, help_text="Guardrails must hold this long per step.")
    step_changed_at = models.DateTimeField(null=True, blank=True)
    # Written by ops' guardrail rules through analytics.flags.flag_guard_report.
    guard_state = models.CharField(max_length=10, blank=True, default="")
    guard_since = models.DateTimeField(null=True, blank=True)
    guard_note = models.CharField(max_length=300, blank=True, default="")

    class Meta(AbstractUserFlag.Meta):
        ordering = ["name"]

    def get_flush_keys(self, flush_keys: list[str] | None = None) -> list[str]:
        from analytics.flags import SNAPSHOT_KEY

        return [*super().get_flush_keys(flush_keys), SNAPSHOT_KEY]

    @classmethod
    def get(cls, name: str) -> Flag:
        from analytics.flags import snapshot

        return snapshot().get(name) or cls(name=name)

    def is_active(self, request: HttpRequest, read_only: bool = False) -> bool:
        from analytics.flags import flag_on

        return flag_on(request, self.name)

    def is_active_for_user(self, user: Any) -> bool:
        from analytics.flags import flag_on_for_user

        return flag_on_for_user(user, self.name)


class FlagChange(models.Model):
    """The audit log: every change to a flag, who made it, before and after, why."""

    class Source(models.TextChoices):
        STAFF = "staff", "Staff page"
        API = "api", "API"
        ADMIN = "admin", "Django admin"
        AUTO = "auto", "Automatic rollout"
        GUARDRAIL = "guardrail", "Guardrail"
        SEED = "seed", "Seed"

    flag = models.ForeignKey(Flag, null=True, on_delete=models.SET_NULL, related_name="changes")
    flag_name = models.CharField(max_length=100)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=10, choices=Source.choices)
    at = models.DateTimeField(default=timezone.now)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["flag_name", "at"], name="flag_change_name_at")]

    def __str__(self) -> str:
        return f"{self.flag_name} changed {self.at:%Y-%m-%d %H:%M}"

    @property
    def changed(self) -> dict[str, tuple[Any, Any]]:
        """What differs, with a plan shown by its recommendation (the steps follow from it)."""

        def shown(key: str, value: Any) -> Any:
            if key == "rollout_plan" and isinstance(value, dict):
                return value.get("recommendation") or None
            return value

        keys = sorted(set(self.before) | set(self.after))
        return {
            k: (shown(k, self.before.get(k)), shown(k, self.after.get(k)))
            for k in keys
            if self.before.get(k) != self.after.get(k)
        }


class FlagExposure(models.Model):
    """A user who met a flag switched on (first time only)."""

    flag_name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flag_name", "user"], name="flag_exposure_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} met {self.flag_name}"


# --- Experiments (analytics.experiments) -----------------------------------------------------


class Experiment(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    name = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    # [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}]; the first is control.
    variants = models.JSONField(default=list)
    flag = models.ForeignKey(
        Flag, null=True, blank=True, on_delete=models.SET_NULL, help_text="Only users the flag is on for take part."
    )
    # {"kind": "conversion", "event": "...", "window_hours": 72} or {"kind": "reviews_per_day"} ...
    primary_metric = models.JSONField(default=dict)
    guardrail_metrics = models.JSONField(default=list, blank=True)
    planned_sample = models.PositiveIntegerField(default=0, help_text="Users per variant; 0: computed from the MDE.")
    mde = models.FloatField(default=0.1, help_text="Smallest relative change worth detecting.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title or self.name

    @property
    def variant_keys(self) -> list[str]:
        return [v["key"] for v in self.variants]

    @property
    def control_key(self) -> str:
        return self.variants[0]["key"] if self.variants else "control"


class ExperimentExposure(models.Model):
    """A user's assignment, recorded once, when they first met the change."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=32)
    exposed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "user"], name="experiment_exposure_unique")]
        indexes = [models.Index(fields=["experiment", "variant", "exposed_at"], name="exposure_exp_variant_at")]

    def __str__(self) -> str:
        return f"user {self.user_id} in {self.variant} of experiment {self.experiment_id}"


# --- Feedback (analytics.feedback) -----------------------------------------------------------


class FeedbackQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> FeedbackQuerySet:
        qs = self.select_related("user", "assignee")
        if user.is_staff or getattr(user, "role", "") == "admin":
            return qs
        return qs.filter(user=user)


class Feedback(models.Model):
    class Kind(models.TextChoices):
        BUG = "bug", "Bug"
        IDEA = "idea", "Idea"
        CONTENT = "content", "Content"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        NEW = "new", "New"
        TRIAGED = "triaged", "Triaged"
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField()
    # Context captured automatically with the message.
    page_url = models.CharField(max_length=500, blank=True)
    role = models.CharField(max_length=16, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    browser = models.CharField(max_length=300, blank=True)
    flags = models.JSONField(default=dict, blank=True)
    variants = models.JSONField(default=dict, blank=True)
    incidents = models.JSONField(default=list, blank=True)
    # Triage.
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.JSONField(default=list, blank=True)
    reply = models.TextField(blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="feedback_status_at"),
            models.Index(fields=["user", "created_at"], name="feedback_user_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.user_id}: {self.message[:40]}"


class NpsResponse(models.Model):
    """An answer to "how likely are you to recommend us" (score None: dismissed)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at"], name="nps_user_at"),
            models.Index(fields=["created_at"], name="nps_at"),
        ]

    def __str__(self) -> str:
        return f"NPS {self.score} from user {self.user_id}"


# --- Feature requests and the roadmap (analytics.feature_requests) -------------------------------


class FeatureRequestQuerySet(models.QuerySet):
    def with_score(self) -> FeatureRequestQuerySet:
        """priority = demand (votes / 10, at most 10) × 0.4 + impact × 0.3 + alignment × 0.2 + (10 − complexity) × 0.1."""
        demand = Least(Cast(F("votes"), models.FloatField()) / 10.0, Value(10.0))
        score = (
            demand * 0.4
            + Cast(Coalesce("business_impact", 5), models.FloatField()) * 0.3
            + Cast(Coalesce("strategic_alignment", 5), models.FloatField()) * 0.2
            + (10.0 - Cast(Coalesce("complexity", 5), models.FloatField())) * 0.1
        )
        return self.annotate(score=score)

    def open(self) -> FeatureRequestQuerySet:
        return self.filter(merged_into__isnull=True).exclude(status__in=["shipped", "declined"])


class FeatureRequest(models.Model):
    class Status(models.TextChoices):
        UNDER_REVIEW = "under_review", "Under review"
        PLANNED = "planned", "Planned"
        IN_PROGRESS = "in_progress", "In progress"
        SHIPPED = "shipped", "Shipped"
        DECLINED = "declined", "Declined"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNDER_REVIEW)
    votes = models.PositiveIntegerField(default=0)
    business_impact = models.PositiveSmallIntegerField(null=True, blank=True)
    strategic_alignment = models.PositiveSmallIntegerField(null=True, blank=True)
    complexity = models.PositiveSmallIntegerField(null=True, blank=True)
    flag = models.ForeignKey(Flag, null=True, blank=True, on_delete=models.SET_NULL, related_name="feature_requests")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates")
    shipped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = FeatureRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-votes", "-created_at"]
        indexes = [models.Index(fields=["status", "votes"], name="feature_request_status_votes")]

    def __str__(self) -> str:
        return self.title


class FeatureVote(models.Model):
    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="vote_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "user"], name="feature_vote_once")]
        indexes = [models.Index(fields=["user", "request"], name="feature_vote_user")]

    def __str__(self) -> str:
        return f"user {self.user_id} votes for request {self.request_id}"


class FeatureComment(models.Model):
    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment on request {self.request_id}"


class Notice(models.Model):
    """An in-app message for one user ("a feature you voted for has shipped")."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notice_user_read")]

    def __str__(self) -> str:
        return self.message
