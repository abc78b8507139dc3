"""Big imports run in the background: 202 + status URL, a progress page, all or nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from learning.models import Card, Deck, ImportJob, MediaBlob
from tests.learning.anki_packages import PNG, add, build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_threshold(settings, tmp_path):
    settings.IMPORT_BACKGROUND_CARDS = 5
    settings.MEDIA_ROOT = tmp_path / "media"


def _csv(rows: int, bad: bool = False) -> SimpleUploadedFile:
    text = "".join(f"Term {i};Meaning {i}\n" for i in range(rows))
    if bad:
        text += "Only script;<script>x</script>\n"  # readable, but no back once sanitised
    return SimpleUploadedFile("big.csv", text.encode(), content_type="text/csv")


def test_a_big_import_answers_202_and_its_status_url_reports_the_result(
    teacher, student, api_for, django_capture_on_commit_callbacks, settings
):
    client = api_for(teacher)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/decks/import/", {"file": _csv(12)}, format="multipart")
    assert response.status_code == 202, response.json()
    url = response.json()["status_url"]
    assert url.startswith("http://testserver/api/v1/imports/")
    status = client.get(url).json()
    assert status["status"] == "done" and status["done"] == status["total"] == 12 and status["percent"] == 100
    deck = Deck.objects.get(pk=status["result"]["deck"])
    assert deck.owner == teacher and deck.cards.count() == 12
    # Someone else's import is not theirs to see.
    assert api_for(student).get(url).status_code == 404
    kept = Path(settings.MEDIA_ROOT) / ImportJob.objects.get().file
    assert kept.parent.name == "imports" and not kept.exists()  # the upload is removed once imported


def test_a_small_import_still_answers_201(teacher, api_for):
    response = api_for(teacher).post("/api/v1/decks/import/", {"file": _csv(3)}, format="multipart")
    assert response.status_code == 201


def test_a_failed_background_import_writes_nothing_and_says_why(
    teacher, api_for, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(teacher).post("/api/v1/decks/import/", {"file": _csv(12, bad=True)}, format="multipart")
    assert response.status_code == 202
    status = api_for(teacher).get(response.json()["status_url"]).json()
    assert status["status"] == "failed"
    assert status["error"]["details"]["rows"][0]["line"] == 13
    assert Card.objects.count() == 0 and Deck.objects.count() == 0 and MediaBlob.objects.count() == 0
    assert not any(p.is_file() for p in Path(settings.MEDIA_ROOT).rglob("*"))  # upload removed too


def test_an_unreadable_big_file_is_refused_at_once_not_queued(teacher, api_for):
    text = "".join(f"Term {i};Meaning {i}\n" for i in range(12)) + ";no front\n"
    upload = SimpleUploadedFile("big.csv", text.encode())
    response = api_for(teacher).post("/api/v1/decks/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400 and ImportJob.objects.count() == 0


def test_the_page_shows_a_progress_bar_then_the_result(
    teacher, outsider, client_for, tmp_path, django_capture_on_commit_callbacks
):
    def fill(col):
        for i in range(8):
            add(col, "Basic", {"Front": f'w{i} <img src="p.png">', "Back": f"m{i}"}, "A::B")

    built = build(tmp_path, fill, media={"p.png": PNG})
    client = client_for(teacher)
    upload = SimpleUploadedFile("big.apkg", built.path.read_bytes())
    response = client.post("/decks/import/", {"file": upload, "action": "import"})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    queued = client.get(response["Location"])
    assert b"<progress" in queued.content and b'hx-trigger="every 1s"' in queued.content
    with django_capture_on_commit_callbacks(execute=True):
        from learning.tasks import import_package

        import_package.delay(job.pk)
    partial = client.get(response["Location"], headers={"HX-Request": "true"})
    assert b'data-status="done"' in partial.content and b"Imported 8 cards" in partial.content
    assert b"hx-trigger" not in partial.content  # polling stops
    assert Deck.objects.get().title == "A › B"
    assert client_for(outsider).get(response["Location"]).status_code == 404


def test_a_redelivered_task_does_not_import_twice(teacher, api_for, django_capture_on_commit_callbacks):
    from learning.tasks import import_package

    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(teacher).post("/api/v1/decks/import/", {"file": _csv(12)}, format="multipart")
    assert import_package.delay(response.json()["id"]).get() is None
    assert Card.objects.count() == 12


# --- The sweep of imports whose worker died ---------------------------------------------------


def _orphaned_job(teacher, settings, *, hours: float) -> ImportJob:
    """A running job whose worker was killed `hours` ago: its upload still kept."""
    from datetime import timedelta

    from django.utils import timezone

    from learning import import_jobs

    job = import_jobs.import_job_create(user=teacher, filename="big.csv", data=_csv(12).read(), total=12)
    started = timezone.now() - timedelta(hours=hours)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, started_at=started)
    ImportJob.objects.filter(pk=job.pk).update(created_at=started)
    job.refresh_from_db()
    assert (Path(settings.MEDIA_ROOT) / job.file).exists()
    return job


def _stored_media(settings, name: str, *, hours_old: float) -> Path:
    import os
    import time

    path = Path(settings.MEDIA_ROOT) / "cards" / "media" / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG)
    stamp = time.time() - hours_old * 3600
    os.utime(path, (stamp, stamp))
    return path


def test_the_sweep_fails_a_stalled_import_and_removes_what_it_staged(teacher, api_for, client_for, settings):
    from learning import import_jobs

    settings.IMPORT_STALE_SECONDS = 1800
    job = _orphaned_job(teacher, settings, hours=1)
    orphan = _stored_media(settings, "ab" + "0" * 62 + ".png", hours_old=1)  # the killed import's, never committed
    kept = _stored_media(settings, "cd" + "1" * 62 + ".png", hours_old=1)
    MediaBlob.objects.create(sha256="cd" + "1" * 62, file="cards/media/cd/" + kept.name, kind="image", size=1)

    assert import_jobs.import_jobs_sweep() == 1

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and job.finished_at is not None
    assert not (Path(settings.MEDIA_ROOT) / job.file).exists()
    assert not orphan.exists() and kept.exists()
    status = api_for(teacher).get(f"/api/v1/imports/{job.pk}/").json()
    assert status["status"] == "failed" and status["error"]["code"] == "import_stalled"
    assert "no progress for 30 minutes" in status["error"]["message"]
    page = client_for(teacher).get(f"/imports/{job.pk}/")
    assert b'data-status="failed"' in page.content and b"no progress for 30 minutes" in page.content
    partial = client_for(teacher).get(f"/imports/{job.pk}/", headers={"HX-Request": "true"})
    assert b"no progress for 30 minutes" in partial.content and b"hx-trigger" not in partial.content
    assert import_jobs.import_jobs_sweep() == 0  # a failed job is not swept twice


def test_the_sweep_leaves_an_import_whose_progress_moved_and_the_files_it_may_own(teacher, settings):
    import time

    from django.core.cache import cache

    from learning import import_jobs

    settings.IMPORT_STALE_SECONDS = 1800
    job = _orphaned_job(teacher, settings, hours=2)
    cache.set(import_jobs.moved_key(job.pk), time.time() - 60)  # a thousand cards a minute ago
    # Older than the stale time but written after the live import started:
    # possibly its own, not yet in MediaBlob until it commits.
    fresh = _stored_media(settings, "ef" + "2" * 62 + ".png", hours_old=1)

    assert import_jobs.import_jobs_sweep() == 0

    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING and (Path(settings.MEDIA_ROOT) / job.file).exists()
    assert fresh.exists()


def test_a_worker_the_sweep_gave_up_on_commits_nothing(teacher, settings, monkeypatch):
    """The sweep failed the job while its worker was only slow: when the
    worker gets to the end, it rolls back instead of writing cards the user
    was told were not imported."""
    from learning import import_jobs

    job = import_jobs.import_job_create(user=teacher, filename="big.csv", data=_csv(12).read(), total=12)
    open_upload = import_jobs.default_storage.open

    def swept_while_reading(*args, **kwargs):  # the sweep, on its own connection, as the worker starts
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error={"code": "import_stalled"})
        return open_upload(*args, **kwargs)

    monkeypatch.setattr(import_jobs.default_storage, "open", swept_while_reading)
    assert import_jobs.import_job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and job.error["code"] == "import_stalled"
    assert Card.objects.count() == 0 and Deck.objects.count() == 0


def test_the_sweep_runs_from_beat_and_by_hand(settings):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="learning.tasks.sweep_import_jobs")
    assert task.enabled and task.interval.every == 5 and task.interval.period == "minutes"
    out = io.StringIO()
    call_command("sweep_import_jobs", stdout=out)
    assert "0 stalled import(s)" in out.getvalue()
