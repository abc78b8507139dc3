# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
"""Damaged uploads are the uploader's 400, never our 500."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.learning.content_world import World, world  # noqa: F401
from tests.learning.test_transfer import _apkg


def _damaged_apkg() -> bytes:
    data = bytearray(_apkg([("front", "back")], {}))
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
