"""A package's media are streamed to disk while they are hashed, never held
in memory: up to IMPORT_MAX_MEDIA_BYTES (1 GB) per package, in bounded memory,
and all or nothing (a failed import leaves no file, staged or stored)."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from learning import import_jobs, transfer
from learning.models import Card, Deck, MediaBlob
from lms.middleware import RequestSizeMiddleware
from tests.learning.anki_packages import PNG, add, build

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def staging_root(settings, tmp_path) -> Path:
    """Imports stage their media here (FILE_UPLOAD_TEMP_DIR) in these tests."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def _staged(root: Path) -> list[Path]:
    return list(root.glob(f"{transfer.STAGING_PREFIX}*"))


def _stored(media_root: Path) -> list[Path]:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def _pictures(count: int, size: int) -> dict[str, bytes]:
    """`count` distinct pictures of `size` bytes each: a PNG header, a number,
    zeros (so the package stays small while its media unpack to the full size)."""
    return {f"p{i}.png": (PNG + b"%05d" % i).ljust(size, b"\0") for i in range(count)}


def _package(tmp_path: Path, media: dict[str, bytes], name: str = "media.apkg") -> Path:
    def fill(col):
        for i, picture in enumerate(media):
            add(col, "Basic", {"Front": f'picture {i} <img src="{picture}">', "Back": f"answer {i}"})

    return build(tmp_path, fill, media=media, name=name).path


def test_60_mb_of_media_import_in_well_under_30_mb_of_memory(tmp_path, teacher, media_root, staging_root):
    media = _pictures(12, 5 * MB)
    path = _package(tmp_path, media)
    tracemalloc.start()
    try:
        with open(path, "rb") as upload:
            parsed = transfer.parse_upload("media.apkg", upload)
            _, cards = transfer.deck_import_new(user=teacher, parsed=parsed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(cards) == 12
    assert peak < 30 * MB, f"peak {peak / MB:.1f} MB for 60 MB of media"
    # Every file stored once, under its content's SHA-256, byte for byte.
    blobs = {blob.sha256: blob for blob in MediaBlob.objects.all()}
    assert len(blobs) == 12 and sum(blob.size for blob in blobs.values()) == 60 * MB
    for content in media.values():
        blob = blobs[hashlib.sha256(content).hexdigest()]
        assert (media_root / blob.file).read_bytes() == content
    assert len(_stored(media_root)) == 12
    assert _staged(staging_root) == []


def test_a_failure_halfway_through_storing_the_media_leaves_no_file(
    tmp_path, teacher, media_root, staging_root, monkeypatch
):
    path = _package(tmp_path, _pictures(6, 100_000))
    parsed = transfer.parse_upload("media.apkg", path.read_bytes())
    assert len(list(_staged(staging_root)[0].iterdir())) == 6  # unpacked to disk, not memory
    save = default_storage.save
    saved: list[str] = []

    def disk_full_at_the_fourth(name, content, *args, **kwargs):
        if len(saved) == 3:
            raise OSError(28, "No space left on device")
        saved.append(save(name, content, *args, **kwargs))
        return saved[-1]

    monkeypatch.setattr(default_storage, "save", disk_full_at_the_fourth)
    with pytest.raises(OSError):
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert len(saved) == 3  # three files were in storage when it failed
    assert _stored(media_root) == [] and _staged(staging_root) == []
    assert Deck.objects.count() == 0 and Card.objects.count() == 0 and MediaBlob.objects.count() == 0


def test_a_failure_after_the_media_were_stored_leaves_no_file(tmp_path, teacher, media_root, staging_root, monkeypatch):
    path = _package(tmp_path, _pictures(4, 100_000))
    parsed = transfer.parse_upload("media.apkg", path.read_bytes())

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(transfer, "_import_history", broken)  # the last step of the write
    with pytest.raises(RuntimeError):
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert _stored(media_root) == [] and _staged(staging_root) == []
    assert Deck.objects.count() == 0 and MediaBlob.objects.count() == 0


def test_media_past_the_package_allowance_stop_the_read_and_leave_nothing_staged(
    tmp_path, media_root, staging_root, settings
):
    settings.IMPORT_MAX_MEDIA_BYTES = 250_000
    path = _package(tmp_path, _pictures(4, 100_000))
    with pytest.raises(transfer.TooLarge, match="media unpack to more than"):
        transfer.parse_upload("media.apkg", path.read_bytes())
    assert _staged(staging_root) == [] and _stored(media_root) == []


def test_media_past_the_allowance_half_way_through_a_streamed_import_leave_nothing(
    tmp_path, teacher, media_root, staging_root, settings, monkeypatch
):
    # Streamed, the first rows' pictures are already stored (and their cards
    # sent) when a later picture passes the allowance: all of it goes again.
    settings.IMPORT_MAX_MEDIA_BYTES = 250_000
    monkeypatch.setattr(transfer, "_ROWS_CHUNK", 1)
    monkeypatch.setattr(transfer, "_STREAM_BATCH", 1)
    path = _package(tmp_path, _pictures(4, 100_000))
    parsed = transfer.parse_upload("media.apkg", path.read_bytes(), stream=True)
    with pytest.raises(transfer.TooLarge, match="media unpack to more than"):
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert _staged(staging_root) == [] and _stored(media_root) == []
    assert Deck.objects.count() == 0 and MediaBlob.objects.count() == 0 and Card.objects.count() == 0


def test_content_already_stored_reuses_its_file_and_drops_the_staged_copy(tmp_path, teacher, media_root, staging_root):
    media = _pictures(3, 50_000)
    media["copy.png"] = media["p0.png"]  # the same picture under two names in one package
    path = _package(tmp_path, media)
    parsed = transfer.parse_upload("media.apkg", path.read_bytes())
    assert len(list(_staged(staging_root)[0].iterdir())) == 3  # one staged file per content
    transfer.deck_import_new(user=teacher, parsed=parsed)
    stored = {p: p.stat().st_mtime_ns for p in _stored(media_root)}
    assert len(stored) == 3 and MediaBlob.objects.count() == 3

    again = transfer.parse_upload("media.apkg", path.read_bytes())
    _, cards = transfer.deck_import_new(user=teacher, parsed=again)
    assert len(cards) == 4 and MediaBlob.objects.count() == 3
    assert {p: p.stat().st_mtime_ns for p in _stored(media_root)} == stored  # no file written again
    assert _staged(staging_root) == []


def test_a_big_import_sent_to_the_background_keeps_no_staged_media(
    tmp_path, teacher, api_for, media_root, staging_root, settings
):
    settings.IMPORT_BACKGROUND_CARDS = 2
    path = _package(tmp_path, _pictures(3, 50_000))
    with open(path, "rb") as upload:
        response = api_for(teacher).post("/api/v1/decks/import/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    assert _staged(staging_root) == []  # the worker unpacks the package again


def test_the_sweep_removes_staging_left_by_a_killed_import_and_keeps_a_fresh_one(staging_root, media_root, settings):
    settings.IMPORT_STALE_SECONDS = 1800
    old = staging_root / f"{transfer.STAGING_PREFIX}killed"
    fresh = staging_root / f"{transfer.STAGING_PREFIX}running"
    other = staging_root / "someone-elses"
    for folder in (old, fresh, other):
        folder.mkdir()
        (folder / "0.media").write_bytes(PNG)
    hour_ago = time.time() - 3600
    for folder in (old, other):
        os.utime(folder, (hour_ago, hour_ago))

    import_jobs.import_jobs_sweep(now=timezone.now())

    assert not old.exists() and fresh.exists() and other.exists()
    import_jobs.import_jobs_sweep(now=timezone.now() + timedelta(hours=1))
    assert not fresh.exists() and other.exists()


def test_the_upload_cap_makes_room_for_a_package_with_all_its_media(settings):
    """By default an import may be as big as its media allowance plus the
    collection; still decided from the Content-Length, for import views only."""
    assert settings.IMPORT_MAX_UPLOAD_BYTES > settings.IMPORT_MAX_MEDIA_BYTES
    middleware = RequestSizeMiddleware(lambda request: HttpResponse("read"))
    factory = RequestFactory()

    def declared(path: str, length: int) -> int:
        request = factory.post(path, data=b"", content_type="application/octet-stream")
        request.META["CONTENT_LENGTH"] = str(length)
        return middleware(request).status_code

    package = settings.IMPORT_MAX_MEDIA_BYTES + 10 * MB
    assert declared("/api/v1/decks/import/", package) == 200
    assert declared(reverse("learning:deck_import_new"), package) == 200
    assert declared("/api/v1/decks/import/", settings.IMPORT_MAX_UPLOAD_BYTES + 1) == 413
    assert declared(reverse("learning:card_preview"), package) == 413


def _reversed_notes(tmp_path: Path, notes: int) -> Path:
    """`notes` Basic-and-reversed notes (two cards each), every tenth showing one picture."""

    def fill(col):
        for i in range(notes):
            picture = ' <img src="shared.png">' if i % 10 == 0 else ""
            add(col, "Basic (and reversed card)", {"Front": f"word {i}{picture}", "Back": f"meaning {i}"})

    return build(tmp_path, fill, media={"shared.png": PNG}, name="reversed.apkg").path


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's integers have 64 bits: it refuses no row here")
def test_a_database_failure_mid_stream_into_an_existing_deck_writes_nothing(
    tmp_path, teacher, media_root, staging_root, monkeypatch
):
    monkeypatch.setattr(transfer, "_STREAM_BATCH", 1000)
    # PostgreSQL writes cards a batch at a time while the next ones are
    # built: the 1,501st card's position is past a 4-byte integer and the
    # database refuses it, in the second batch, after the first (and its
    # media links) went in.
    deck = Deck.objects.create(title="Mine", owner=teacher)
    Card.objects.create(deck=deck, front="kept", back="kept", position=2**31 - 1 - 1500)
    parsed = transfer.parse_upload("reversed.apkg", _reversed_notes(tmp_path, 900).read_bytes())
    assert len(parsed.rows) == 1800
    with pytest.raises(psycopg.Error):
        transfer.deck_import(user=teacher, deck=deck, parsed=parsed)
    assert list(Card.objects.values_list("front", flat=True)) == ["kept"]
    assert MediaBlob.objects.count() == 0 and Card.media.through.objects.count() == 0
    assert _stored(media_root) == [] and _staged(staging_root) == []
    # The same package into a deck with room: every card, its links checked.
    Card.objects.update(position=1)
    parsed = transfer.parse_upload("reversed.apkg", _reversed_notes(tmp_path, 900).read_bytes())
    cards = transfer.deck_import(user=teacher, deck=deck, parsed=parsed)
    assert len(cards) == 1800 and deck.cards.count() == 1801
    assert sorted(deck.cards.values_list("position", flat=True)) == list(range(1, 1802))
    assert Card.media.through.objects.count() == 180 and len(_stored(media_root)) == 1
