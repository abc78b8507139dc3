"""A package streamed into the database (`parse_upload(..., stream=True)`, as
the background import reads it): its notes are rendered while the first
cards are written, and the result is exactly the result of reading the whole
package first — the same cards, decks, media, positions and problems, all or
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from learning import import_jobs, transfer
from learning.anki.package import CollectionReader
from learning.models import Card, Deck, MediaBlob
from tests.learning.anki_packages import MP3, PNG, TEACHER_MEDIA, add, build, rewrite, teacher_collection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def _imported(user, data: bytes, *, stream: bool, **options) -> list[tuple]:
    parsed = transfer.parse_upload("deck.apkg", data, stream=stream)
    transfer.deck_import_new(user=user, parsed=parsed, **options)
    rows = Card.objects.filter(deck__owner=user).select_related("deck")
    return sorted(
        (
            card.deck.title,
            card.position,
            card.front,
            card.back,
            card.tags,
            tuple(card.media.values_list("sha256", flat=True)),
        )
        for card in rows.prefetch_related("media")
    )


def test_a_streamed_import_writes_what_reading_the_package_first_writes(tmp_path, teacher, django_user_model):
    data = build(tmp_path, teacher_collection, media=TEACHER_MEDIA).path.read_bytes()
    eager = _imported(teacher, data, stream=False)
    other = django_user_model.objects.create_user("t2", password="pass-12345678", role="teacher")
    streamed = _imported(other, data, stream=True)
    assert streamed == eager
    assert {title for title, *_ in streamed} == {"Languages › French › Verbs", "Languages › German"}
    assert MediaBlob.objects.count() == 3  # each picture and sound stored once, for both imports


def test_the_first_cards_are_written_before_the_last_notes_are_rendered(tmp_path, teacher, monkeypatch):
    def fill(col):
        for i in range(60):
            add(col, "Basic (and reversed card)", {"Front": f"word {i}", "Back": f"meaning {i}"})

    data = build(tmp_path, fill).path.read_bytes()
    events: list[str] = []
    cards = CollectionReader.cards

    def rendering(self):
        for card in cards(self):
            events.append("rendered")
            yield card

    monkeypatch.setattr(CollectionReader, "cards", rendering)
    monkeypatch.setattr(transfer, "_STREAM_BATCH", 20)
    monkeypatch.setattr(transfer, "_ROWS_CHUNK", 10)
    for writer in (transfer._CardStream, transfer._CardInserts):
        send = writer.send
        monkeypatch.setattr(
            writer, "send", lambda self, batch, send=send: events.append("written") or send(self, batch)
        )

    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    assert events == [] and parsed.deck_paths == [("Default",)]  # nothing rendered yet
    _, written = transfer.deck_import_new(user=teacher, parsed=parsed)
    assert len(written) == 120 and events.count("written") == 6
    assert events.index("written") < len(events) - 1 - events[::-1].index("rendered")
    assert parsed._rows == []  # the rows went by; none is kept


def test_a_broken_note_half_way_refuses_a_streamed_import_and_writes_nothing(tmp_path, teacher, monkeypatch):
    def fill(col):
        for i in range(50):
            add(col, "Basic", {"Front": f"q{i}", "Back": f"a{i}"}, "Deck A" if i < 25 else "Deck B")

    package = build(tmp_path, fill, legacy=True).path
    data = rewrite(
        package, lambda conn: conn.execute("UPDATE notes SET mid = 1 WHERE id = (SELECT max(id) FROM notes)")
    )
    monkeypatch.setattr(transfer, "_STREAM_BATCH", 10)
    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    with pytest.raises(transfer.ImportFileError) as refused:
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert "1 note(s) or row(s) could not be read" in refused.value.message
    assert [row["line"] for row in refused.value.details["rows"]] == [50]
    assert not Deck.objects.filter(owner=teacher).exists() and not Card.objects.exists()

    # Asked to skip it: every other card, and the one skipped listed with its reason.
    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    _, cards = transfer.deck_import_new(user=teacher, parsed=parsed, skip_invalid=True)
    assert len(cards) == 49 and [e["line"] for e in parsed.errors] == [50]
    assert sorted(Deck.objects.filter(owner=teacher).values_list("title", flat=True)) == ["Deck A", "Deck B"]


def test_a_subdeck_whose_every_note_is_refused_is_not_left_behind(tmp_path, teacher):
    def fill(col):
        add(col, "Basic", {"Front": "kept", "Back": "fine"}, "Good")
        add(col, "Basic", {"Front": "x" * (transfer.MAX_TEXT + 1), "Back": "too long"}, "Bad")

    data = build(tmp_path, fill).path.read_bytes()
    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    assert parsed.deck_paths == [("Good",), ("Bad",)]  # both created up front …
    deck, cards = transfer.deck_import_new(user=teacher, parsed=parsed, skip_invalid=True)
    assert [d.title for d in Deck.objects.filter(owner=teacher)] == ["Good"]  # … the empty one removed
    assert deck.title == "Good" and len(cards) == 1
    assert parsed.errors[0]["message"].endswith(f"a side is longer than {transfer.MAX_TEXT} characters.")


def test_a_file_that_is_not_a_picture_refuses_its_note_in_a_streamed_import(tmp_path, teacher):
    def fill(col):
        add(col, "Basic", {"Front": 'fake <img src="fake.png">', "Back": "x"})
        add(col, "Basic", {"Front": 'real <img src="real.png">', "Back": "y [sound:s.mp3]"})

    data = build(
        tmp_path, fill, media={"fake.png": b"MZ not a picture", "real.png": PNG, "s.mp3": MP3}
    ).path.read_bytes()
    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    with pytest.raises(transfer.ImportFileError):
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert not Card.objects.exists() and not MediaBlob.objects.exists()
    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    transfer.deck_import_new(user=teacher, parsed=parsed, skip_invalid=True)
    assert [c.front[:4] for c in Card.objects.all()] == ["real"] and MediaBlob.objects.count() == 2
    assert parsed.errors == [{"line": 1, "message": "fake.png is not an allowed picture or sound."}]


def test_a_database_failure_while_media_are_stored_ends_the_import_cleanly(tmp_path, teacher, monkeypatch, media_root):
    def fill(col):
        for i in range(30):
            add(
                col, "Basic", {"Front": f'q{i} <img src="p{i // 10}.png">', "Back": "a"}
            )  # a new picture every 10 notes

    data = build(tmp_path, fill, media={f"p{i}.png": PNG + bytes([i]) for i in range(3)}).path.read_bytes()
    monkeypatch.setattr(transfer, "_ROWS_CHUNK", 10)
    insert = transfer._BlobSQL.insert
    calls = []

    def failing(self, cursor, blobs):
        calls.append(len(blobs))
        if len(calls) == 2:
            cursor.execute("SELECT * FROM no_such_table")  # a database error, in the writer's thread
        return insert(self, cursor, blobs)

    monkeypatch.setattr(transfer._BlobSQL, "insert", failing)
    monkeypatch.setattr(transfer, "_STREAM_BATCH", 5)
    parsed = transfer.parse_upload("deck.apkg", data, stream=True)
    with pytest.raises(Exception, match="no_such_table"):
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert not Card.objects.exists() and not MediaBlob.objects.exists() and not Deck.objects.exists()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_the_background_import_streams_the_package(tmp_path, teacher, settings, monkeypatch):
    streamed = []
    parse = transfer.parse_upload
    monkeypatch.setattr(transfer, "parse_upload", lambda *a, **k: streamed.append(k.get("stream")) or parse(*a, **k))
    data = build(tmp_path, teacher_collection, media=TEACHER_MEDIA).path.read_bytes()
    job = import_jobs.import_job_create(user=teacher, filename="deck.apkg", data=data, total=11)
    import_jobs.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == job.Status.DONE, job.error
    assert streamed == [True] and job.result["imported"] == Card.objects.count() > 0
