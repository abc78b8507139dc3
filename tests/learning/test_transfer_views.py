# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
"""Deck import and export through the pages and the API."""

from __future__ import annotations

import base64
import json

from django.core.files.uploadedfile import SimpleUploadedFile

from learning.models import Deck
from tests.learning.content_world import World, world  # noqa: F401

# --- Import and export through pages and the API ----------------------------------------


def _csv(text: str, name: str = "cards.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_teacher_imports_csv_into_a_lesson_deck_via_api(world: World, teacher, api_for):
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/",
        {"file": _csv("Golgi;Packages proteins;cells\nLysosome;<script>x</script>Digests waste\n")},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["imported"] == 2
    cards = list(world.deck.cards.order_by("position"))
    assert [c.front for c in cards][-2:] == ["Golgi", "Lysosome"]
    assert "<script>" not in cards[-1].back
    assert cards[-1].position > cards[-3].position


def test_a_file_with_a_bad_row_writes_nothing(world: World, teacher, api_for):
    before = world.deck.cards.count()
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/", {"file": _csv("Good;card\n;no front\n")}, format="multipart"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_import"
    assert error["details"]["rows"] == [{"line": 2, "message": "Both a front and a back are needed."}]
    assert world.deck.cards.count() == before


def test_skip_invalid_imports_the_readable_rows(world: World, teacher, api_for):
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/",
        {"file": _csv("Good;card\n;no front\n"), "skip_invalid": "true"},
        format="multipart",
    )
    assert response.status_code == 201
    assert response.json()["imported"] == 1
    assert response.json()["skipped"][0]["line"] == 2


def test_a_bad_image_inside_a_json_import_is_refused(world: World, teacher, api_for):
    doc = {
        "cards": [{"front": "a", "back": "b", "image": {"name": "x.png", "data": base64.b64encode(b"<html>").decode()}}]
    }
    response = api_for(teacher).post(
        f"/api/v1/decks/{world.deck.pk}/import/",
        {"file": SimpleUploadedFile("d.json", json.dumps(doc).encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert "image" in response.json()["error"]["details"]["rows"][0]["message"]


def test_student_cannot_import_into_a_class_deck_but_can_export_it(world: World, student, api_for):
    client = api_for(student)
    refused = client.post(f"/api/v1/decks/{world.deck.pk}/import/", {"file": _csv("a;b\n")}, format="multipart")
    assert refused.status_code == 403
    exported = client.get(f"/api/v1/decks/{world.deck.pk}/export/?format=json")
    assert exported.status_code == 200
    assert json.loads(exported.content)["deck"]["title"] == "Organelle deck"


def test_outsider_cannot_export_or_import_hidden_decks(world: World, outsider, api_for):
    client = api_for(outsider)
    assert client.get(f"/api/v1/decks/{world.deck.pk}/export/").status_code == 404
    assert (
        client.post(
            f"/api/v1/decks/{world.personal.pk}/import/", {"file": _csv("a;b\n")}, format="multipart"
        ).status_code
        == 404
    )


def test_unknown_export_format_is_a_400(world: World, teacher, api_for):
    response = api_for(teacher).get(f"/api/v1/decks/{world.deck.pk}/export/?format=pdf")
    assert response.status_code == 400
    assert "format" in response.json()["error"]["details"]


def test_import_a_new_personal_deck_from_an_export(world: World, student, api_for):
    client = api_for(student)
    apkg = client.get(f"/api/v1/decks/{world.deck.pk}/export/?format=apkg").content
    response = client.post(
        "/api/v1/decks/import/", {"file": SimpleUploadedFile("organelles.apkg", apkg)}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    deck = Deck.objects.get(pk=response.json()["deck"])
    assert deck.owner == student and deck.lesson is None
    assert deck.title == "Organelle deck"
    assert deck.cards.count() == world.deck.cards.count()
    # The picture now lives in the card's text, stored once by content hash.
    assert deck.cards.filter(front__contains='<img src="/media/cards/media/').count() == 1
    assert deck.cards.filter(media__kind="image").count() == 1


def test_student_cannot_import_a_deck_into_a_lesson(world: World, student, api_for):
    response = api_for(student).post(
        "/api/v1/decks/import/", {"file": _csv("a;b\n"), "lesson": world.lesson.pk}, format="multipart"
    )
    assert response.status_code == 403
    assert not Deck.objects.filter(owner=student, lesson=world.lesson).exists()


def test_import_page_previews_then_imports(world: World, teacher, client_for):
    client = client_for(teacher)
    url = f"/decks/{world.deck.pk}/import/"
    assert client.get(url).status_code == 200
    preview = client.post(url, {"file": _csv("Golgi;Packages\nbad line\n"), "action": "preview"})
    assert preview.status_code == 200
    assert b"1 card ready" in preview.content and b"1 row unreadable" in preview.content
    assert world.deck.cards.count() == 2
    refused = client.post(url, {"file": _csv("Golgi;Packages\nbad line\n"), "action": "import"})
    assert refused.status_code == 400
    assert world.deck.cards.count() == 2
    done = client.post(url, {"file": _csv("Golgi;Packages\nbad line\n"), "action": "import", "skip_invalid": "on"})
    assert done.status_code == 302
    assert world.deck.cards.count() == 3
    assert "Imported 1 card into" in client.get(done["Location"]).content.decode()  # not "1 cards"


def test_export_download_from_the_deck_page(world: World, student, client_for):
    response = client_for(student).get(f"/decks/{world.deck.pk}/export/?format=csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="organelle-deck.csv"'
    assert b"Nucleus,Holds DNA,cells" in response.content


def test_new_deck_import_page_in_a_lesson(world: World, teacher, rival_teacher, client_for):
    url = f"/lessons/{world.lesson.pk}/decks/import/"
    assert client_for(rival_teacher).get(url).status_code == 404
    response = client_for(teacher).post(url, {"file": _csv("a;b\nc;d\n", "Vocab.csv"), "action": "import"})
    assert response.status_code == 302
    deck = Deck.objects.get(lesson=world.lesson, title="Vocab")
    assert deck.cards.count() == 2


def test_a_file_over_the_note_limit_is_refused_cleanly_by_the_api_and_the_page(
    world: World, teacher, api_for, client_for, settings
):
    settings.IMPORT_MAX_NOTES = 5000
    text = "\n".join(f"Term {i};Meaning {i}" for i in range(5001))
    before = world.deck.cards.count()
    response = api_for(teacher).post(f"/api/v1/decks/{world.deck.pk}/import/", {"file": _csv(text)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_import"
    assert "At most 5000 notes" in response.json()["error"]["message"]
    page = client_for(teacher).post(f"/decks/{world.deck.pk}/import/", {"file": _csv(text), "action": "import"})
    assert page.status_code == 400 and b"At most 5000 notes" in page.content
    assert world.deck.cards.count() == before


def test_a_windows_csv_with_a_bom_imports_through_the_api(world: World, teacher, api_for):
    data = "\ufefffront,back\r\nGolgi,Packages proteins\r\nLysosome,Digests waste\r\n".encode()
    upload = SimpleUploadedFile("excel.csv", data, content_type="text/csv")
    response = api_for(teacher).post(f"/api/v1/decks/{world.deck.pk}/import/", {"file": upload}, format="multipart")
    assert response.status_code == 201 and response.json()["imported"] == 2
    assert list(world.deck.cards.order_by("-position").values_list("front", "back")[:2]) == [
        ("Lysosome", "Digests waste"),
        ("Golgi", "Packages proteins"),
    ]
