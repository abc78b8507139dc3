# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
"""Damaged uploads are the uploader's 400, never our 500."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.learning.content_world import World, world  # noqa: F401


def _apkg() -> bytes:
    import tempfile
    from pathlib import Path

    import genanki

    deck = genanki.Deck(1, "Deck")
    deck.add_note(genanki.Note(model=genanki.BASIC_MODEL, fields=["front", "back"]))
    with tempfile.TemporaryDirectory() as tmp:
        genanki.Package(deck).write_to_file(f"{tmp}/deck.apkg")
        return Path(f"{tmp}/deck.apkg").read_bytes()


def _damaged_apkg() -> bytes:
    data = bytearray(_apkg())
    start = data.find(b"collection.anki2") + 60  # inside the collection's compressed bytes
    for i in range(start, start + 40):
        data[i] ^= 0xFF
    return bytes(data)


def test_a_damaged_anki_package_is_a_400_and_writes_nothing(world: World, teacher, api_for):
    before = world.deck.cards.count()
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/",
        {"file": SimpleUploadedFile("deck.apkg", _damaged_apkg(), content_type="application/zip")},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_import"
    assert "damaged" in response.json()["error"]["message"]
    assert world.deck.cards.count() == before


def test_an_oversized_import_is_refused_before_it_is_read(world: World, teacher, api_for, monkeypatch):
    from learning import transfer

    monkeypatch.setattr(transfer, "MAX_IMPORT_BYTES", 100)

    class Huge:
        size = 10**10  # what Django's upload handler measured while streaming it to disk

        def read(self, *args: object) -> bytes:
            raise AssertionError("an oversized upload must not be read into memory")

    with pytest.raises(transfer.TooLarge):
        transfer.read_upload(Huge())
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/",
        {"file": SimpleUploadedFile("deck.csv", b"front;back\n" * 50, content_type="text/csv")},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_package_is_read_from_the_uploads_temporary_file_which_is_removed_after(
    world: World, teacher, api_for, settings, monkeypatch
):
    """Past FILE_UPLOAD_MAX_MEMORY_SIZE Django streams the upload to disk; the
    package is parsed from that file (never copied whole into memory) and the
    file is gone once the request ends."""
    import os

    from learning import transfer

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100
    given = []
    parse = transfer.parse_apkg

    def spy(data, with_scheduling=False, **options):
        given.append(data)
        return parse(data, with_scheduling, **options)

    monkeypatch.setattr(transfer, "parse_apkg", spy)
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/",
        {"file": SimpleUploadedFile("deck.apkg", _apkg())},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    (handle,) = given
    assert not isinstance(handle, bytes) and os.path.isabs(handle.name)  # a file on disk
    assert not os.path.exists(handle.name)
