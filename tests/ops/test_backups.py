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
    assert len(list(backups.backup_dir().iterdir())) == 6  # two dumps, two media archives, two manifests


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


def _media(settings, files: dict[str, bytes]) -> None:
    from pathlib import Path

    for name, content in files.items():
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


CARD_MEDIA = {"cards/1/cat.png": b"\x89PNG fake image", "cards/2/hello.mp3": b"ID3 fake sound", "top.txt": b"x"}


@pytest.mark.django_db(transaction=True)
def test_backups_include_card_media_and_the_drill_restores_them(settings, capsys):
    _media(settings, CARD_MEDIA)
    manifest = backups.create_backup()
    assert manifest.media_path.exists() and manifest.media_files == 3
    assert manifest.media_sha256 == backups._sha256(manifest.media_path)
    result = backups.verify_backup()
    assert result.ok, result.message
    assert result.media_checked == 3
    call_command("verify_backup")
    assert "3 media files" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_corrupted_media_archive_fails_the_drill(settings):
    _media(settings, CARD_MEDIA)
    manifest = backups.create_backup()
    with manifest.media_path.open("r+b") as handle:
        handle.seek(12)
        handle.write(b"corrupt")
    result = backups.verify_backup()
    assert not result.ok and "media archive is corrupt" in result.message


@pytest.mark.django_db(transaction=True)
def test_media_that_differ_from_the_manifest_fail_the_drill(settings):
    _media(settings, CARD_MEDIA)
    manifest = backups.create_backup()
    manifest_path = manifest.path.with_name(manifest.file + ".json")
    data = json.loads(manifest_path.read_text())
    data["media_files"] = 4  # as if a file had been left out of the archive
    manifest_path.write_text(json.dumps(data))
    result = backups.verify_backup()
    assert not result.ok and "Media differ" in result.message


@pytest.mark.django_db(transaction=True)
def test_an_archive_cannot_write_outside_the_scratch_folder(settings):
    import io
    import tarfile

    manifest = backups.create_backup()
    with tarfile.open(manifest.media_path, "w:gz") as archive:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    manifest_path = manifest.path.with_name(manifest.file + ".json")
    data = json.loads(manifest_path.read_text())
    data["media_sha256"] = backups._sha256(manifest.media_path)
    manifest_path.write_text(json.dumps(data))
    result = backups.verify_backup()
    assert not result.ok and "unexpected entry" in result.message


@pytest.mark.django_db(transaction=True)
def test_a_backup_from_before_media_still_verifies(settings):
    manifest = backups.create_backup()
    manifest_path = manifest.path.with_name(manifest.file + ".json")
    data = json.loads(manifest_path.read_text())
    for key in ("media_file", "media_sha256", "media_size_bytes", "media_files", "media_digest"):
        data.pop(key)
    manifest_path.write_text(json.dumps(data))
    result = backups.verify_backup()
    assert result.ok and "No media archive" in result.message
