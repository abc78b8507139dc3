from __future__ import annotations

import base64
import io
import json
import sqlite3
import zipfile

import pytest
from django.core.files.base import ContentFile

from learning import transfer
from learning.models import Card, Deck
from lms.errors import TooLarge
from tests.factories import UserFactory

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_csv_with_header_semicolons_and_bad_lines():
    data = b"front;back;tags\nCell;Basic unit of life;cells\n;no front\nonly one column\nDNA;Genetic material\n"
    result = transfer.parse_csv(data)
    assert [(r.front, r.back, r.tags) for r in result.rows] == [
        ("Cell", "Basic unit of life", "cells"),
        ("DNA", "Genetic material", ""),
    ]
    assert [e["line"] for e in result.errors] == [3, 4]


def test_csv_tab_separated_and_quoted_commas():
    data = b'Mitochondria\t"Makes ATP, the cell\'s energy"\n'
    assert transfer.parse_csv(data).rows[0].back == "Makes ATP, the cell's energy"


def test_csv_that_is_not_utf8_is_refused():
    with pytest.raises(transfer.ImportFileError, match="UTF-8"):
        transfer.parse_csv("Zelle;Einheit\n".encode("utf-16"))


def test_json_list_and_object_forms():
    as_list = transfer.parse_json(json.dumps([{"front": "a", "back": "b", "tags": ["x", "y"]}]).encode())
    assert as_list.rows[0].tags == "x y"
    as_doc = transfer.parse_json(json.dumps({"deck": {"title": "T"}, "cards": [{"front": "a"}]}).encode())
    assert as_doc.title == "T"
    assert as_doc.rows == [] and as_doc.errors[0]["line"] == 1


def test_json_that_is_not_json_is_a_clear_error():
    with pytest.raises(transfer.ImportFileError, match="could not be read"):
        transfer.parse_json(b"{nope")


def test_unknown_format_and_empty_and_oversized_files():
    with pytest.raises(transfer.ImportFileError, match="Unknown import format"):
        transfer.parse_upload("deck.pdf", b"x")
    with pytest.raises(transfer.ImportFileError, match="empty"):
        transfer.parse_upload("deck.csv", b"")
    with pytest.raises(TooLarge):
        transfer.parse_upload("deck.csv", b"x" * (transfer.MAX_IMPORT_BYTES + 1))


def test_not_a_zip_is_not_an_anki_package():
    with pytest.raises(transfer.ImportFileError, match="not an Anki package"):
        transfer.parse_apkg(b"plain text")


def _apkg(notes: list[tuple[str, str]], media: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    db = sqlite3.connect(":memory:")
    db.executescript("CREATE TABLE notes (id INTEGER, flds TEXT, tags TEXT); CREATE TABLE col (decks TEXT);")
    db.execute("INSERT INTO col VALUES (?)", (json.dumps({"1": {"name": "Default"}, "2": {"name": "Bio"}}),))
    db.executemany("INSERT INTO notes VALUES (?, ?, ?)", [(i, f, t) for i, (f, t) in enumerate(notes)])
    db.commit()
    disk = io.BytesIO()
    for line in db.iterdump():
        disk.write(f"{line}\n".encode())
    db.close()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(disk.getvalue().decode())
        conn.close()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.write(path, "collection.anki2")
            archive.writestr("media", json.dumps({str(i): name for i, name in enumerate(media)}))
            for i, content in enumerate(media.values()):
                archive.writestr(str(i), content)
    return buffer.getvalue()


def test_anki_package_notes_media_and_deck_name():
    data = _apkg(
        [("Cell\x1fUnit of life", "bio "), ('<img src="leaf.png">\x1fLeaf [sound:leaf.mp3]', ""), ("lonely", "")],
        {"leaf.png": PNG, "leaf.mp3": b"ID3audio"},
    )
    result = transfer.parse_apkg(data)
    assert result.title == "Bio"
    assert [(r.front, r.back, r.tags) for r in result.rows] == [
        ("Cell", "Unit of life", "bio"),
        ("(picture)", "Leaf", ""),
    ]
    assert result.rows[1].image == ("leaf.png", PNG)
    assert result.rows[1].audio == ("leaf.mp3", b"ID3audio")
    assert result.errors == [{"line": 3, "message": "The note has a single field; two are needed (front and back)."}]


@pytest.fixture
def deck(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    owner = UserFactory(username="owner")
    deck = Deck.objects.create(title="Cells & more", owner=owner)
    Card.objects.create(deck=deck, front="<b>Cell</b>", back="Unit of life", tags="cells basics", position=1)
    card = Card.objects.create(deck=deck, front="Leaf", back="Green", position=2)
    card.image.save("leaf.png", ContentFile(PNG))
    return deck


@pytest.mark.parametrize("fmt", ["csv", "json", "apkg"])
def test_every_export_parses_back_to_the_same_cards(deck, fmt):
    content, content_type, filename = transfer.export_deck(deck, fmt)
    assert filename == f"cells-more.{fmt}"
    assert content_type == transfer.CONTENT_TYPES[fmt]
    result = transfer.parse_upload(filename, content)
    assert result.errors == []
    assert [(r.front, r.back) for r in result.rows] == [("<b>Cell</b>", "Unit of life"), ("Leaf", "Green")]
    assert result.rows[0].tags.split() == ["cells", "basics"]
    if fmt != "csv":
        assert result.rows[1].image[1] == PNG


# --- Import and export through pages and the API ----------------------------------------

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402

from tests.learning.content_world import World, world  # noqa: E402, F401


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
    assert deck.cards.exclude(image="").count() == 1


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
