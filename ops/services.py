"""Writes: incidents and their timeline, detection passes, health probes,
maintenance mode. HTML views, the API, Celery tasks and management commands
all come through here."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from waffle.models import Switch

from analytics import flags
from lms.errors import Conflict
from lms.models import User
from ops import guardrails, health, heartbeat, histogram, status_page, system, uptime
from ops.models import (
    BackupDrill,
    DetectionRule,
    HealthProbe,
    Incident,
    IncidentUpdate,
    MaintenanceWindow,
    RequestMetric,
)

logger = logging.getLogger(__name__)

MAINTENANCE_SWITCH = "maintenance-mode"
STATUS_ORDER = [s.value for s in Incident.Status]
COMPONENT_NAMES = {c.value for c in HealthProbe.Component}


# --- Incidents -----------------------------------------------------------------


# Demo data and back-fills write real incidents without paging anybody.
_notifications_paused: ContextVar[bool] = ContextVar("ops_notifications_paused", default=False)


@contextmanager
def notifications_paused() -> Iterator[None]:
    token = _notifications_paused.set(True)
    try:
        yield
    finally:
        _notifications_paused.reset(token)


def _notify(incident: Incident, event: str) -> None:
    from ops.tasks import notify_incident

    if _notifications_paused.get():
        return
    if event != "resolved" and incident.components and set(incident.components) <= uptime.snoozed_components():
        # Planned maintenance of every component it is about: on the timeline, no page.
        return

    def send() -> None:
        try:
            notify_incident.delay(incident.pk, event)
        except Exception:  # eager mode runs it inline: a dead webhook must not fail the request
            logger.exception("incident notification failed for incident %s", incident.pk)

    transaction.on_commit(send)


def notify_subscribers_on_commit(kind: str, object_id: int, event: str) -> None:
    """Status subscribers hear of incidents and maintenance through a Celery
    task enqueued once the change is committed (ops.subscriptions)."""
    from ops.tasks import notify_subscribers

    if _notifications_paused.get():
        return

    def send() -> None:
        try:
            notify_subscribers.delay(kind, object_id, event)
        except Exception:  # eager mode runs it inline: a dead webhook must not fail the request
            logger.exception("subscriber notices failed for %s %s", kind, object_id)

    transaction.on_commit(send)


def _clean_components(components: list[str] | None) -> list[str]:
    components = list(dict.fromkeys(components or []))
    unknown = [c for c in components if c not in COMPONENT_NAMES]
    if unknown:
        raise ValidationError({"components": [f"Unknown component(s): {', '.join(unknown)}."]})
    return components


@transaction.atomic
def incident_open(
    *,
    title: str,
    severity: int,
    description: str = "",
    components: list[str] | None = None,
    commander: User | None = None,
    author: User | None = None,
    rule: DetectionRule | None = None,
    public_message: str = "",
    now: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> Incident:
    now = now or timezone.now()
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": ["A title is required."]})
    if severity not in (1, 2, 3, 4):
        raise ValidationError({"severity": ["Severity must be 1, 2, 3 or 4."]})
    incident = Incident.objects.create(
        title=title[:200],
        description=description,
        severity=severity,
        components=_clean_components(components),
        commander=commander,
        source=Incident.Source.DETECTION if rule else Incident.Source.MANUAL,
        rule=rule,
        triggered_at=now,
        last_fired_at=now if rule else None,
    )
    IncidentUpdate.objects.create(
        incident=incident,
        author=author,
        created_at=now,
        message=public_message or f"Investigating: {title}",
        public=True,
        status=Incident.Status.TRIGGERED,
        severity=severity,
        data=data or {},
    )
    _notify(incident, "opened")
    return incident


def _lock(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _check_breaches(incident: Incident, now: datetime) -> None:
    """A target is breached when the acknowledgement (resolution) came, or still
    has not come by `now`, later than the severity allows. Flags never clear."""
    if (incident.acknowledged_at or now) > incident.respond_by:
        incident.response_breached = True
    if (incident.resolved_at or now) > incident.resolve_by:
        incident.resolution_breached = True


@transaction.atomic
def incident_acknowledge(*, incident: Incident, user: User | None, now: datetime | None = None) -> Incident:
    now = now or timezone.now()
    incident = _lock(incident)
    if incident.status != Incident.Status.TRIGGERED:
        raise Conflict("Only a triggered incident can be acknowledged.", code="already_acknowledged")
    incident.status = Incident.Status.ACKNOWLEDGED
    incident.acknowledged_at = now
    incident.time_to_acknowledge_s = int((now - incident.triggered_at).total_seconds())
    _check_breaches(incident, now)
    if incident.commander is None and user is not None:
        incident.commander = user
    incident.save(
        update_fields=[
            "status",
            "acknowledged_at",
            "time_to_acknowledge_s",
            "response_breached",
            "resolution_breached",
            "commander",
        ]
    )
    IncidentUpdate.objects.create(
        incident=incident,
        author=user,
        created_at=now,
        message=f"Acknowledged by {user.get_username() if user else 'the system'}.",
        public=False,
        status=Incident.Status.ACKNOWLEDGED,
    )
    return incident


@transaction.atomic
def incident_post_update(
    *,
    incident: Incident,
    user: User | None,
    message: str,
    public: bool = False,
    status: str = "",
    severity: int | None = None,
    now: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentUpdate:
    """A timeline entry, optionally moving the status forward or changing the severity."""
    now = now or timezone.now()
    incident = _lock(incident)
    message = (message or "").strip()
    if not message:
        raise ValidationError({"message": ["Write what is happening."]})
    if not incident.is_open:
        raise Conflict("The incident is resolved.", code="incident_resolved")
    fields: list[str] = []
    if status:
        if status not in STATUS_ORDER:
            raise ValidationError({"status": [f"Unknown status {status!r}."]})
        if status == Incident.Status.RESOLVED:
            raise ValidationError({"status": ["Use resolve to resolve an incident."]})
        if STATUS_ORDER.index(status) < STATUS_ORDER.index(incident.status):
            raise ValidationError({"status": [f"Cannot go back from {incident.status} to {status}."]})
        if status != incident.status:
            if incident.acknowledged_at is None:
                # Moving on from triggered is an acknowledgement in all but name.
                incident.acknowledged_at = now
                incident.time_to_acknowledge_s = int((now - incident.triggered_at).total_seconds())
                fields += ["acknowledged_at", "time_to_acknowledge_s"]
            incident.status = status
            fields.append("status")
    else:
        status = ""
    escalated = False
    if severity is not None:
        if severity not in (1, 2, 3, 4):
            raise ValidationError({"severity": ["Severity must be 1, 2, 3 or 4."]})
        if severity == incident.severity:
            severity = None
        else:
            escalated = severity < incident.severity
            incident.severity = severity
            fields.append("severity")
    _check_breaches(incident, now)
    incident.save(update_fields=[*fields, "response_breached", "resolution_breached"])
    update = IncidentUpdate.objects.create(
        incident=incident,
        author=user,
        created_at=now,
        message=message,
        public=public,
        status=status,
        severity=severity,
        data=data or {},
    )
    if escalated:
        _notify(incident, "escalated")
    return update


@transaction.atomic
def incident_resolve(
    *, incident: Incident, user: User | None, message: str = "", public: bool = True, now: datetime | None = None
) -> Incident:
    now = now or timezone.now()
    incident = _lock(incident)
    if not incident.is_open:
        raise Conflict("The incident is already resolved.", code="already_resolved")
    _check_breaches(incident, now)
    if incident.acknowledged_at is None:
        incident.acknowledged_at = now
        incident.time_to_acknowledge_s = int((now - incident.triggered_at).total_seconds())
    incident.status = Incident.Status.RESOLVED
    incident.resolved_at = now
    incident.time_to_resolve_s = int((now - incident.triggered_at).total_seconds())
    incident.save(
        update_fields=[
            "status",
            "resolved_at",
            "time_to_resolve_s",
            "acknowledged_at",
            "time_to_acknowledge_s",
            "response_breached",
            "resolution_breached",
        ]
    )
    IncidentUpdate.objects.create(
        incident=incident,
        author=user,
        created_at=now,
        message=(message or "").strip() or "Resolved.",
        public=public,
        status=Incident.Status.RESOLVED,
    )
    _notify(incident, "resolved")
    return incident


POSTMORTEM_FIELDS = ("summary", "impact", "root_cause", "resolution", "action_items")


@transaction.atomic
def incident_write_postmortem(
    *, incident: Incident, user: User | None, now: datetime | None = None, **parts: str
) -> Incident:
    now = now or timezone.now()
    incident = _lock(incident)
    unknown = set(parts) - set(POSTMORTEM_FIELDS)
    if unknown:
        raise ValidationError({"non_field_errors": [f"Unknown post-mortem field(s): {', '.join(sorted(unknown))}."]})
    if not (parts.get("summary") or "").strip():
        raise ValidationError({"summary": ["A post-mortem needs a summary."]})
    for name in POSTMORTEM_FIELDS:
        setattr(incident, f"postmortem_{name}", (parts.get(name) or "").strip())
    incident.postmortem_at = now
    incident.save(update_fields=[f"postmortem_{n}" for n in POSTMORTEM_FIELDS] + ["postmortem_at"])
    IncidentUpdate.objects.create(
        incident=incident, author=user, created_at=now, message="Post-mortem written.", public=False
    )
    return incident


@transaction.atomic
def escalate_overdue(*, now: datetime | None = None) -> list[int]:
    """Unacknowledged SEV1/SEV2 incidents past their response target go to every
    admin (once), and every open incident gets its breach flags brought up to date."""
    now = now or timezone.now()
    escalated = []
    for incident in Incident.objects.select_for_update().filter(status=Incident.Status.TRIGGERED):
        before = (incident.response_breached, incident.resolution_breached)
        _check_breaches(incident, now)
        fields = ["response_breached", "resolution_breached"]
        if incident.severity <= 2 and incident.escalated_at is None and now > incident.respond_by:
            incident.escalated_at = now
            fields.append("escalated_at")
            IncidentUpdate.objects.create(
                incident=incident,
                created_at=now,
                message="Not acknowledged within the response target: escalated to all admins.",
                public=False,
            )
            _notify(incident, "escalated")
            escalated.append(incident.pk)
        if len(fields) > 2 or before != (incident.response_breached, incident.resolution_breached):
            incident.save(update_fields=fields)
    for incident in Incident.objects.select_for_update().open().exclude(status=Incident.Status.TRIGGERED):
        before = incident.resolution_breached
        _check_breaches(incident, now)
        if before != incident.resolution_breached:
            incident.save(update_fields=["resolution_breached"])
    return escalated


# --- Health probes -----------------------------------------------------------------


def _own_host() -> str:
    """A host name this site answers to (the first usable ALLOWED_HOSTS entry)."""
    for host in settings.ALLOWED_HOSTS:
        host = host.lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def _web_in_process() -> tuple[str, str, dict[str, Any]]:
    """A GET of /health/live/ through this process's own WSGI handler and the
    whole middleware stack: it checks the app itself, wherever and on
    whichever port it is served (SITE_URL or PORT do not matter)."""
    global _web_warm
    from django.test import Client

    def get() -> int:
        return (
            Client(raise_request_exception=False)
            .get(
                reverse("health_live"),
                HTTP_HOST=_own_host(),
                secure=settings.SECURE_SSL_REDIRECT,
                headers={"X-Request-ID": "ops-web-probe"},
            )
            .status_code
        )

    if not _web_warm:
        get()  # the first request in a process loads the URLconf and middleware: not the app being slow
        _web_warm = True
    started = time.perf_counter()
    code = get()
    details = {"status": code, "mode": "in-process", "request_ms": round((time.perf_counter() - started) * 1000, 2)}
    if code >= 400:
        return health.UNHEALTHY, f"HTTP {code} from the app itself", details
    return health.HEALTHY, "", details


_web_warm = False


def check_web() -> health.ComponentHealth:
    """The web app answers: in-process by default (see `_web_in_process`); a
    real HTTP round trip when OPS_WEB_PROBE_URL is set (e.g. to go through the
    load balancer)."""
    import urllib.error
    import urllib.request

    url = settings.OPS_WEB_PROBE_URL

    def run() -> tuple[str, str, dict[str, Any]]:
        if not url:
            return _web_in_process()
        try:
            with urllib.request.urlopen(url, timeout=settings.HEALTH_CHECK_TIMEOUT) as response:  # noqa: S310 - URL from settings
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        if code >= 500:
            return health.UNHEALTHY, f"HTTP {code}", {"status": code}
        return health.HEALTHY, "", {"status": code}

    # The in-process request runs in the health pool's thread; give it the slow
    # threshold as its bound so "slow" is reported as such, not as down.
    result = health._timed("web", run, max(settings.HEALTH_CHECK_TIMEOUT, settings.OPS_WEB_PROBE_SLOW_MS / 1000 * 2))
    took = result.details.get("request_ms", result.response_time_ms)
    if result.status == health.HEALTHY and took > settings.OPS_WEB_PROBE_SLOW_MS:
        result.status, result.message = health.DEGRADED, f"slow: {took} ms"
    return result


def probe_checks() -> dict[str, Any]:
    return {
        "web": check_web,
        "database": health.check_database,
        "cache": health.check_cache,
        "broker": health.check_broker,
        "workers": health.check_workers,
    }


def run_probes(*, now: datetime | None = None) -> list[HealthProbe]:
    now = now or timezone.now()
    probes = []
    for component, check in probe_checks().items():
        result = check()
        probes.append(
            HealthProbe(
                component=component,
                status=result.status,
                latency_ms=result.response_time_ms,
                message=result.message[:500],
                checked_at=now,
            )
        )
    stored = HealthProbe.objects.bulk_create(probes)
    status_page.forget()  # the page shows the new round at once (bulk_create sends no signal)
    return stored


# --- Detection -----------------------------------------------------------------------


def _window_rows(rule: DetectionRule, now: datetime) -> Any:
    from ops.metrics import minute_of

    end = minute_of(now)
    # The last `window_minutes` complete-or-current minutes that were flushed.
    return RequestMetric.objects.filter(
        resolution=RequestMetric.Resolution.MINUTE,
        bucket_start__gt=end - timedelta(minutes=rule.window_minutes),
        bucket_start__lte=end,
    )


def measure(rule: DetectionRule, *, now: datetime, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule's current measurement: {"value", "fires", "severity", ...}."""
    kind = DetectionRule.Kind
    if rule.kind in guardrails.FLAG_KINDS:
        out = guardrails.measure_flag(rule, now=now)
    elif rule.kind == kind.EXPERIMENT_SRM:
        out = guardrails.measure_srm(rule)
    elif rule.kind in (kind.ERROR_RATE, kind.P95_LATENCY):
        rows = list(
            _window_rows(rule, now).only(
                "request_count", "server_errors", "histogram", "duration_min_ms", "duration_max_ms"
            )
        )
        requests = sum(r.request_count for r in rows)
        if rule.kind == kind.ERROR_RATE:
            errors = sum(r.server_errors for r in rows)
            value = errors / requests if requests else 0.0
            out = {"value": round(value, 4), "requests": requests, "errors": errors}
        else:
            mins = [r.duration_min_ms for r in rows if r.duration_min_ms is not None]
            maxs = [r.duration_max_ms for r in rows if r.duration_max_ms is not None]
            value = histogram.percentile(
                histogram.merge(r.histogram for r in rows),
                0.95,
                low=min(mins) if mins else None,
                high=max(maxs) if maxs else None,
            )
            out = {"value": value, "requests": requests}
        out["fires"] = requests >= rule.min_requests and (out["value"] or 0) > rule.threshold
        if requests < rule.min_requests:
            out["note"] = f"below the minimum volume ({requests} < {rule.min_requests} requests)"
    elif rule.kind in (kind.CPU, kind.MEMORY, kind.DISK):
        resources = resources if resources is not None else system.for_detection()
        value = resources[rule.kind]["percent"]
        out = {"value": value, "fires": value > rule.threshold}
    elif rule.kind == kind.PROBE_FAILURE:
        probes = list(
            HealthProbe.objects.filter(
                component=rule.component,
                checked_at__lte=now,
                checked_at__gt=now - timedelta(minutes=rule.consecutive + 1),
            )
            .order_by("-checked_at")
            .only("status", "checked_at", "message")[: rule.consecutive]
        )
        failing = [p for p in probes if p.status == health.UNHEALTHY]
        value = len(failing)
        out = {
            "value": value,
            "fires": len(probes) >= rule.consecutive and len(failing) == rule.consecutive,
            "component": rule.component,
            "last_message": probes[0].message if probes else "",
        }
        gap = timedelta(minutes=settings.OPS_PROBE_GAP_MINUTES)
        if not probes or now - probes[0].checked_at > gap:
            # Gaps are downtime: no fresh probe (once monitoring has begun) is an
            # outage of unknown cause — nothing could check the component.
            last = (
                HealthProbe.objects.filter(component=rule.component, checked_at__lte=now)
                .order_by("-checked_at")
                .values_list("checked_at", flat=True)
                .first()
            )
            if last is not None and now - last > gap:
                minutes = int((now - last).total_seconds() // 60)
                out.update(fires=True, gap_minutes=minutes, last_message=f"no probe for {minutes} min (cause unknown)")
    elif rule.kind == kind.HEARTBEAT:
        beat = heartbeat.check_beat()
        out = {"value": beat.details.get("age_seconds"), "fires": beat.status == health.UNHEALTHY}
        out["last_message"] = beat.message
    else:  # an unknown kind typed into the admin
        return {"value": None, "fires": False, "note": f"unknown rule kind {rule.kind!r}"}
    out["severity"] = rule.severity
    if (
        out["fires"]
        and rule.critical_threshold is not None
        and rule.critical_severity
        and (out["value"] or 0) > rule.critical_threshold
    ):
        out["severity"] = rule.critical_severity
    out["threshold"] = rule.threshold
    return out


def _describe(rule: DetectionRule, m: dict[str, Any]) -> str:
    kind = DetectionRule.Kind
    if rule.kind in guardrails.FLAG_KINDS or rule.kind == kind.EXPERIMENT_SRM:
        return guardrails.describe(rule, m)
    if rule.kind == kind.ERROR_RATE:
        return (
            f"Server error rate {m['value']:.2%} over {rule.window_minutes} min "
            f"({m['errors']} of {m['requests']} requests; threshold {rule.threshold:.0%})."
        )
    if rule.kind == kind.P95_LATENCY:
        return (
            f"p95 response time {m['value']} ms over {rule.window_minutes} min "
            f"({m['requests']} requests; threshold {rule.threshold:.0f} ms)."
        )
    if rule.kind == kind.PROBE_FAILURE and m.get("gap_minutes") is not None:
        return f"No {rule.component} health probe for {m['gap_minutes']} minutes: an outage of unknown cause."
    if rule.kind == kind.PROBE_FAILURE:
        return f"{rule.component} health probe failing {m['value']} times in a row: {m['last_message'] or 'no detail'}."
    if rule.kind == kind.HEARTBEAT:
        return f"Celery beat is not running: {m['last_message'] or 'no heartbeat'}. Scheduled jobs (probes, detection, flushes) stop."
    return f"{rule.get_kind_display()}: {m['value']}% (threshold {rule.threshold}%)."


RESOURCE_KINDS = {DetectionRule.Kind.CPU, DetectionRule.Kind.MEMORY, DetectionRule.Kind.DISK}


def _sustained(rule: DetectionRule, *, fires: bool, now: datetime) -> bool:
    """True once a resource condition has held on every pass for the rule's window."""
    if not fires:
        if rule.holding_since is not None:
            rule.holding_since = None
            rule.save(update_fields=["holding_since"])
        return False
    if rule.holding_since is None:
        rule.holding_since = now
        rule.save(update_fields=["holding_since"])
    return now - rule.holding_since >= timedelta(minutes=max(rule.window_minutes - 1, 0))


@transaction.atomic
def detection_pass(
    *, now: datetime | None = None, resources: dict[str, Any] | None = None, kinds: set[str] | None = None
) -> dict[str, Any]:
    """Evaluate every enabled rule (or those of `kinds`: the watchdog's) once.
    Returns what happened per rule."""
    now = now or timezone.now()
    rules = list(DetectionRule.objects.filter(enabled=True, **({"kind__in": kinds} if kinds is not None else {})))
    needs_system = any(r.kind in ("cpu", "memory", "disk") for r in rules)
    if needs_system and resources is None:
        resources = system.for_detection()
    open_by_rule = {
        i.rule_id: i for i in Incident.objects.select_for_update().open().filter(rule__in=rules).select_related("rule")
    }
    report: dict[str, Any] = {}
    snoozed = uptime.snoozed_components(now)
    for rule in rules:
        if rule.components and set(rule.components) <= snoozed:
            # Its components are under scheduled maintenance: no incident until the window ends.
            report[rule.slug] = {"action": "snoozed", "fires": False, "value": None}
            continue
        m = measure(rule, now=now, resources=resources)
        incident = open_by_rule.get(rule.pk)
        action = "quiet"
        if rule.kind in RESOURCE_KINDS:
            sustained = _sustained(rule, fires=m["fires"], now=now)
            if incident is None:
                if m["fires"] and not sustained:
                    action = "holding"
                m["fires"] = sustained
        if m["fires"]:
            text = _describe(rule, m)
            if incident is None:
                try:
                    with transaction.atomic():
                        incident = incident_open(
                            title=rule.name,
                            severity=m["severity"],
                            description=text,
                            components=rule.components,
                            rule=rule,
                            now=now,
                            public_message="We are investigating a problem detected by our monitoring.",
                            data=m,
                        )
                except IntegrityError:  # another pass opened it a moment ago
                    action = "already_open"
                else:
                    IncidentUpdate.objects.create(incident=incident, created_at=now, message=text, data=m)
                    action = "opened"
                    done = guardrails.act(rule, incident, m, now=now)
                    if done:
                        _notify(incident, "flag switched")
                        action = "opened, flag switched"
            else:
                incident.last_fired_at = now
                incident.save(update_fields=["last_fired_at"])
                if m["severity"] < incident.severity:
                    incident_post_update(
                        incident=incident, user=None, message=text, severity=m["severity"], now=now, data=m
                    )
                    action = "escalated"
                else:
                    IncidentUpdate.objects.create(incident=incident, created_at=now, message=text, data=m)
                    action = "still_firing"
        elif incident is not None:
            quiet_since = incident.last_fired_at or incident.triggered_at
            if now - quiet_since >= timedelta(minutes=rule.clear_minutes):
                incident_resolve(
                    incident=incident,
                    user=None,
                    message=(f"Resolved automatically: the condition has been clear for {rule.clear_minutes} minutes."),
                    now=now,
                )
                action = "resolved"
            else:
                action = "clearing"
        guardrails.report(rule, m, now=now)
        report[rule.slug] = {"action": action, **{k: v for k, v in m.items() if k != "fires"}, "fires": m["fires"]}
    if kinds is not None:  # a partial pass (the watchdog) leaves the rollouts to the full one
        return report
    # Gradual rollouts whose guardrails have held long enough take their next step.
    advanced = flags.rollouts_advance(now=now)
    if advanced:
        report["_rollouts_advanced"] = advanced
    return report


# --- Scheduled maintenance windows -------------------------------------------------------


def _clean_window(
    *,
    title: str,
    message: str,
    starts_at: datetime,
    ends_at: datetime,
    components: list[str] | None,
    now: datetime,
    maintenance_mode: bool = False,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = ["A title is required."]
    elif len(title) > 200:
        errors["title"] = ["At most 200 characters."]
    if starts_at is None:
        errors["starts_at"] = ["A start time is required."]
    if ends_at is None:
        errors["ends_at"] = ["An end time is required."]
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = ["The window must end after it starts."]
    elif ends_at <= now:
        errors["ends_at"] = ["The window must end in the future."]
    try:
        components = _clean_components(components)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return {
        "title": title,
        "message": (message or "").strip(),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "components": components,
        "maintenance_mode": bool(maintenance_mode),
    }


def _forget_status_page() -> None:
    status_page.forget()
    uptime.forget()  # maintenance is left out of uptime: the cached days change


@transaction.atomic
def maintenance_window_create(
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    message: str = "",
    components: list[str] | None = None,
    maintenance_mode: bool = False,
    user: User | None = None,
    now: datetime | None = None,
) -> MaintenanceWindow:
    fields = _clean_window(
        title=title,
        message=message,
        starts_at=starts_at,
        ends_at=ends_at,
        components=components,
        maintenance_mode=maintenance_mode,
        now=now or timezone.now(),
    )
    window = MaintenanceWindow.objects.create(**fields, created_by=user)
    _forget_status_page()
    notify_subscribers_on_commit("maintenance", window.pk, "scheduled")
    return window


@transaction.atomic
def maintenance_window_update(
    *, window: MaintenanceWindow, user: User | None = None, now: datetime | None = None, **changes: Any
) -> MaintenanceWindow:
    """Change a window that is scheduled or in progress (e.g. extend it); what
    is over or cancelled is history and stays as it was."""
    now = now or timezone.now()
    window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
    unknown = set(changes) - {"title", "message", "starts_at", "ends_at", "components", "maintenance_mode"}
    if unknown:
        raise ValidationError({"non_field_errors": [f"Unknown field(s): {', '.join(sorted(unknown))}."]})
    state = window.state(now)
    if state in ("cancelled", "completed"):
        raise Conflict(f"This maintenance window is {state}; it can no longer be changed.", code=f"window_{state}")
    fields = _clean_window(
        **{name: changes.get(name, getattr(window, name)) for name in ("title", "message", "starts_at", "ends_at")},
        components=changes.get("components", window.components),
        maintenance_mode=changes.get("maintenance_mode", window.maintenance_mode),
        now=now,
    )
    for name, value in fields.items():
        setattr(window, name, value)
    window.save(update_fields=list(fields))
    _forget_status_page()
    return window


@transaction.atomic
def maintenance_window_cancel(
    *, window: MaintenanceWindow, user: User | None = None, now: datetime | None = None
) -> MaintenanceWindow:
    """Call off a scheduled window (or stop one in progress). The row stays, so
    the list still shows what was announced and who cancelled it."""
    now = now or timezone.now()
    window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
    state = window.state(now)
    if state in ("cancelled", "completed"):
        raise Conflict(f"This maintenance window is already {state}.", code=f"window_{state}")
    window.cancelled_at = now
    window.cancelled_by = user
    window.save(update_fields=["cancelled_at", "cancelled_by"])
    _forget_status_page()
    return window


# --- Backups ------------------------------------------------------------------------------


def backup_drill_run(
    *, manifest: Any = None, file: str = "", trigger: str = BackupDrill.Trigger.TASK, user: User | None = None
) -> tuple[Any, BackupDrill]:
    """Restore-drill a backup (the given manifest, the named file, or the latest)
    and record the result, pass or fail. Returns (VerifyResult, BackupDrill)."""
    from ops import backups

    if manifest is None and file:
        manifest = next((m for m in backups.list_backups() if m.file == file), None)
        if manifest is None:
            raise ValidationError({"file": [f"No backup named {file!r}."]})
    result = backups.verify_backup(manifest)
    drill = BackupDrill.objects.create(
        file=result.file,
        ok=result.ok,
        checksum_ok=result.checksum_ok,
        restored=result.restored,
        tables_checked=result.tables_checked,
        mismatches={table: list(pair) for table, pair in result.mismatches.items()},
        message=result.message,
        duration_ms=result.duration_ms,
        trigger=trigger,
        requested_by=user,
    )
    log = logger.info if result.ok else logger.error
    log("restore drill of %s (%s): %s", result.file or "-", trigger, result.message)
    return result, drill


# --- Maintenance mode -------------------------------------------------------------------


# The middleware asks on every request. Keep the switch's state per process for
# a few seconds and read the row directly: waffle's own cache entry can live for
# minutes in a per-process local-memory cache, so a switch flipped from another
# process (the command, the admin) would not be seen promptly. Saving the switch
# in this process updates the state at once (see ops.apps). Tests never read the
# row (OPS_MAINTENANCE_CHECK_SECONDS=0) so no request gains a query from this.
_switch_state: tuple[float, bool, str] | None = None
DEFAULT_MAINTENANCE_MESSAGE = "We are doing some maintenance and will be back shortly."


def remember_switch(active: bool, note: str) -> None:
    global _switch_state
    ttl = settings.OPS_MAINTENANCE_CHECK_SECONDS
    _switch_state = (time.monotonic() + ttl if ttl else float("inf"), bool(active), note or "")


def forget_switch() -> None:
    global _switch_state
    _switch_state = None


def _switch() -> tuple[bool, str]:
    if _switch_state is None or time.monotonic() >= _switch_state[0]:
        if settings.OPS_MAINTENANCE_CHECK_SECONDS:
            row = Switch.objects.filter(name=MAINTENANCE_SWITCH).values_list("active", "note").first()
            remember_switch(*(row or (False, "")))
        else:
            remember_switch(False, "")
    assert _switch_state is not None
    return _switch_state[1], _switch_state[2]


def maintenance_mode_on() -> bool:
    return _switch()[0]


def maintenance_message() -> str:
    return _switch()[1] or DEFAULT_MAINTENANCE_MESSAGE


@transaction.atomic
def maintenance_mode_set(*, on: bool, message: str = "", user: User | None = None) -> Switch:
    if user is not None and not user.is_admin:
        raise PermissionDenied("Only admins can switch maintenance mode.")
    switch, _ = Switch.objects.get_or_create(name=MAINTENANCE_SWITCH, defaults={"active": False})
    switch.active = on
    if message or not on:
        switch.note = message.strip()[:500]
    switch.save()
    # waffle clears its cache on commit; clear it now too so this very request
    # (and tests, which never commit) see the new state.
    switch.flush()
    remember_switch(switch.active, switch.note)
    logger.warning("maintenance mode %s by %s", "ON" if on else "off", user or "command")
    return switch
