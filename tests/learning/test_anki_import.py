"""Anki packages made by the official Anki library, imported as Anki shows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from learning import transfer
from learning.anki.render import NoteType, render_note
from learning.models import Card, Deck, MediaBlob
from learning.services import deck_delete
from tests.learning.anki_packages import MP3, PNG, PNG_2, TEACHER_MEDIA, add, build, teacher_collection

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("anki")
    return {
        "modern": build(folder, teacher_collection, media=TEACHER_MEDIA, name="modern.apkg"),
        "legacy": build(folder, teacher_collection, media=TEACHER_MEDIA, legacy=True, name="legacy.apkg"),
    }


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def _import(api_for, user, path: Path):
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    return api_for(user).post("/api/v1/decks/import/", {"file": upload}, format="multipart")


@pytest.mark.parametrize("layout", ["modern", "legacy"])
def test_a_teachers_package_imports_with_the_cards_anki_shows(layout, packages, teacher, api_for, media_root):
    built = packages[layout]
    response = _import(api_for, teacher, built.path)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["imported"] == built.card_count == 13  # basic 1+1, reversed 2, optional 1+2, type 1, cloze 2, vocab 2+1
    decks = Deck.objects.filter(pk__in=body["decks"]).order_by("title")
    assert [d.title for d in decks] == ["Languages › French › Verbs", "Languages › German"]
    cards = Card.objects.filter(deck__in=decks)

    dog = cards.get(front__startswith="dog ")
    assert '<span style="color:rgb(255, 0, 0)">chien</span>' in dog.back  # the colour survives sanitising
    assert dog.tags == "animals::pets"
    assert list(Card.objects.filter(deck__in=decks).tagged("animals").values_list("pk", flat=True)) == [dog.pk]
    assert '<audio controls="" src="/media/cards/media/' in dog.back
    assert {b.kind for b in dog.media.all()} == {"image", "audio"}

    # Basic (and reversed): both directions. Optional reversed: only when asked.
    assert set(cards.filter(front__in=["manger", "to eat"]).values_list("front", "back")) == {
        ("manger", "to eat"),
        ("to eat", "manger"),
    }
    assert list(cards.filter(front__in=["boire", "to drink"]).values_list("front", flat=True)) == ["boire"]
    assert cards.filter(front__in=["voir", "to see"]).count() == 2
    # Type in the answer: the expected answer is the back.
    assert cards.get(front="être (je)").back == "suis"

    # Cloze: one card per number, the hint shown, the answer highlighted.
    clozes = list(cards.filter(front__contains="capital").order_by("position"))
    assert len(clozes) == 2
    assert "[...]" in clozes[0].front and "France" in clozes[0].front
    assert "[country]" in clozes[1].front and "Paris" in clozes[1].front
    assert '<span style="font-weight:bold;color:#0a58ca">Paris</span>' in clozes[0].back
    assert clozes[0].tags == "geo::europe"

    # Custom note type: the conditional template only where Example is set.
    assert cards.get(front="le chat").back == "the cat<br><i>Le chat dort.</i>"
    assert cards.get(front="the cat").back == "le chat"
    assert not cards.filter(front="the dog").exists()

    # Every picture of a note (spaces, accents) is kept; the dog
    # photo shown by two notes is stored once.
    cat = cards.get(front__startswith="cat ")
    assert cat.front.count('<img src="/media/cards/media/') == 2
    assert sorted(b.size for b in cat.media.all()) == sorted([len(PNG), len(PNG_2)])
    blobs = MediaBlob.objects.all()
    assert blobs.count() == 3
    for blob in blobs:
        assert (media_root / blob.file).read_bytes() in (PNG, PNG_2, MP3)


def test_the_placeholder_collection_never_shadows_the_modern_one(packages):
    parsed = transfer.parse_upload("modern.apkg", packages["modern"].path.read_bytes())
    assert parsed.errors == []
    assert not any("update" in row.front.lower() for row in parsed.rows)
    assert len(parsed.rows) == 13


def test_importing_into_an_existing_deck_puts_every_subdeck_there(packages, teacher, api_for, media_root):
    deck = Deck.objects.create(title="Mine", owner=teacher)
    upload = SimpleUploadedFile("legacy.apkg", packages["legacy"].path.read_bytes())
    response = api_for(teacher).post(f"/api/v1/decks/{deck.pk}/import/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    assert deck.cards.count() == 13


def test_fifty_notes_showing_one_picture_share_one_file_and_deletion_keeps_it_while_used(
    tmp_path, teacher, media_root, django_capture_on_commit_callbacks
):
    def fill(col):
        for i in range(50):
            add(col, "Basic", {"Front": f'word {i} <img src="big.png">', "Back": f"meaning {i}"})

    big = PNG + b"\0" * 200_000
    built = build(tmp_path, fill, media={"big.png": big})
    first, cards = transfer.deck_import_new(
        user=teacher, parsed=transfer.parse_upload("a.apkg", built.path.read_bytes())
    )
    second, _ = transfer.deck_import_new(user=teacher, parsed=transfer.parse_upload("a.apkg", built.path.read_bytes()))
    assert len(cards) == 50
    files = [p for p in media_root.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == big
    blob = MediaBlob.objects.get()
    assert blob.cards.count() == 100

    with django_capture_on_commit_callbacks(execute=True):
        deck_delete(deck=first)
    assert files[0].exists() and MediaBlob.objects.count() == 1  # the second deck still shows it
    with django_capture_on_commit_callbacks(execute=True):
        deck_delete(deck=second)
    assert MediaBlob.objects.count() == 0 and not files[0].exists()


def test_genanki_package_still_imports(tmp_path, teacher, media_root):
    import genanki

    model = genanki.Model(
        1607392319,
        "Simple Model",
        fields=[{"name": "Question"}, {"name": "Answer"}],
        templates=[{"name": "Card 1", "qfmt": "{{Question}}", "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}"}],
    )
    deck = genanki.Deck(2059400110, "Bio::Cells")
    deck.add_note(genanki.Note(model=model, fields=["Cell", "Unit of life"], tags=["bio::cells"]))
    deck.add_note(genanki.Note(model=model, fields=['Leaf <img src="leaf%20one.png">', "Green"]))
    (tmp_path / "leaf one.png").write_bytes(PNG)
    out = tmp_path / "g.apkg"
    genanki.Package(deck, media_files=[str(tmp_path / "leaf one.png")]).write_to_file(str(out))
    parsed = transfer.parse_upload("g.apkg", out.read_bytes())
    first = parsed.rows[0]
    assert (first.front, first.back, first.tags, first.deck_path) == (
        "Cell",
        "Unit of life",
        "bio::cells",
        ("Bio", "Cells"),
    )
    ((name, staged),) = parsed.rows[1].media.items()
    assert name == "leaf%20one.png" and staged.path.read_bytes() == PNG  # a %20-escaped name finds its file
    assert parsed.title == "Bio › Cells"


# --- the template language on its own ----------------------------------------------


def test_nested_cloze_and_unclosed_markup():
    cloze = NoteType(
        "Cloze", ("Text", "Back Extra"), (("Cloze", "{{cloze:Text}}", "{{cloze:Text}}<br>{{Back Extra}}"),), True
    )
    cards = render_note(cloze, ["{{c1::outer {{c2::inner}} end}} and {{c3::broken", "extra"])
    assert [c.ord for c in cards] == [0, 1]
    assert "[...]" in cards[0].front and "inner" not in cards[0].front
    assert "outer" in cards[1].front and "[...]" in cards[1].front
    assert cards[0].back.endswith("<br>extra")


def test_a_front_that_renders_empty_makes_no_card():
    basic = NoteType("Basic", ("Front", "Back"), (("Card 1", "{{Front}}", "{{Back}}"),))
    assert render_note(basic, ["", "answer"]) == []
    assert render_note(basic, ["<br>&nbsp;", "answer"]) == []
    assert render_note(basic, ['<img src="a.png">', "answer"])[0].front == '<img src="a.png">'


def test_text_filter_and_inverted_sections():
    nt = NoteType("T", ("A", "B"), (("c", "{{text:A}}{{^B}} (no B){{/B}}", "{{A}}"),))
    assert render_note(nt, ["<b>x</b>", ""])[0].front == "x (no B)"
    assert render_note(nt, ["<b>x</b>", "b"])[0].front == "x"


# --- Anki's "Notes in Plain Text" ------------------------------------------------------


def _plain_text(tmp_path, **options) -> bytes:
    import os

    from anki.collection import Collection
    from anki.import_export_pb2 import ExportLimit

    col = Collection(os.fspath(tmp_path / "c.anki2"))
    try:
        add(col, "Basic", {"Front": 'a <b>bold</b>, "quoted"', "Back": "two\nlines"}, "Lang::Fr", ["x::y", "z"])
        add(col, "Cloze", {"Text": "{{c1::Paris}} and {{c2::Rome::city}}", "Back Extra": ""}, "Lang::It")
        out = tmp_path / "notes.txt"
        col.export_note_csv(out_path=os.fspath(out), limit=ExportLimit(), with_tags=True, **options)
        return out.read_bytes()
    finally:
        col.close()


def test_plain_text_with_every_header_column(tmp_path, teacher, media_root):
    data = _plain_text(tmp_path, with_html=True, with_deck=True, with_notetype=True, with_guid=True)
    assert data.startswith(b"#separator:tab\n#html:true\n")
    parsed = transfer.parse_upload("notes.txt", data)
    assert parsed.errors == []
    rows = [(r.front, r.back, r.tags, r.deck_path, r.line) for r in parsed.rows]
    assert rows[0] == ('a <b>bold</b>, "quoted"', "two\nlines", "x::y z", ("Lang", "Fr"), 7)
    assert [(r.deck_path, "[city]" in r.front) for r in parsed.rows[1:]] == [
        (("Lang", "It"), False),
        (("Lang", "It"), True),
    ]
    _, cards = transfer.deck_import_new(user=teacher, parsed=parsed)
    assert sorted(Deck.objects.values_list("title", flat=True)) == ["Lang › Fr", "Lang › It"]
    assert len(cards) == 3


def test_plain_text_without_html_is_escaped_not_lost(tmp_path):
    data = _plain_text(tmp_path, with_html=False, with_deck=False, with_notetype=False, with_guid=False)
    assert b"#html:false" in data
    parsed = transfer.parse_upload("notes.txt", data)
    assert parsed.rows[0].tags == "x::y z"
    assert parsed.rows[0].front == "a bold, &quot;quoted&quot;"  # Anki stripped the tags itself
    assert (
        transfer.parse_csv(b"#separator:Semicolon\n#html:false\n<b>x</b>;y\n").rows[0].front == "&lt;b&gt;x&lt;/b&gt;"
    )


def test_an_unknown_separator_is_a_clear_400():
    with pytest.raises(transfer.ImportFileError, match="not a separator"):
        transfer.parse_csv(b"#separator:weird\na\tb\n")


def test_import_queries_do_not_grow_with_the_notes(tmp_path, teacher, media_root):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def package(n: int) -> bytes:
        def fill(col):
            for i in range(n):
                picture = f' <img src="p{i % 2}.png">'
                add(col, "Basic (and reversed card)", {"Front": f"w{i}{picture}", "Back": f"m{i}"}, "A::B", ["t::x"])

        media = {"p0.png": PNG + bytes([n]), "p1.png": PNG_2 + bytes([n])}  # new files each time
        return build(tmp_path, fill, media=media, name=f"{n}.apkg").path.read_bytes()

    counts = []
    # A first import warms the caches other code reads on the way (the
    # running experiments, for the tracking event), so it is not counted.
    for n in (3, 5, 60):
        parsed = transfer.parse_upload("p.apkg", package(n))
        with CaptureQueriesContext(connection) as queries:
            _, cards = transfer.deck_import_new(user=teacher, parsed=parsed)
        assert len(cards) == 2 * n
        counts.append(len(queries))
    # savepoints, the deck (and its siblings' position), existing media by
    # hash, new media, deck lock, last positions, the card INSERTs (one per
    # thousand), the media links, the history (none here), the tracking event
    assert counts[1] == counts[2] <= 20, counts
