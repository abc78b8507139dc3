from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axes.models import AccessFailureLog
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from ops import histogram
from ops.maintenance import run_maintenance
from ops.models import HealthProbe, MaintenanceRun, RequestMetric

NOW = datetime(2026, 6, 7, 2, 0, tzinfo=UTC)  # a Sunday, 02:00


@pytest.fixture(autouse=True)
def _empty_backup_dir(settings, tmp_path: Path) -> None:
    settings.BACKUP_DIR = tmp_path / "backups"


def _metric(
    start: datetime, *, route: str = "/a/", resolution: str = "minute", count: int = 2, errors: int = 0
) -> RequestMetric:
    hist = histogram.empty()
    hist[histogram.bucket_index(40)] = count
    return RequestMetric.objects.create(
        resolution=resolution,
        bucket_start=start,
        route=route,
        method="GET",
        request_count=count,
        server_errors=errors,
        duration_sum_ms=40.0 * count,
        duration_min_ms=40,
        duration_max_ms=40,
        histogram=hist,
        status_codes={"200": count - errors, **({"500": errors} if errors else {})},
    )


def _world() -> dict[str, object]:
    """Rows on both sides of every retention line."""
    old = NOW - timedelta(days=31)
    hour = old.replace(minute=0)
    w = {
        "expired_session": Session.objects.create(
            session_key="a" * 32, session_data="x", expire_date=NOW - timedelta(seconds=1)
        ),
        "live_session": Session.objects.create(
            session_key="b" * 32, session_data="x", expire_date=NOW + timedelta(days=1)
        ),
        "old_minutes": [_metric(hour + timedelta(minutes=5)), _metric(hour + timedelta(minutes=6), errors=1)],
        "other_route_old": _metric(hour + timedelta(minutes=7), route="/b/"),
        "recent_minute": _metric(NOW - timedelta(days=29)),
        "old_rollup": _metric(NOW - timedelta(days=200), resolution="hour", count=50),
        "old_probe": HealthProbe.objects.create(
            component="web", status="healthy", latency_ms=1, checked_at=NOW - timedelta(days=101)
        ),
        "recent_probe": HealthProbe.objects.create(
            component="web", status="healthy", latency_ms=1, checked_at=NOW - timedelta(days=89)
        ),
    }
    for when, user, ip in [
        (1, "bob", "10.0.0.1"),
        (2, "bob", "10.0.0.1"),
        (3, "eve", "10.0.0.9"),
        (9, "old", "10.0.0.2"),
    ]:
        row = AccessFailureLog.objects.create(
            username=user, ip_address=ip, user_agent="t", http_accept="*", path_info="/accounts/login/"
        )
        AccessFailureLog.objects.filter(pk=row.pk).update(attempt_time=NOW - timedelta(days=when))
    return w


def _check_policy(run: MaintenanceRun, w: dict[str, object]) -> None:
    steps = {s.name: s for s in run.steps.all()}
    assert list(steps) == [
        "Retention clean-up",
        "Vacuum and analyze",
        "Size report",
        "Performance this week",
        "Failed log-ins this week",
        "Backup check",
    ]
    retention = steps["Retention clean-up"].figures
    assert retention["expired_sessions_deleted"] == 1
    assert retention["minute_rows_deleted"] == 3
    assert retention["hour_rows_written"] == 2  # /a/ and /b/ for that hour
    assert retention["probes_deleted"] == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]
    # Exactly the old minute rows went; the recent minute row and every rollup stayed.
    minute_rows = RequestMetric.objects.filter(resolution="minute")
    assert list(minute_rows.values_list("pk", flat=True)) == [w["recent_minute"].pk]
    rollups = {r.route: r for r in RequestMetric.objects.filter(resolution="hour").exclude(pk=w["old_rollup"].pk)}
    assert RequestMetric.objects.filter(pk=w["old_rollup"].pk, request_count=50).exists()
    assert (rollups["/a/"].request_count, rollups["/a/"].server_errors, rollups["/a/"].status_codes) == (
        4,
        1,
        {"200": 3, "500": 1},
    )
    assert sum(rollups["/a/"].histogram) == 4 and rollups["/b/"].request_count == 2
    assert list(HealthProbe.objects.values_list("pk", flat=True)) == [w["recent_probe"].pk]

    security = steps["Failed log-ins this week"].figures
    assert security["failed_logins"] == 3
    assert security["top_usernames"][0] == ["bob", 2] and security["top_addresses"][0] == ["10.0.0.1", 2]

    backup = steps["Backup check"]
    assert backup.result == "warning" and "No backup exists yet" in backup.message

    size = steps["Size report"].figures
    assert size["database_bytes"] > 0
    assert all(step.duration_ms >= 0 for step in steps.values())
    assert run.status == "ok"  # a warning is not a failure


@pytest.mark.django_db
def test_run_maintenance_deletes_exactly_what_the_policy_says(admin) -> None:
    w = _world()
    run = run_maintenance(now=NOW)
    _check_policy(run, w)
    perf = run.steps.get(name="Performance this week").figures
    assert perf["requests"] == 0  # nothing in the seven days before NOW besides... nothing
    notes = run.steps.get(name="Retention clean-up").message
    assert "StudySession" in notes or "abandoned" in notes or notes == "Retention policy applied."
    assert mail.outbox and admin.email in mail.outbox[0].to and "Weekly maintenance" in mail.outbox[0].subject
    assert "Retention clean-up" in mail.outbox[0].body


@pytest.mark.postgres
def test_run_maintenance_on_postgres_vacuums_for_real(transactional_db, admin) -> None:
    w = _world()
    run = run_maintenance(now=NOW)
    _check_policy(run, w)
    vacuum = run.steps.get(name="Vacuum and analyze")
    assert vacuum.result == "ok" and vacuum.figures["command"] == "VACUUM (ANALYZE)"
    assert "ops_requestmetric" in vacuum.figures["tables"]
    size = run.steps.get(name="Size report").figures
    assert size["tables"] and all(t["bytes"] > 0 for t in size["tables"])
    assert size["indexes"]


@pytest.mark.django_db
def test_week_performance_summary_has_real_figures() -> None:
    _metric(NOW - timedelta(days=2), count=10, errors=1)
    _metric(NOW - timedelta(days=8), count=99)  # last week: not counted
    run = run_maintenance(now=NOW, email=False)
    perf = run.steps.get(name="Performance this week").figures
    assert perf == {
        "requests": 10,
        "server_errors": 1,
        "client_errors": 0,
        "error_rate": 0.1,
        "avg_duration_ms": 40.0,
        "p95_duration_ms": perf["p95_duration_ms"],
    }
    assert 25 <= perf["p95_duration_ms"] <= 50  # the bucket holding 40 ms


@pytest.mark.django_db
def test_a_failing_step_marks_the_run_partial_and_the_rest_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from ops import maintenance

    def broken(now: datetime) -> tuple[str, dict]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(maintenance, "STEPS", [(n, broken if n == "Size report" else f) for n, f in maintenance.STEPS])
    run = run_maintenance(now=NOW, email=False)
    assert run.status == "partial"
    results = dict(run.steps.values_list("name", "result"))
    assert results["Size report"] == "failed" and results["Backup check"] == "warning"
    assert results["Retention clean-up"] == "ok" and results["Failed log-ins this week"] == "ok"
    assert "disk on fire" in run.steps.get(name="Size report").message


@pytest.mark.django_db
def test_backup_check_passes_only_with_a_fresh_backup_whose_checksum_matches(settings) -> None:
    from ops.maintenance import StepWarning, step_backup

    directory = Path(settings.BACKUP_DIR)
    directory.mkdir(parents=True)
    dump = directory / "lms-20260607.sqlite3.gz"
    dump.write_bytes(b"pretend dump")
    manifest = {
        "file": dump.name,
        "created_at": (NOW - timedelta(hours=3)).isoformat(),
        "vendor": "sqlite",
        "size_bytes": dump.stat().st_size,
        "sha256": hashlib.sha256(b"pretend dump").hexdigest(),
        "duration_ms": 5,
        "tables": {},
    }
    (directory / f"{dump.name}.json").write_text(json.dumps(manifest))
    message, figures = step_backup(NOW)
    assert figures["checksum_matches"] is True and figures["age_hours"] == 3.0
    assert figures["last_drill"] == "never" and "never restore-drilled" in message

    # The latest recorded restore drill counts too: a failed one fails the step.
    from ops.models import BackupDrill

    BackupDrill.objects.create(file=dump.name, ok=True, ran_at=NOW - timedelta(hours=2))
    assert "last restore drill passed" in step_backup(NOW)[0]
    BackupDrill.objects.create(file=dump.name, ok=False, message="3 tables differ", ran_at=NOW - timedelta(hours=1))
    with pytest.raises(RuntimeError, match=r"restore drill .* failed: 3 tables differ"):
        step_backup(NOW)
    BackupDrill.objects.all().delete()

    with pytest.raises(RuntimeError, match="hours old"):
        step_backup(NOW + timedelta(hours=30))
    dump.write_bytes(b"tampered")
    with pytest.raises(RuntimeError, match="checksum"):
        step_backup(NOW)
    dump.unlink()
    (directory / f"{dump.name}.json").unlink()
    with pytest.raises(StepWarning):
        step_backup(NOW)


@pytest.mark.django_db
def test_command_and_report_pages(client_for, admin, student, capsys) -> None:
    call_command("run_maintenance", "--no-email")
    out = capsys.readouterr().out
    assert "Retention clean-up" in out and "Backup check" in out
    run = MaintenanceRun.objects.get()
    page = client_for(admin).get(reverse("ops:maintenance_run", args=[run.pk]))
    assert page.status_code == 200 and b"No backup exists yet" in page.content
    assert client_for(admin).get(reverse("ops:maintenance_runs")).status_code == 200
    assert client_for(student).get(reverse("ops:maintenance_run", args=[run.pk])).status_code == 403
