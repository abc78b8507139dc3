"""The staff Backups page: backups from their manifests, restore drills
recorded as BackupDrill rows, and the admin-only buttons that run both."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from ops import backups
from ops.models import BackupDrill
from tests.factories import UserFactory

URL = reverse("ops:backups")
RUN = reverse("ops:backup_run")
DRILL = reverse("ops:backup_drill")


@pytest.fixture
def staff_teacher():
    return UserFactory(username="stella", role="teacher", is_staff=True)


# --- permissions ---------------------------------------------------------------------


@pytest.mark.django_db
def test_students_and_teachers_get_403_and_anonymous_is_sent_to_log_in(client_for, student, teacher):
    for user in (student, teacher):
        client = client_for(user)
        assert client.get(URL).status_code == 403
        assert client.post(RUN).status_code == 403
        assert client.post(DRILL).status_code == 403
    for url in (URL, RUN, DRILL):
        response = client_for(None).post(url) if url != URL else client_for(None).get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert backups.list_backups() == [] and BackupDrill.objects.count() == 0


@pytest.mark.django_db
def test_staff_who_are_not_admins_may_look_but_not_run_anything(client_for, staff_teacher):
    client = client_for(staff_teacher)
    html = client.get(URL).content.decode()
    assert "Back up now" not in html and "Run a restore drill" not in html
    assert client.post(RUN).status_code == 403
    assert client.post(DRILL).status_code == 403
    assert backups.list_backups() == [] and BackupDrill.objects.count() == 0


@pytest.mark.django_db
def test_running_needs_a_post(client_for, admin):
    assert client_for(admin).get(RUN).status_code == 405
    assert client_for(admin).get(DRILL).status_code == 405
    assert backups.list_backups() == []


# --- empty state -------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_backup_yet_is_said_plainly(client_for, admin):
    html = client_for(admin).get(URL).content.decode()
    assert "No backup exists yet: the data is not backed up" in html
    assert "none yet" in html
    assert "disabled" in html.split("Run a restore drill")[0].rsplit("<button", 1)[1]


# --- running a backup and a drill from the page -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_admin_backs_up_now_and_sees_the_backup_and_its_passed_drill(client_for, admin):
    UserFactory.create_batch(2)
    client = client_for(admin)
    response = client.post(RUN, follow=True)
    assert response.status_code == 200
    (manifest,) = backups.list_backups()
    drill = BackupDrill.objects.get()
    assert (drill.file, drill.ok, drill.trigger, drill.requested_by) == (manifest.file, True, "page", admin)
    assert drill.tables_checked == len(manifest.tables) and drill.restored and drill.checksum_ok
    html = response.content.decode()
    assert f"Backup {manifest.file} written and restore-drilled" in html
    row = html.split(f'data-backup="{manifest.file}"')[1].split("</tr>")[0]
    assert manifest.sha256[:12] in row and "passed" in row
    assert f"{len(manifest.tables)}<br>" in row and f"{sum(manifest.tables.values())} rows" in row
    assert 'data-latest-drill><span class="badge ok">passed' in html


@pytest.mark.django_db(transaction=True)
def test_admin_drills_a_named_backup(client_for, admin):
    older = backups.create_backup()
    backups.create_backup()
    response = client_for(admin).post(DRILL, {"file": older.file}, follow=True)
    drill = BackupDrill.objects.get()
    assert drill.file == older.file and drill.ok
    assert f"Restore drill of {older.file}: Restore drill passed." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_file_is_a_clear_error_and_records_nothing(client_for, admin):
    backups.create_backup()
    response = client_for(admin).post(DRILL, {"file": "../../etc/passwd"}, follow=True)
    assert response.status_code == 200
    assert "No backup named" in response.content.decode()
    assert BackupDrill.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_corrupt_backup_fails_its_drill_and_the_page_says_why(client_for, admin):
    manifest = backups.create_backup()
    with manifest.path.open("r+b") as handle:
        handle.seek(20)
        handle.write(b"corrupt")
    response = client_for(admin).post(DRILL, follow=True)
    drill = BackupDrill.objects.get()
    assert not drill.ok and not drill.checksum_ok
    html = response.content.decode()
    assert "Checksum mismatch: the backup file is corrupt." in html
    assert 'data-latest-drill><span class="badge bad">failed' in html


@pytest.mark.django_db(transaction=True)
def test_row_count_mismatches_are_listed(client_for, admin):
    UserFactory.create_batch(2)
    manifest = backups.create_backup()
    path = manifest.path.with_name(manifest.file + ".json")
    data = json.loads(path.read_text())
    data["tables"]["lms_user"] = 99
    path.write_text(json.dumps(data))
    client_for(admin).post(DRILL)
    drill = BackupDrill.objects.get()
    assert drill.mismatches == {"lms_user": [99, 3]}  # two users and the admin
    html = client_for(admin).get(URL).content.decode()
    assert "Tables that differ" in html and "<code>lms_user</code>" in html


@pytest.mark.django_db(transaction=True)
def test_a_backup_that_cannot_be_written_is_a_message_not_a_500(client_for, admin, monkeypatch):
    def broken() -> None:
        raise backups.BackupError("pg_dump is not installed")

    monkeypatch.setattr(backups, "create_backup", broken)
    response = client_for(admin).post(RUN, follow=True)
    assert response.status_code == 200
    assert "The backup failed: pg_dump is not installed" in response.content.decode()
    assert BackupDrill.objects.count() == 0


# --- drills are recorded wherever they run ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_nightly_task_and_the_command_record_their_drills(capsys):
    from ops.tasks import backup

    result = backup.delay().get()
    call_command("verify_backup")
    assert "Restore drill passed" in capsys.readouterr().out
    triggers = list(BackupDrill.objects.order_by("id").values_list("trigger", "file", "ok"))
    assert triggers == [("beat", result["file"], True), ("command", result["file"], True)]
    assert result["drill_id"] == BackupDrill.objects.order_by("id").first().pk


@pytest.mark.django_db(transaction=True)
def test_the_verify_task_records_a_failed_drill_without_raising():
    from ops.tasks import verify_backup

    result = verify_backup.delay().get()
    assert result["ok"] is False and "No backup exists yet" in result["message"]
    assert BackupDrill.objects.get(pk=result["drill_id"]).ok is False


# --- the list ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [2, 5])
def test_the_page_reads_the_database_a_fixed_number_of_times(client_for, admin, count, django_assert_num_queries):
    for _ in range(count):
        manifest = backups.create_backup()
        BackupDrill.objects.create(file=manifest.file, ok=True, trigger="beat")
    client = client_for(admin)
    # user (the session is cached), the ten latest drills, the drills of the listed files
    with django_assert_num_queries(3):
        response = client.get(URL)
    html = response.content.decode()
    assert html.count("data-backup=") == count
    assert '<svg class="chart"' in html  # sizes over time
    assert "never drilled" not in html


@pytest.mark.django_db
def test_the_dashboard_links_to_backups(client_for, admin):
    html = client_for(admin).get(reverse("ops:dashboard")).content.decode()
    assert URL in html and "No backup yet" in html


def test_ages_are_compact_enough_for_a_stat_box():
    from datetime import UTC, datetime, timedelta

    from ops.templatetags.ops_tags import age

    now = datetime(2026, 6, 7, 12, 0, tzinfo=UTC)
    assert age(now - timedelta(seconds=30), now) == "0 min"
    assert age(now - timedelta(minutes=59), now) == "59 min"
    assert age(now - timedelta(hours=26), now) == "26 h"
    assert age(now - timedelta(days=3, hours=5), now) == "3 d"
    assert age(None, now) == "—"
