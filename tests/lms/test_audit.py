"""The audit log: each staff and security action, who, when, from where, before and after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics import flags
from analytics.models import FlagChange
from lms import audit
from lms.models import User
from lms.tokens import token_issue
from ops import backups, services
from ops.maintenance import step_retention
from ops.models import DetectionRule, Incident
from tests.factories import UserFactory

AUDIT_URL = "/audit/"


def entries_for(model: type, pk: object) -> list[LogEntry]:
    content_type = ContentType.objects.get_for_model(model)
    return list(LogEntry.objects.filter(content_type=content_type, object_pk=str(pk)).order_by("pk"))


def test_role_change_in_the_admin_records_who_where_before_and_after(client_for, admin, student):
    client = client_for(admin)
    page = client.get(f"/admin/lms/user/{student.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions")}
    data.update(
        role="teacher",
        date_joined_0=student.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=student.date_joined.strftime("%H:%M:%S"),
        is_active="on",
        password=student.password,
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(f"/admin/lms/user/{student.pk}/change/", data, REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 302, response.context["adminform"].form.errors
    student.refresh_from_db()
    assert student.role == "teacher"
    entry = entries_for(User, student.pk)[-1]
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.actor == admin
    assert entry.remote_addr == "192.0.2.7"
    assert entry.changes["role"] == ["student", "teacher"]
    assert "password" not in entry.changes


def test_a_forged_forwarded_for_header_is_not_taken_as_the_address(client_for, admin, student, settings):
    settings.AXES_IPWARE_PROXY_COUNT = 0
    client = client_for(admin)
    client.post(
        f"/admin/lms/user/{student.pk}/delete/",
        {"post": "yes"},
        REMOTE_ADDR="192.0.2.8",
        HTTP_X_FORWARDED_FOR="203.0.113.66",
    )
    assert not User.objects.filter(pk=student.pk).exists()
    entry = entries_for(User, student.pk)[-1]
    assert entry.action == LogEntry.Action.DELETE
    assert entry.remote_addr == "192.0.2.8"
    assert entry.actor == admin
    # The deleted account's last state stays readable.
    assert entry.changes["username"][0] == student.username


def test_maintenance_mode_over_the_api_with_a_token_names_the_admin(api_for, admin):
    _, token = token_issue(user=admin)
    response = api_for(None).post(
        "/api/v1/ops/maintenance/",
        {"enabled": True, "message": "Back soon"},
        format="json",
        HTTP_AUTHORIZATION=f"Token {token}",
        REMOTE_ADDR="192.0.2.9",
    )
    assert response.status_code == 200
    services.forget_switch()
    switch = ContentType.objects.get(app_label="waffle", model="switch")
    entry = LogEntry.objects.filter(content_type=switch).order_by("pk").last()
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.actor == admin
    assert entry.remote_addr == "192.0.2.9"
    assert entry.changes["active"] == [False, True]
    assert entry.changes["note"] == ["", "Back soon"]


def test_flag_changes_are_logged_with_before_and_after(admin):
    flag = flags.flag_create(name="new-editor", actor=admin, reason="test", percentage=10)
    flags.flag_update(flag=flag, actor=admin, source=FlagChange.Source.API, percentage=50)
    entries = entries_for(type(flag), flag.pk)
    assert [e.action for e in entries][:1] == [LogEntry.Action.CREATE]
    update = entries[-1]
    assert update.action == LogEntry.Action.UPDATE
    assert [str(v) for v in update.changes["percentage"]] in (["10.00", "50.00"], ["10", "50"], ["10.0", "50.0"])


def test_detection_rule_and_incident_changes_are_logged(admin):
    rule = DetectionRule.objects.get(slug="error-rate")
    old = rule.threshold
    rule.threshold = old + 1
    rule.save()
    assert entries_for(DetectionRule, rule.pk)[-1].changes["threshold"] == [old, old + 1]

    incident = services.incident_open(title="Slow", severity=3, author=admin)
    services.incident_acknowledge(incident=incident, user=admin)
    actions = [e.action for e in entries_for(Incident, incident.pk)]
    assert actions[0] == LogEntry.Action.CREATE and LogEntry.Action.UPDATE in actions
    assert entries_for(Incident, incident.pk)[-1].changes["status"] == ["triggered", "acknowledged"]


def test_detector_bookkeeping_does_not_flood_the_log(admin):
    incident = services.incident_open(title="Slow", severity=3)
    before = LogEntry.objects.count()
    incident.last_fired_at = timezone.now()
    incident.save()
    assert LogEntry.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_a_backup_is_recorded(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    manifest = backups.create_backup()
    entry = LogEntry.objects.get(object_pk="backup.create")
    assert entry.action == LogEntry.Action.CREATE
    assert entry.additional_data["file"] == manifest.file
    assert audit.event_name(entry) == "backup.create"
    assert entry.actor is None  # a command or a task: the system


def test_staff_exporting_someone_elses_events_is_recorded(client_for, admin, student):
    response = client_for(admin).get(f"/analytics/users/{student.pk}/?csv=1", REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 200
    entry = entries_for(User, student.pk)[-1]
    assert entry.action == LogEntry.Action.ACCESS
    assert (entry.actor, entry.remote_addr) == (admin, "192.0.2.10")
    assert entry.additional_data["event"] == "user.export"


def test_audit_page_is_staff_only(client_for, student, teacher):
    assert client_for(None).get(AUDIT_URL).status_code == 302
    assert client_for(student).get(AUDIT_URL).status_code == 403
    assert client_for(teacher).get(AUDIT_URL).status_code == 403


def test_audit_page_filters(client_for, admin):
    someone = UserFactory(username="zed")
    audit.record("backup.create", actor=admin, description="Backup x")
    audit.record("user.export", target=someone, actor=admin)
    client = client_for(admin)

    by_actor = client.get(AUDIT_URL, {"actor": admin.username})
    assert {event for _, event in by_actor.context["rows"]} == {"backup.create", "user.export"}

    system = client.get(AUDIT_URL, {"actor": "system"})
    # The two accounts made by the fixtures, by nobody signed in.
    assert [event for _, event in system.context["rows"]] == ["lms.user.create", "lms.user.create"]

    user_ct = ContentType.objects.get_for_model(User)
    kind = client.get(AUDIT_URL, {"kind": user_ct.pk, "action": "access"})
    assert [event for _, event in kind.context["rows"]] == ["user.export"]

    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert client.get(AUDIT_URL, {"since": tomorrow}).context["page"].paginator.count == 0


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"action": "steal"}, {"kind": "999999"}])
def test_bad_filters_are_400(client_for, admin, params):
    assert client_for(admin).get(AUDIT_URL, params).status_code == 400


@pytest.mark.parametrize("count", [2, 60])
def test_audit_page_query_count_does_not_grow(client_for, admin, count):
    for i in range(count):
        audit.record("backup.create", actor=admin, description=f"Backup {i}", file=f"f{i}")
    client = client_for(admin)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(AUDIT_URL, {"actor": admin.username})
    assert response.status_code == 200
    assert len(response.context["rows"]) == min(count, 50)
    # session, user, content types for the filter (cached after the first
    # lookup), the kind choices, the count, the page with actor and kind.
    assert len(queries.captured_queries) <= 7, [q["sql"] for q in queries.captured_queries]
    if count > 50:
        assert "page=2" in response.content.decode()


def test_old_entries_go_in_the_weekly_maintenance(admin, settings):
    settings.AUDIT_LOG_RETENTION_DAYS = 30
    old = audit.record("backup.create", actor=admin)
    LogEntry.objects.filter(pk=old.pk).update(timestamp=timezone.now() - timedelta(days=31))
    recent = audit.record("backup.create", actor=admin)
    _message, figures = step_retention(timezone.now())
    assert figures["audit_entries_deleted"] == 1
    assert list(LogEntry.objects.filter(object_pk="backup.create")) == [recent]


def test_failed_log_in_records_expire_in_the_weekly_maintenance(settings):
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    settings.AXES_RECORD_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    fields = {"user_agent": "x", "ip_address": "192.0.2.1", "username": "sam", "http_accept": "*/*", "path_info": "/"}
    for model, extra in (
        (AccessFailureLog, {}),
        (AccessAttempt, {"get_data": "", "post_data": "", "failures_since_start": 3}),
        (AccessLog, {}),
    ):
        stale = model.objects.create(**fields, **extra)
        model.objects.filter(pk=stale.pk).update(attempt_time=old)
        model.objects.create(**{**fields, "username": "recent"}, **extra)
    _message, figures = step_retention(timezone.now())
    assert figures["failed_login_records_deleted"] == 1
    assert figures["login_attempt_counters_deleted"] == 1
    assert figures["login_records_deleted"] == 1
    for model in (AccessFailureLog, AccessAttempt, AccessLog):
        assert list(model.objects.values_list("username", flat=True)) == ["recent"]
