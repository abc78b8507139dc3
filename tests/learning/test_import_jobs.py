"""Big imports run in the background: 202 + status URL, a progress page, all or nothing."""

from __future__ import annotations

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
