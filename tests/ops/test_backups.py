from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from ops import backups
from tests.factories import UserFactory


def test_verify_without_any_backup_fails_clearly():
    with pytest.raises(CommandError, match="No backup exists yet"):
        call_command("verify_backup")


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_drill_matches_row_counts():
    UserFactory.create_batch(3)
    manifest = backups.create_backup()
    assert manifest.path.exists()
    assert manifest.tables["lms_user"] == 3
    result = backups.verify_backup()
    assert result.ok, result.message
    assert result.restored and result.checksum_ok
    assert result.tables_checked == len(manifest.tables)


@pytest.mark.django_db(transaction=True)
def test_a_corrupted_backup_fails_the_checksum(capsys):
    manifest = backups.create_backup()
    with manifest.path.open("r+b") as handle:
        handle.seek(20)
        handle.write(b"corrupt")
    with pytest.raises(CommandError, match="Checksum mismatch"):
        call_command("verify_backup")


@pytest.mark.django_db(transaction=True)
def test_a_manifest_that_disagrees_with_the_dump_is_reported():
    UserFactory.create_batch(2)
    manifest = backups.create_backup()
    manifest_path = manifest.path.with_name(manifest.file + ".json")
    data = json.loads(manifest_path.read_text())
    data["tables"]["lms_user"] = 99
    manifest_path.write_text(json.dumps(data))
    result = backups.verify_backup()
    assert not result.ok
    assert result.mismatches["lms_user"] == (99, 2)


@pytest.mark.django_db(transaction=True)
def test_old_backups_are_pruned(settings):
    settings.BACKUP_KEEP = 2
    for _ in range(4):
        backups.create_backup()
    assert len(backups.list_backups()) == 2
    assert len(list(backups.backup_dir().iterdir())) == 4  # two dumps, two manifests


@pytest.mark.django_db(transaction=True)
def test_backup_command_prints_a_summary(capsys):
    call_command("backup")
    assert "Backup lms-" in capsys.readouterr().out
    call_command("verify_backup")
    assert "Restore drill passed" in capsys.readouterr().out


def test_backup_is_scheduled_nightly_at_three():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="ops.tasks.backup")
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "3", "*")


@pytest.mark.django_db(transaction=True)
def test_the_backup_task_writes_a_backup_and_drills_it():
    from ops.tasks import backup

    UserFactory.create_batch(2)
    result = backup.delay().get()
    assert result["drill"]["ok"] is True
    assert backups.latest_backup().file == result["file"]
