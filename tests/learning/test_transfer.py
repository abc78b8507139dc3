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
        transfer.parse_csv("Zelle;Einheit für alles\n".encode("cp1252"))


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


# --- Edge cases found in review ----------------------------------------------------------


def test_csv_with_a_bom_and_windows_line_endings():
    data = '\ufefffront,back,tags\r\nCell,"Unit,\r\nof life",bio\r\nDNA,Genes\r\n'.encode()
    result = transfer.parse_upload("cards.csv", data)
    assert result.errors == []
    assert [(r.front, r.back, r.tags, r.line) for r in result.rows] == [
        ("Cell", "Unit,\nof life", "bio", 2),
        ("DNA", "Genes", "", 4),  # the line it is on, after the two-line cell
    ]


def test_csv_header_after_blank_lines_is_still_a_header():
    result = transfer.parse_csv(b"\r\n\r\nfront;back\r\na;b\r\n")
    assert [(r.front, r.back) for r in result.rows] == [("a", "b")]


def test_html_entities_do_not_make_semicolon_the_csv_delimiter():
    result = transfer.parse_csv(b'Salt &amp; pepper,Condiments\nx &lt; y,"x is less; than y"\n')
    assert result.errors == []
    assert [(r.front, r.back) for r in result.rows] == [
        ("Salt &amp; pepper", "Condiments"),
        ("x &lt; y", "x is less; than y"),
    ]


def test_excel_unicode_text_utf16_with_tabs_is_read():
    data = "front\tback\r\nZelle\tEinheit des Lebens\r\n".encode("utf-16")
    assert [(r.front, r.back) for r in transfer.parse_upload("cards.txt", data).rows] == [
        ("Zelle", "Einheit des Lebens")
    ]


def test_a_5001_card_file_is_refused_before_anything_is_written():
    data = "\n".join(f"q{i},a{i}" for i in range(transfer.MAX_IMPORT_CARDS + 1)).encode()
    with pytest.raises(transfer.ImportFileError, match="At most 5000 cards") as exc:
        transfer.parse_upload("big.csv", data)
    assert exc.value.status == 400
    exactly = "\n".join(f"q{i},a{i}" for i in range(transfer.MAX_IMPORT_CARDS)).encode()
    assert len(transfer.parse_upload("ok.csv", exactly).rows) == transfer.MAX_IMPORT_CARDS


def test_a_zip_bomb_is_refused_from_its_headers(monkeypatch):
    monkeypatch.setattr(transfer, "MAX_UNPACKED_BYTES", 1000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("collection.anki2", b"\0" * 5000)  # compresses to a few bytes
    assert len(out.getvalue()) < 1000
    with pytest.raises(TooLarge, match="unpacks"):
        transfer.parse_upload("bomb.apkg", out.getvalue())


def test_genanki_export_reimported_keeps_images_and_audio(deck):
    from django.core.files.base import ContentFile

    from learning.demo_audio import tone_wav

    leaf = deck.cards.get(front="Leaf")
    leaf.audio.save("leaf.wav", ContentFile(tone_wav("leaf")))
    content, _, filename = transfer.export_deck(deck, "apkg")
    parsed = transfer.parse_upload(filename, content)
    copy, cards = transfer.deck_import_new(user=deck.owner, parsed=parsed)
    assert copy.title == "Cells & more" and len(cards) == 2
    imported = copy.cards.get(front="Leaf")
    assert imported.back == "Green"  # the [sound:…] reference is gone from the text
    assert imported.image.read() == PNG
    assert imported.audio.read() == tone_wav("leaf")
    assert not copy.cards.get(front="<b>Cell</b>").image


def test_csv_export_defuses_spreadsheet_formulas_and_import_restores_the_text(deck):
    Card.objects.create(deck=deck, front='=HYPERLINK("http://x")', back="-1 squared", position=3)
    content, _, _ = transfer.export_deck(deck, "csv")
    text = content.decode()
    assert "'=HYPERLINK" in text and "'-1 squared" in text
    rows = transfer.parse_upload("deck.csv", content).rows
    assert (rows[-1].front, rows[-1].back) == ('=HYPERLINK("http://x")', "-1 squared")
    # A leading apostrophe typed on purpose, before ordinary text, is kept.
    assert transfer.parse_csv(b"'tis,it is\n").rows[0].front == "'tis"
