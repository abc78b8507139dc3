"""Guardrails: a flag whose variant errors more than control is switched off by detection."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core import mail
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from analytics import experiments, flags
from analytics.models import Experiment, ExperimentExposure, Flag, FlagChange
from lms.models import User
from ops import flag_metrics
from ops.models import DetectionRule, FlagRequestMetric, Incident, IncidentUpdate
from ops.services import detection_pass

pytestmark = [pytest.mark.urls("tests.ops.flag_urls")]
CALM = {"cpu": {"percent": 10}, "memory": {"percent": 30}, "disk": {"percent": 40}}


@pytest.fixture(autouse=True)
def _rules() -> None:
    importlib.import_module("ops.migrations.0007_seed_flag_guardrails").seed(apps, None)
    flag_metrics.store.drain()


def _rule(**fields: object) -> DetectionRule:
    defaults = {
        "name": "risky-change errors",
        "kind": "flag_error_rate",
        "flag": "risky-change",
        "flag_action": "off",
        "threshold": 0.05,
        "severity": 3,
        "window_minutes": 10,
        "min_requests": 30,
    }
    return DetectionRule.objects.create(slug="guard-risky", **{**defaults, **fields})


def _hit(user: User, times: int) -> list[int]:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return [client.get("/test/feature/").status_code for _ in range(times)]


def test_a_variant_with_real_server_errors_is_turned_off_with_incident_and_audit_while_control_runs(
    student, outsider, admin, django_capture_on_commit_callbacks
) -> None:
    admin.email = "ada@example.com"  # on-call falls back to the admins
    admin.save(update_fields=["email"])
    flags.flag_create(name="risky-change", actor=None, enabled=True, strategy="user_list", allow_users=[student.pk])
    rule = _rule()
    assert set(_hit(student, 40)) == {500}  # the variant: broken
    assert set(_hit(outsider, 40)) == {200}  # control: fine
    flag_metrics.flush()
    # (summed: on a slow machine the 80 requests may straddle a minute)
    rows = FlagRequestMetric.objects.filter(flag="risky-change")
    assert rows.filter(variant="on").aggregate(n=Sum("server_errors"))["n"] == 40
    assert rows.filter(variant="off").aggregate(n=Sum("request_count"))["n"] == 40

    with django_capture_on_commit_callbacks(execute=True):
        report = detection_pass(resources=CALM)
    assert report["guard-risky"]["action"] == "opened, flag switched"
    assert report["guard-risky"]["variant_rate"] == 1.0 and report["guard-risky"]["control_rate"] == 0.0

    flag = Flag.objects.get(name="risky-change")
    assert flag.enabled is False and flag.guard_state == "tripped"
    change = FlagChange.objects.filter(flag_name="risky-change", source="guardrail").get()
    assert change.before["enabled"] is True and change.after["enabled"] is False and "guard-risky" in change.reason
    incident = Incident.objects.get(rule=rule)
    assert incident.is_open and incident.severity == 3
    assert IncidentUpdate.objects.filter(incident=incident, message__startswith="Guardrail turned flag").exists()
    # On-call are told both that it opened and that the flag was switched.
    subjects = [m.subject for m in mail.outbox if m.to == ["ada@example.com"]]
    assert any("SEV3" in s and "opened" in s for s in subjects), subjects
    assert any("flag switched" in s for s in subjects), subjects
    # Control kept running; the variant's users now get control too.
    assert set(_hit(outsider, 3)) == {200}
    assert set(_hit(student, 3)) == {200}


def test_quiet_below_volume_and_when_the_variant_is_no_worse(student, outsider) -> None:
    flags.flag_create(name="risky-change", actor=None, enabled=True, strategy="user_list", allow_users=[student.pk])
    _rule(min_requests=100)
    _hit(student, 20)
    _hit(outsider, 20)
    flag_metrics.flush()
    report = detection_pass(resources=CALM)
    assert report["guard-risky"]["fires"] is False and "minimum volume" in report["guard-risky"]["note"]
    assert Flag.objects.get(name="risky-change").enabled is True


def test_step_back_rule_takes_a_gradual_rollout_back_one_step() -> None:
    flag = flags.flag_create(name="risky-change", actor=None, enabled=True, percentage=5)
    flag = flags.flag_plan_rollout(flag=flag, actor=None, source="api")
    flag = flags.flag_advance(flag=flag, actor=None, source="api")
    flag = flags.flag_advance(flag=flag, actor=None, source="api")
    assert float(flag.percentage) == 25
    _rule(flag_action="step_back", min_requests=10)
    minute = timezone.now().replace(second=0, microsecond=0)
    FlagRequestMetric.objects.create(
        bucket_start=minute, flag="risky-change", variant="on", request_count=50, server_errors=10, histogram=[50]
    )
    FlagRequestMetric.objects.create(
        bucket_start=minute, flag="risky-change", variant="off", request_count=500, server_errors=1, histogram=[500]
    )
    detection_pass(resources=CALM)
    flag = Flag.objects.get(name="risky-change")
    assert float(flag.percentage) == 15 and flag.enabled and flag.rollout_step == 1 and not flag.auto_advance


def test_healthy_guardrails_let_the_seeded_rollout_advance_by_itself() -> None:
    flag = Flag.objects.get(name="fsrs-new-personal-decks")
    assert float(flag.percentage) == 5 and flag.auto_advance
    now = timezone.now()
    later = now + timedelta(days=1, minutes=1)
    for moment in (now, later):  # healthy traffic on both passes
        for variant, n in (("on", 300), ("off", 3000)):
            FlagRequestMetric.objects.create(
                bucket_start=moment.replace(second=0, microsecond=0),
                flag=flag.name,
                variant=variant,
                request_count=n,
                server_errors=0,
                histogram=[n],
            )
    detection_pass(now=now, resources=CALM)
    assert Flag.objects.get(pk=flag.pk).guard_state == "healthy"
    Flag.objects.filter(pk=flag.pk).update(step_changed_at=now - timedelta(days=2))
    report = detection_pass(now=later, resources=CALM)
    assert report["_rollouts_advanced"] == ["fsrs-new-personal-decks"]
    assert float(Flag.objects.get(pk=flag.pk).percentage) == 15


def test_a_failing_srm_opens_a_sev4() -> None:
    exp = experiments.experiment_create(
        name="split",
        title="split",
        actor=None,
        primary_metric={"kind": "reviews_per_day"},
        variants=[{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
    )
    experiments.experiment_start(experiment=exp)
    users = User.objects.bulk_create([User(username=f"s{i}") for i in range(1000)])
    ExperimentExposure.objects.bulk_create(
        ExperimentExposure(experiment=exp, user=u, variant="a" if i < 600 else "b") for i, u in enumerate(users)
    )
    report = detection_pass(resources=CALM)
    assert report["experiment-srm"]["action"] == "opened"
    incident = Incident.objects.get(rule__slug="experiment-srm")
    assert incident.severity == 4 and "split" in incident.updates.order_by("-id").first().message
    assert Experiment.objects.get(pk=exp.pk).status == "running"


def test_performance_by_flag_page_compares_variant_and_control(client_for, admin, student) -> None:
    minute = timezone.now().replace(second=0, microsecond=0)
    FlagRequestMetric.objects.create(
        bucket_start=minute, flag="x", variant="on", request_count=10, server_errors=5, histogram=[10]
    )
    FlagRequestMetric.objects.create(
        bucket_start=minute, flag="x", variant="off", request_count=90, server_errors=0, histogram=[90]
    )
    page = client_for(admin).get("/ops/performance/flags/")
    html = page.content.decode()
    assert page.status_code == 200 and "50.00%" in html and "0.00%" in html
    assert 'href="/analytics/flags/x/"' in html  # the flag's page: its audit log and rollout
    assert 'href="/analytics/flags/fsrs-new-personal-decks/"' in html  # a rule watching it
    assert client_for(student).get("/ops/performance/flags/").status_code == 403


def test_experiment_variants_a_request_met_are_broken_down_beside_their_control(client_for, admin) -> None:
    exp = experiments.experiment_create(
        name="copy",
        title="copy",
        actor=None,
        primary_metric={"kind": "reviews_per_day"},
        variants=[{"key": "plain", "weight": 50}, {"key": "short", "weight": 50}],
    )
    experiments.experiment_start(experiment=exp)
    users = User.objects.bulk_create([User(username=f"e{i}", role="student") for i in range(12)])
    for user in users:
        client = Client()
        client.force_login(user)
        assert client.post("/api/v1/experiments/copy/assignment/").json()["variant"] in ("plain", "short")
    flag_metrics.flush()
    rows = FlagRequestMetric.objects.filter(flag="experiment:copy")
    by_variant = {v: rows.filter(variant=v).aggregate(n=Sum("request_count"))["n"] or 0 for v in ("plain", "short")}
    assigned = [experiments.assign(exp, u.pk) for u in users]
    assert by_variant == {"plain": assigned.count("plain"), "short": assigned.count("short")}
    html = client_for(admin).get("/ops/performance/flags/").content.decode()
    assert 'href="/analytics/experiments/copy/"' in html
    assert 'plain <span class="badge">control</span>' in html and "short</td>" in html
