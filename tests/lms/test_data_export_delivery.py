"""A data export whose build task is delivered twice, late, or never.

The build claims the export first, so two deliveries build and email once;
the sweep re-sends an export whose task was lost and fails one whose builds
keep dying, so nothing stays "being prepared" for ever (lms.privacy)."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from lms import privacy, queueing, tasks
from lms.models import DataExport, DataExportQuerySet, User
from tests.threads import run_together


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The export ids the sweep sends, the broker taking each (not built)."""
    ids: list[int] = []

    def enqueue(task, *args, **kwargs) -> bool:
        assert task is tasks.build_data_export
        ids.append(args[0])
        return True

    monkeypatch.setattr(queueing, "enqueue", enqueue)
    return ids


@pytest.fixture
def broker_down(monkeypatch) -> None:
    monkeypatch.setattr(queueing, "enqueue", lambda task, *args, **kwargs: False)


def ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def pending(user: User, *, queued: float = 0, started: float | None = None, attempts: int = 0) -> DataExport:
    """A pending export whose task was sent `queued` seconds ago and, with
    `started`, claimed by a build that many seconds ago."""
    return DataExport.objects.create(
        user=user,
        queued_at=ago(queued),
        started_at=None if started is None else ago(started),
        attempts=attempts,
    )


def stored_zips(settings, user: User) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "private" / "exports" / str(user.pk)
    return sorted(folder.glob("*.zip")) if folder.exists() else []


def swept(outcome: str) -> float:
    return privacy.exports_swept.labels(outcome=outcome)._value.get()


# --- The claim --------------------------------------------------------------------


@pytest.mark.postgres
def test_two_deliveries_at_once_build_once_and_send_one_email(transactional_db, student, settings, monkeypatch):
    export = DataExport.objects.create(user=student)
    # The worst case: both deliveries read the export pending before either
    # writes its claim (each claim waits for the other's read), then both
    # UPDATE at once on their own connections.
    both_read = threading.Barrier(2, timeout=5)
    update = DataExportQuerySet.update

    def claim_after_both_read(self: DataExportQuerySet, **fields: object) -> int:
        if "started_at" in fields:
            with contextlib.suppress(threading.BrokenBarrierError):
                both_read.wait()
        return update(self, **fields)

    builds = []
    build_zip = privacy.build_zip

    def slow_build(user: User) -> bytes:  # long enough for two builds to overlap
        builds.append(user.pk)
        time.sleep(0.3)
        return build_zip(user)

    monkeypatch.setattr(DataExportQuerySet, "update", claim_after_both_read)
    monkeypatch.setattr(privacy, "build_zip", slow_build)
    results = run_together(
        lambda: tasks.build_data_export(export.pk),
        lambda: tasks.build_data_export(export.pk),
    )
    assert sorted(results, key=str) == [None, "ready"]
    assert not both_read.broken  # both did read it pending
    assert len(builds) == 1
    assert len(mail.outbox) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY and export.attempts == 1
    assert [p.name for p in stored_zips(settings, student)] == [Path(export.file.name).name]


def test_a_delivery_while_another_build_holds_the_export_does_nothing(student, monkeypatch):
    export = DataExport.objects.create(user=student)
    assert privacy.data_export_claim(export_id=export.pk) is not None  # the first delivery, building
    monkeypatch.setattr(privacy, "build_zip", lambda user: pytest.fail("built twice"))
    assert tasks.build_data_export(export.pk) is None
    export.refresh_from_db()
    assert export.status == DataExport.Status.PENDING and export.attempts == 1
    assert mail.outbox == []


def test_a_redelivered_finished_export_does_nothing(student, settings):
    export = DataExport.objects.create(user=student)
    assert tasks.build_data_export(export.pk) == "ready"
    export.refresh_from_db()
    assert tasks.build_data_export(export.pk) is None
    assert len(mail.outbox) == 1
    again = DataExport.objects.get(pk=export.pk)
    assert (again.status, again.file.name, again.finished_at, again.attempts) == (
        DataExport.Status.READY,
        export.file.name,
        export.finished_at,
        1,
    )
    assert len(stored_zips(settings, student)) == 1


def test_a_build_taken_over_while_it_ran_keeps_nothing_and_sends_nothing(student, settings, monkeypatch):
    """A build slower than DATA_EXPORT_CLAIM_STALE_SECONDS is taken for dead
    and built again; when the slow one finishes, the other's copy stands."""
    export = DataExport.objects.create(user=student)
    build_zip = privacy.build_zip
    taken_over = []

    def overtaken(user: User) -> bytes:
        if not taken_over:
            taken_over.append(True)
            DataExport.objects.filter(pk=export.pk).update(started_at=ago(settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1))
            assert tasks.build_data_export(export.pk) == "ready"  # the re-sent delivery
        return build_zip(user)

    monkeypatch.setattr(privacy, "build_zip", overtaken)
    assert tasks.build_data_export(export.pk) is None
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY and export.attempts == 2
    assert len(mail.outbox) == 1
    assert [p.name for p in stored_zips(settings, student)] == [Path(export.file.name).name]


def test_a_build_that_ends_after_the_sweep_failed_it_sends_nothing(student, settings, monkeypatch):
    export = DataExport.objects.create(user=student)
    build_zip = privacy.build_zip

    def failed_meanwhile(user: User) -> bytes:
        DataExport.objects.filter(pk=export.pk).update(
            started_at=ago(settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1),
            queued_at=ago(settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1),
        )
        settings.DATA_EXPORT_MAX_ATTEMPTS = 1
        assert tasks.sweep_data_exports()["failed"] == 1
        return build_zip(user)

    monkeypatch.setattr(privacy, "build_zip", failed_meanwhile)
    assert tasks.build_data_export(export.pk) is None
    export.refresh_from_db()
    assert export.status == DataExport.Status.FAILED and not export.file
    assert mail.outbox == [] and stored_zips(settings, student) == []


# --- The sweep --------------------------------------------------------------------


def test_the_sweep_resends_an_export_no_worker_picked_up_and_it_is_built(student, settings, caplog):
    export = pending(student, queued=settings.DATA_EXPORT_QUEUE_STALE_SECONDS + 1)
    before = swept("resent")
    with caplog.at_level(logging.WARNING, logger="lms.privacy"):
        assert tasks.sweep_data_exports() == {"resent": 1, "failed": 0, "not_sent": 0}
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY  # eager: the re-sent task ran
    assert len(mail.outbox) == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert f"data export {export.pk} re-sent" in caplog.records[0].getMessage()
    assert swept("resent") == before + 1


def test_the_sweep_resends_an_export_whose_build_died_once_per_wait(student, settings, sent, caplog):
    long_ago = settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1
    export = pending(student, queued=long_ago, started=long_ago, attempts=1)
    with caplog.at_level(logging.WARNING, logger="lms.privacy"):
        assert tasks.sweep_data_exports()["resent"] == 1
    assert sent == [export.pk]
    assert f"data export {export.pk} re-sent: build 1 of 3" in caplog.text
    export.refresh_from_db()
    assert export.status == DataExport.Status.PENDING and export.queued_at > ago(60)
    # Its message is on its way: the next sweep does not send another.
    assert tasks.sweep_data_exports()["resent"] == 0
    assert sent == [export.pk]


def test_the_sweep_fails_an_export_after_its_last_build_died(student, settings, sent, caplog, client_for):
    long_ago = settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1
    export = pending(student, queued=long_ago, started=long_ago, attempts=settings.DATA_EXPORT_MAX_ATTEMPTS)
    before = swept("failed")
    with caplog.at_level(logging.WARNING, logger="lms.privacy"):
        assert tasks.sweep_data_exports() == {"resent": 0, "failed": 1, "not_sent": 0}
    assert sent == []
    export.refresh_from_db()
    assert export.status == DataExport.Status.FAILED and export.finished_at is not None
    assert f"data export {export.pk} failed" in caplog.text
    assert swept("failed") == before + 1
    # Asking again starts a new export rather than returning the failed one.
    again = privacy.data_export_request(user=student)
    assert again.pk != export.pk and again.status == DataExport.Status.PENDING


def test_the_sweep_stops_resending_an_export_no_worker_took_for_hours(student, settings, sent, caplog):
    """Re-sent every wait while no worker is there; given up after
    DATA_EXPORT_GIVE_UP_HOURS, so a dead queue collects a bounded number."""
    export = pending(student, queued=settings.DATA_EXPORT_QUEUE_STALE_SECONDS + 1)
    hours = settings.DATA_EXPORT_GIVE_UP_HOURS
    DataExport.objects.filter(pk=export.pk).update(created_at=ago(hours * 3600 - 60))
    assert tasks.sweep_data_exports()["resent"] == 1
    DataExport.objects.filter(pk=export.pk).update(
        created_at=ago(hours * 3600 + 60), queued_at=ago(settings.DATA_EXPORT_QUEUE_STALE_SECONDS + 1)
    )
    with caplog.at_level(logging.WARNING, logger="lms.privacy"):
        assert tasks.sweep_data_exports() == {"resent": 0, "failed": 1, "not_sent": 0}
    assert sent == [export.pk]
    export.refresh_from_db()
    assert export.status == DataExport.Status.FAILED
    assert f"no build finished in {hours} h" in caplog.text


def test_the_sweep_leaves_exports_that_are_still_on_their_way(student, outsider, settings, sent):
    fresh_queue = settings.DATA_EXPORT_QUEUE_STALE_SECONDS - 30
    pending(student, queued=fresh_queue)  # sent a moment ago, not picked up yet
    # Its build started a while ago, within the task's time limit: it may still be running.
    running = settings.DATA_EXPORT_CLAIM_STALE_SECONDS - 30
    pending(outsider, queued=running, started=running, attempts=settings.DATA_EXPORT_MAX_ATTEMPTS)
    long_ago = settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1
    for status in (DataExport.Status.READY, DataExport.Status.FAILED):
        DataExport.objects.create(user=student, status=status, queued_at=ago(long_ago), started_at=ago(long_ago))
    assert tasks.sweep_data_exports() == {"resent": 0, "failed": 0, "not_sent": 0}
    assert sent == []
    assert DataExport.objects.filter(status=DataExport.Status.PENDING).count() == 2


def test_with_the_broker_down_the_sweep_leaves_exports_for_the_next_one(student, outsider, settings, broker_down):
    unclaimed = pending(student, queued=settings.DATA_EXPORT_QUEUE_STALE_SECONDS + 1)
    long_ago = settings.DATA_EXPORT_CLAIM_STALE_SECONDS + 1
    died = pending(outsider, queued=long_ago, started=long_ago, attempts=1)
    before = {e.pk: (e.queued_at, e.started_at, e.attempts) for e in (unclaimed, died)}
    assert tasks.sweep_data_exports() == {"resent": 0, "failed": 0, "not_sent": 2}
    after = {e.pk: (e.queued_at, e.started_at, e.attempts) for e in DataExport.objects.filter(status="pending")}
    assert after == before
    assert mail.outbox == []


def test_once_the_broker_is_back_the_next_sweep_sends_them(student, settings, monkeypatch):
    export = pending(student, queued=settings.DATA_EXPORT_QUEUE_STALE_SECONDS + 1)
    monkeypatch.setattr(queueing, "enqueue", lambda task, *args, **kwargs: False)
    assert tasks.sweep_data_exports()["not_sent"] == 1
    monkeypatch.undo()
    assert tasks.sweep_data_exports()["resent"] == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY and len(mail.outbox) == 1


def test_the_sweep_runs_from_beat_and_by_hand(student, settings, sent):
    task = PeriodicTask.objects.get(task="lms.tasks.sweep_data_exports")
    assert task.enabled and task.expire_seconds == 300
    assert (task.interval.every, task.interval.period) == (5, "minutes")
    export = pending(student, queued=settings.DATA_EXPORT_QUEUE_STALE_SECONDS + 1)
    out = io.StringIO()
    call_command("sweep_data_exports", stdout=out)
    assert out.getvalue().startswith("1 data export(s) re-sent, 0 marked failed")
    assert sent == [export.pk]
