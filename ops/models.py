"""Ops data: request metrics, health probes, incidents and their detection
rules, maintenance windows and weekly maintenance runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RequestMetric(models.Model):
    """Requests to one route+method in one minute (or, past the minute
    retention, one hour), with a fixed-bucket duration histogram."""

    class Resolution(models.TextChoices):
        MINUTE = "minute", "Minute"
        HOUR = "hour", "Hour"

    resolution = models.CharField(max_length=8, choices=Resolution.choices, default=Resolution.MINUTE)
    bucket_start = models.DateTimeField()
    route = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    request_count = models.PositiveIntegerField(default=0)
    client_errors = models.PositiveIntegerField(default=0)
    server_errors = models.PositiveIntegerField(default=0)
    duration_sum_ms = models.FloatField(default=0)
    duration_min_ms = models.FloatField(null=True)
    duration_max_ms = models.FloatField(null=True)
    # Counts per bucket of ops.metrics.BUCKETS_MS (the last bucket is open-ended).
    histogram = models.JSONField(default=list)
    status_codes = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resolution", "bucket_start", "route", "method"], name="ops_metric_unique_bucket"
            )
        ]
        indexes = [models.Index(fields=["resolution", "bucket_start"], name="ops_metric_res_start")]

    def __str__(self) -> str:
        return f"{self.method} {self.route} @ {self.bucket_start:%Y-%m-%d %H:%M}"


class RequestMetricFlush(models.Model):
    """One Redis snapshot of request counters (its "taken" key, unique per
    flush) written into RequestMetric, recorded in the same transaction as its
    counters: a flush replayed after a crash between that commit and Redis's
    delete finds the key here and adds nothing (ops.metrics.write_snapshots)."""

    key = models.CharField(max_length=200, unique=True)
    flushed_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.key


class HealthProbe(models.Model):
    """One check of one component; written every minute by the probe job."""

    class Component(models.TextChoices):
        WEB = "web", "Web"
        DATABASE = "database", "Database"
        CACHE = "cache", "Cache"
        BROKER = "broker", "Broker"
        WORKERS = "workers", "Workers"

    component = models.CharField(max_length=16, choices=Component.choices)
    status = models.CharField(max_length=12)  # ops.health.HEALTHY / DEGRADED / UNHEALTHY
    latency_ms = models.FloatField()
    message = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["component", "checked_at"], name="ops_probe_comp_time")]
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.component} {self.status} @ {self.checked_at:%Y-%m-%d %H:%M}"


class Severity(models.IntegerChoices):
    SEV1 = 1, "SEV1 – critical"
    SEV2 = 2, "SEV2 – high"
    SEV3 = 3, "SEV3 – medium"
    SEV4 = 4, "SEV4 – low"


class DetectionRule(models.Model):
    """A condition the detection pass evaluates every minute."""

    class Kind(models.TextChoices):
        ERROR_RATE = "error_rate", "Server error rate (fraction) over the window"
        P95_LATENCY = "p95_latency", "p95 response time (ms) over the window"
        CPU = "cpu", "CPU use (%)"
        MEMORY = "memory", "Memory use (%)"
        DISK = "disk", "Disk use (%)"
        PROBE_FAILURE = "probe_failure", "Consecutive failing health probes of a component"
        FLAG_ERROR_RATE = "flag_error_rate", "A flag's server error rate above control's (fraction)"
        FLAG_P95 = "flag_p95", "A flag's p95 above control's (ms)"
        EXPERIMENT_SRM = "experiment_srm", "A running experiment fails its sample-ratio check"
        HEARTBEAT = "heartbeat", "Celery beat's heartbeat is stale"

    class FlagAction(models.TextChoices):
        NONE = "none", "Open an incident only"
        OFF = "off", "Turn the flag off"
        STEP_BACK = "step_back", "Back one rollout step (off when there is none)"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold = models.FloatField(help_text="Fires when the measured value is above this.")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV2)
    critical_threshold = models.FloatField(
        null=True, blank=True, help_text="Above this the incident is opened (or raised) at the critical severity."
    )
    critical_severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    window_minutes = models.PositiveIntegerField(default=5)
    min_requests = models.PositiveIntegerField(
        default=50, help_text="Rate rules stay quiet below this many requests in the window."
    )
    component = models.CharField(max_length=16, choices=HealthProbe.Component.choices, blank=True)
    consecutive = models.PositiveIntegerField(default=2, help_text="Probe rules: failing probes in a row.")
    clear_minutes = models.PositiveIntegerField(
        default=10, help_text="Resolve the incident after the condition has been clear this long."
    )
    components = models.JSONField(default=list, blank=True, help_text="Components the incident affects.")
    enabled = models.BooleanField(default=True)
    # Flag guardrails (ops.guardrails): the flag watched and what to do to it.
    flag = models.CharField(max_length=100, blank=True)
    flag_action = models.CharField(max_length=10, choices=FlagAction.choices, default=FlagAction.NONE)
    # Resource rules (CPU, memory, disk) must hold on every pass for
    # `window_minutes` before they open an incident: one busy second is not an incident.
    holding_since = models.DateTimeField(null=True, blank=True, editable=False)
    runbook = models.ForeignKey("ops.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="rules")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class IncidentQuerySet(models.QuerySet):
    def open(self) -> IncidentQuerySet:
        return self.exclude(status=Incident.Status.RESOLVED)

    def for_list(self) -> IncidentQuerySet:
        # Open ones first, then the most severe, then the newest.
        return (
            self.select_related("commander", "rule")
            .annotate(
                closed_rank=models.Case(
                    models.When(status=Incident.Status.RESOLVED, then=models.Value(1)),
                    default=models.Value(0),
                    output_field=models.IntegerField(),
                )
            )
            .order_by("closed_rank", "severity", "-triggered_at")
        )


class Incident(models.Model):
    class Status(models.TextChoices):
        TRIGGERED = "triggered", "Triggered"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

    class Source(models.TextChoices):
        MANUAL = "manual", "Declared by a person"
        DETECTION = "detection", "Automated detection"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIGGERED)
    components = models.JSONField(default=list, blank=True)
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    rule = models.ForeignKey(DetectionRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    triggered_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    time_to_acknowledge_s = models.PositiveIntegerField(null=True, blank=True)
    time_to_resolve_s = models.PositiveIntegerField(null=True, blank=True)
    response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Detection: the last pass on which the rule's condition held.
    last_fired_at = models.DateTimeField(null=True, blank=True)
    postmortem_summary = models.TextField(blank=True)
    postmortem_impact = models.TextField(blank=True)
    postmortem_root_cause = models.TextField(blank=True)
    postmortem_resolution = models.TextField(blank=True)
    postmortem_action_items = models.TextField(blank=True)
    postmortem_at = models.DateTimeField(null=True, blank=True)
    # When users were first affected, if known earlier than the trigger (MTTD).
    impact_started_at = models.DateTimeField(null=True, blank=True)
    runbook = models.ForeignKey(
        "ops.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )

    objects = IncidentQuerySet.as_manager()

    class Meta:
        constraints = [
            # Detection never opens a second incident for a rule while one is open.
            models.UniqueConstraint(
                fields=["rule"], condition=Q(rule__isnull=False) & ~Q(status="resolved"), name="ops_one_open_per_rule"
            )
        ]
        indexes = [models.Index(fields=["status", "severity"], name="ops_incident_status_sev")]
        ordering = ["-triggered_at"]

    def __str__(self) -> str:
        return f"SEV{self.severity} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED

    @property
    def response_target(self) -> timedelta:
        return timedelta(minutes=settings.OPS_SEVERITY_TARGETS[self.severity]["respond_minutes"])

    @property
    def resolution_target(self) -> timedelta:
        return timedelta(minutes=settings.OPS_SEVERITY_TARGETS[self.severity]["resolve_minutes"])

    @property
    def response_target_s(self) -> int:
        return int(self.response_target.total_seconds())

    @property
    def resolution_target_s(self) -> int:
        return int(self.resolution_target.total_seconds())

    @property
    def respond_by(self) -> timezone.datetime:
        return self.triggered_at + self.response_target

    @property
    def resolve_by(self) -> timezone.datetime:
        return self.triggered_at + self.resolution_target

    @property
    def breached(self) -> bool:
        return self.response_breached or self.resolution_breached

    @property
    def has_postmortem(self) -> bool:
        return bool(self.postmortem_summary)

    @property
    def runbook_article(self) -> Article | None:
        """The incident's own runbook, else its detection rule's."""
        if self.runbook_id:
            return self.runbook
        return self.rule.runbook if self.rule_id and self.rule and self.rule.runbook_id else None


class IncidentUpdate(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    message = models.TextField()
    public = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Incident.Status.choices, blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "created_at"], name="ops_update_inc_time")]

    def __str__(self) -> str:
        return f"{self.incident_id} @ {self.created_at:%H:%M}: {self.message[:40]}"


class MaintenanceWindowQuerySet(models.QuerySet):
    def scheduled(self) -> MaintenanceWindowQuerySet:
        """Not cancelled: what the status page announces."""
        return self.filter(cancelled_at__isnull=True)

    def active(self, now: datetime) -> MaintenanceWindowQuerySet:
        return self.scheduled().filter(starts_at__lte=now, ends_at__gt=now)

    def upcoming(self, now: datetime) -> MaintenanceWindowQuerySet:
        """In progress or still to come, soonest first."""
        return self.scheduled().filter(ends_at__gt=now).order_by("starts_at")

    def past(self, now: datetime) -> MaintenanceWindowQuerySet:
        """Over or cancelled, most recent first."""
        return self.filter(Q(ends_at__lte=now) | Q(cancelled_at__isnull=False)).order_by("-starts_at")


class MaintenanceWindow(models.Model):
    """Planned maintenance, announced on the status page ahead of time. A
    cancelled window is kept (it may have been announced) but no longer shown."""

    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    components = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # One switch: at its start the window can turn maintenance mode on (and
    # off again at its end); `started_at` / `ended_at` record when the tick did it.
    maintenance_mode = models.BooleanField(
        default=False, help_text="Turn maintenance mode on while the window runs (users see the maintenance page)."
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    switched_mode_on = models.BooleanField(default=False, editable=False)
    # What the switch did and when ({"at", "message"}), shown with the window.
    timeline = models.JSONField(default=list, blank=True, editable=False)

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="ops_window_ends")]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%Y-%m-%d %H:%M})"

    def state(self, now: datetime) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if self.ends_at <= now:
            return "completed"
        if self.starts_at <= now:
            return "in_progress"
        return "scheduled"


class MaintenanceRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "Completed"
        PARTIAL = "partial", "Partial (a step failed)"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, default="manual")
    emailed_to = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Maintenance {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class MaintenanceStep(models.Model):
    class Result(models.TextChoices):
        OK = "ok", "OK"
        WARNING = "warning", "Warning"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(MaintenanceRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=60)
    result = models.CharField(max_length=10, choices=Result.choices)
    message = models.TextField(blank=True)
    figures = models.JSONField(default=dict, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["run", "position"]

    def __str__(self) -> str:
        return f"{self.name}: {self.result}"


class BackupDrill(models.Model):
    """The result of one restore drill (ops.backups.verify_backup): kept so the
    staff page and the weekly check can say when a backup was last proven to restore."""

    class Trigger(models.TextChoices):
        BEAT = "beat", "Nightly backup"
        PAGE = "page", "Backups page"
        COMMAND = "command", "manage.py verify_backup"
        TASK = "task", "Celery task"

    file = models.CharField(max_length=255, blank=True)
    ran_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    checksum_ok = models.BooleanField(default=False)
    restored = models.BooleanField(default=False)
    tables_checked = models.PositiveIntegerField(default=0)
    mismatches = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.TASK)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-ran_at", "-id"]
        indexes = [models.Index(fields=["file", "ran_at"], name="ops_drill_file_time")]

    def __str__(self) -> str:
        return f"Drill of {self.file or '(none)'} @ {self.ran_at:%Y-%m-%d %H:%M}: {'ok' if self.ok else 'FAILED'}"


# --- Reports, knowledge base, status subscriptions -----------------------------------


class ReportRun(models.Model):
    """A scheduled report that was sent (monthly SLA, daily health): one per
    kind and period, so a retried or re-run beat job does not mail it twice."""

    class Kind(models.TextChoices):
        SLA = "sla", "Monthly SLA report"
        DAILY = "daily", "Daily health report"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    period = models.CharField(max_length=10)  # "2026-11" or "2026-12-02"
    sent_at = models.DateTimeField(default=timezone.now)
    emailed_to = models.JSONField(default=list, blank=True)
    figures = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "period"], name="ops_report_once_per_period")]
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period}"


class ArticleCategory(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "article categories"

    def __str__(self) -> str:
        return self.name


class ArticleTag(models.Model):
    name = models.SlugField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    """A knowledge-base article (a runbook, a how-to, a known issue) in Markdown."""

    class Visibility(models.TextChoices):
        STAFF = "staff", "Staff only"
        PUBLIC = "public", "Everyone signed in"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    body = models.TextField(help_text="Markdown.")
    body_html = models.TextField(blank=True, editable=False)  # sanitised rendering of body
    category = models.ForeignKey(ArticleCategory, null=True, blank=True, on_delete=models.SET_NULL)
    tags = models.ManyToManyField(ArticleTag, blank=True, related_name="articles")
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.STAFF)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PUBLISHED)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(default=timezone.now, help_text="Last checked to be still true.")
    review_every_days = models.PositiveSmallIntegerField(default=90)
    view_count = models.PositiveIntegerField(default=0)
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)
    # Where a seeded article came from ("docs/ops.md#error-rate"): re-seeding updates it in place.
    source = models.CharField(max_length=120, null=True, blank=True, unique=True)
    # PostgreSQL full-text search (title A, tags and summary B, body C); kept by ops.kb.
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["status", "visibility"], name="ops_article_status_vis")]

    def __str__(self) -> str:
        return self.title

    def review_due(self) -> datetime:
        return self.reviewed_at + timedelta(days=self.review_every_days)

    def is_stale(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.review_due()


class ArticleVote(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    voted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "user"], name="ops_one_vote_per_user")]

    def __str__(self) -> str:
        return f"{'helpful' if self.helpful else 'not helpful'}: {self.article_id}"


class Subscriber(models.Model):
    """Someone told of incidents and maintenance: by email, or by webhook (the
    email then only confirms the subscription and can end it)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EMAIL)
    email = models.EmailField()
    url = models.URLField(max_length=500, blank=True)
    components = models.JSONField(default=list, blank=True, help_text="Empty: every component.")
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "email", "url"], name="ops_one_subscription")]
        indexes = [models.Index(fields=["confirmed_at", "unsubscribed_at"], name="ops_subscriber_active")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.url or self.email}"

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None

    def wants(self, components: list[str]) -> bool:
        """A notice about no component in particular goes to everyone."""
        return not self.components or not components or bool(set(self.components) & set(components))


class SubscriberNotice(models.Model):
    """One notice for one subscriber: the row makes delivery idempotent across retries."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="notices")
    key = models.CharField(max_length=80)  # "incident:12:update:40", "maintenance:3:started"
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "key"], name="ops_notice_once")]

    def __str__(self) -> str:
        return f"{self.key} → {self.subscriber_id}"


class FlagRequestMetric(models.Model):
    """Requests in one minute from users who saw `flag` as `variant` ("on"/"off"),
    written by ops.flag_metrics; guardrail rules compare a variant with control."""

    bucket_start = models.DateTimeField()
    flag = models.CharField(max_length=100)
    variant = models.CharField(max_length=32)
    request_count = models.PositiveIntegerField(default=0)
    server_errors = models.PositiveIntegerField(default=0)
    histogram = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket_start", "flag", "variant"], name="ops_flag_metric_unique")
        ]
        indexes = [models.Index(fields=["flag", "bucket_start"], name="ops_flag_metric_flag_start")]

    def __str__(self) -> str:
        return f"{self.flag}={self.variant} @ {self.bucket_start:%Y-%m-%d %H:%M}"
