"""A data export whose build task is delivered twice: the build claims the
export first, so two deliveries build and email once (lms.privacy)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from lms import privacy, tasks
from lms.models import DataExport, DataExportQuerySet, User


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def stored_zips(settings, user: User) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "private" / "exports" / str(user.pk)
    return sorted(folder.glob("*.zip")) if folder.exists() else []


# --- The claim --------------------------------------------------------------------


def run_together(*calls: Callable[[], object]) -> list[object]:
    """Run the calls in threads, each on its own connection, released at once."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(i: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # handed to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


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
