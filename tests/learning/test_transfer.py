from __future__ import annotations

import base64
import json
from pathlib import Path

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
    assert (result.rows[0].front, result.rows[0].back) == ("<b>Cell</b>", "Unit of life")
    assert result.rows[0].tags.split() == ["cells", "basics"]
    if fmt == "json":
        assert result.rows[1].image[1] == PNG
    if fmt == "apkg":  # the picture travels as Anki has it: in the note's text
        assert result.rows[1].front.startswith("Leaf<br><img src=")
        assert [staged.path.read_bytes() for staged in result.rows[1].media.values()] == [PNG]
    else:
        assert (result.rows[1].front, result.rows[1].back) == ("Leaf", "Green")


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


def test_a_file_over_the_note_limit_is_refused_before_anything_is_written(settings):
    settings.IMPORT_MAX_NOTES = 50
    data = "\n".join(f"q{i},a{i}" for i in range(51)).encode()
    with pytest.raises(transfer.ImportFileError, match="At most 50 notes") as exc:
        transfer.parse_upload("big.csv", data)
    assert exc.value.status == 400
    exactly = "\n".join(f"q{i},a{i}" for i in range(50)).encode()
    assert len(transfer.parse_upload("ok.csv", exactly).rows) == 50
    assert Card.objects.count() == 0


def test_genanki_export_reimported_keeps_images_and_audio(deck, settings):
    from django.core.files.base import ContentFile

    from learning.demo_audio import tone_wav

    leaf = deck.cards.get(front="Leaf")
    leaf.audio.save("leaf.wav", ContentFile(tone_wav("leaf")))
    content, _, filename = transfer.export_deck(deck, "apkg")
    parsed = transfer.parse_upload(filename, content)
    copy, cards = transfer.deck_import_new(user=deck.owner, parsed=parsed)
    assert copy.title == "Cells & more" and len(cards) == 2
    imported = copy.cards.get(front__startswith="Leaf")
    # Picture and sound are embedded where Anki had them, stored once by content.
    assert '<img src="/media/cards/media/' in imported.front
    assert '<audio controls="" src="/media/cards/media/' in imported.back
    stored = {blob.kind: blob for blob in imported.media.all()}
    assert (Path(settings.MEDIA_ROOT) / stored["image"].file).read_bytes() == PNG
    assert (Path(settings.MEDIA_ROOT) / stored["audio"].file).read_bytes() == tone_wav("leaf")
    assert not copy.cards.get(front="<b>Cell</b>").media.exists()


def test_csv_export_defuses_spreadsheet_formulas_and_import_restores_the_text(deck):
    Card.objects.create(deck=deck, front='=HYPERLINK("http://x")', back="-1 squared", position=3)
    content, _, _ = transfer.export_deck(deck, "csv")
    text = content.decode()
    assert "'=HYPERLINK" in text and "'-1 squared" in text
    rows = transfer.parse_upload("deck.csv", content).rows
    assert (rows[-1].front, rows[-1].back) == ('=HYPERLINK("http://x")', "-1 squared")
    # A leading apostrophe typed on purpose, before ordinary text, is kept.
    assert transfer.parse_csv(b"'tis,it is\n").rows[0].front == "'tis"
