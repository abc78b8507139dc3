"""Hostile Anki packages, as an attacker with a personal deck would send them:
each is refused with a 4xx, quickly, in little memory, and writes nothing."""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import psutil
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from learning import transfer
from learning.anki import package as anki_package
from learning.anki.package import Limits
from learning.models import Card, Deck, MediaBlob
from tests.learning.anki_packages import PNG, add, build, rewrite

pytestmark = pytest.mark.django_db


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    def fill(col):
        add(col, "Basic", {"Front": "one", "Back": "1"})
        add(col, "Basic", {"Front": "two", "Back": "2"})

    return build(tmp_path_factory.mktemp("hostile"), fill, legacy=True, name="small.apkg").path


@pytest.fixture
def refused(teacher, api_for, media_root, settings, tmp_path):
    """Post a package; assert a 4xx in under 10 s, at most 300 MB allocated at
    the peak, nothing written, no media left staged; return the body."""
    staging = tmp_path / "tmp"
    staging.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(staging)

    def post(data: bytes, name: str = "evil.apkg", expect: int = 400) -> dict:
        started = time.monotonic()
        tracemalloc.start()
        try:
            response = api_for(teacher).post(
                "/api/v1/decks/import/", {"file": SimpleUploadedFile(name, data)}, format="multipart"
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert time.monotonic() - started < 10
        assert peak < 300 * 1024 * 1024
        assert response.status_code == expect, response.content[:500]
        assert Deck.objects.count() == 0 and Card.objects.count() == 0 and MediaBlob.objects.count() == 0
        assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))
        assert not list(staging.glob(f"{transfer.STAGING_PREFIX}*"))
        return response.json()["error"]

    return post


def _zip(members: dict[str, bytes]) -> bytearray:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return bytearray(out.getvalue())


def test_zip_headers_that_lie_about_the_size_are_refused_in_little_memory(refused):
    data = _zip({"collection.anki21": b"\0" * (30 * 1024 * 1024)})
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        struct.pack_into("<I", data, data.find(signature) + offset, 100)  # "100 bytes", says the header
    before = psutil.Process().memory_info().rss
    error = refused(bytes(data))
    assert psutil.Process().memory_info().rss - before < 300 * 1024 * 1024
    assert "damaged" in error["message"]


def test_a_member_that_unpacks_past_the_cap_stops_the_read(refused, monkeypatch):
    limits = Limits(member_bytes=4 * 1024 * 1024, total_bytes=8 * 1024 * 1024)
    monkeypatch.setattr(transfer, "_package_limits", lambda: limits)
    seen: list[int] = []
    real = anki_package._Budget.take

    def spy(self, count, name, so_far, cap):
        seen.append(so_far)
        return real(self, count, name, so_far, cap)

    monkeypatch.setattr(anki_package._Budget, "take", spy)
    error = refused(bytes(_zip({"collection.anki21": b"\0" * (64 * 1024 * 1024)})), expect=413)
    assert "more than 4 MB" in error["message"]
    assert max(seen) <= 5 * 1024 * 1024  # stopped at the first chunk past the cap, not at 64 MB


def test_a_recursive_view_in_place_of_notes_is_refused_at_once(refused, legacy):
    def change(conn):
        conn.executescript(
            "DROP TABLE notes; CREATE VIEW notes AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
            "SELECT i AS id, 1 AS mid, '' AS tags, 'x' AS flds FROM r;"
        )

    error = refused(rewrite(legacy, change))
    assert "view" in error["message"]


def test_a_trigger_on_a_table_we_read_is_refused(refused, legacy):
    error = refused(rewrite(legacy, lambda c: c.execute("CREATE TRIGGER t AFTER INSERT ON cards BEGIN SELECT 1; END")))
    assert "trigger" in error["message"]


def test_a_query_past_the_time_budget_is_aborted(tmp_path):
    path = tmp_path / "c.sqlite"
    sqlite3.connect(path).close()
    conn = anki_package._open_sqlite(path, 0.2)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        conn.execute(
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
        ).fetchone()
    assert time.monotonic() - started < 2
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("CREATE TABLE x (y)")  # read-only


def _loose_notes(conn, rows):
    """Replace notes with a table without NOT NULL, holding `rows`."""
    (mid,) = conn.execute("SELECT mid FROM notes LIMIT 1").fetchone()
    conn.executescript(
        "DROP TABLE notes; CREATE TABLE notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data);"
    )
    conn.executemany(
        "INSERT INTO notes VALUES (?, 'g', ?, 0, 0, ?, ?, '', 0, 0, '')",
        [(nid, mid if m is ... else m, tags, flds) for nid, m, tags, flds in rows],
    )
    conn.execute("DELETE FROM cards")


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([(9, ..., "", None)], "fields is empty (NULL)"),
        ([(9, ..., b"\x00blob", "a\x1fb")], "tags is bytes"),
        ([(9, ..., None, "a\x1fb")], "tags is empty (NULL)"),
        ([(9, "7", "", "a\x1fb")], "note type is str"),
        ([(9, 424242, "", "a\x1fb")], "note type 424242 is not in the package"),
    ],
)
def test_malformed_notes_are_a_400_naming_the_note(refused, legacy, rows, words):
    error = refused(rewrite(legacy, lambda c: _loose_notes(c, [(5, ..., "", "ok\x1ffine"), *rows])))
    problems = error["details"]["rows"]
    assert [p["line"] for p in problems] == [2]
    assert "Note 2" in problems[0]["message"] and words in problems[0]["message"]


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("models", "{not json", "note types is not valid JSON"),
        ("models", "[1, 2]", "note types should be a map"),
        ("decks", '{"1": [1]}', "decks could not be read"),
        ("decks", None, "not text"),
    ],
)
def test_malformed_collection_settings_are_a_400(refused, legacy, column, value, words):
    def change(conn):
        conn.executescript("CREATE TABLE col2 AS SELECT * FROM col; DROP TABLE col; ALTER TABLE col2 RENAME TO col;")
        conn.execute(f"UPDATE col SET {column} = ?", (value,))

    error = refused(rewrite(legacy, change))
    assert words in error["message"]


def test_a_list_shaped_media_map_is_a_400(refused, legacy):
    with zipfile.ZipFile(legacy) as source:
        members = {i.filename: source.read(i.filename) for i in source.infolist()}
    members["media"] = json.dumps(["a.png"]).encode()
    error = refused(bytes(_zip(members)))
    assert "media list" in error["message"]


def test_a_modern_package_with_a_broken_zstd_stream_is_a_400(refused, tmp_path):
    built = build(tmp_path, lambda col: add(col, "Basic", {"Front": "a", "Back": "b"}))
    with zipfile.ZipFile(built.path) as source:
        members = {i.filename: source.read(i.filename) for i in source.infolist()}
    members["collection.anki21b"] = members["collection.anki21b"][:40] + b"garbage" * 10
    refused(bytes(_zip(members)))


def test_an_oversized_picture_skips_its_note_with_the_reason(tmp_path, teacher, settings, media_root):
    settings.MAX_MEDIA_BYTES = 1000

    def fill(col):
        add(col, "Basic", {"Front": 'big <img src="big.png">', "Back": "x"})
        add(col, "Basic", {"Front": "small", "Back": "y"})

    built = build(tmp_path, fill, media={"big.png": PNG + b"\0" * 5000})
    parsed = transfer.parse_upload("a.apkg", built.path.read_bytes())
    assert [r.front for r in parsed.rows] == ["small"]
    assert parsed.errors == [{"line": 1, "message": "Note 1: big.png is larger than 0 MB."}]
    with pytest.raises(transfer.ImportFileError):
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert Card.objects.count() == 0
    _, cards = transfer.deck_import_new(user=teacher, parsed=parsed, skip_invalid=True)
    assert len(cards) == 1 and parsed.errors[0]["line"] == 1


def test_a_failed_import_leaves_no_orphan_media_file(tmp_path, teacher, media_root):
    def fill(col):
        add(col, "Basic", {"Front": 'pic <img src="p.png">', "Back": "x"})
        add(col, "Basic", {"Front": "text only", "Back": "<script>y</script>"})  # no back once sanitised

    built = build(tmp_path, fill, media={"p.png": PNG})
    parsed = transfer.parse_upload("a.apkg", built.path.read_bytes())
    with pytest.raises(transfer.ImportFileError) as exc:
        transfer.deck_import_new(user=teacher, parsed=parsed)
    assert exc.value.details["rows"][0]["line"] == 2
    assert Card.objects.count() == 0 and MediaBlob.objects.count() == 0 and Deck.objects.count() == 0
    assert not any(p.is_file() for p in media_root.rglob("*"))


def test_a_json_import_cannot_store_a_45_mb_description(teacher):
    doc = {"deck": {"title": "t" * 5000, "description": "d" * 1_000_000}, "cards": [{"front": "a", "back": "b"}]}
    parsed = transfer.parse_upload("deck.json", json.dumps(doc).encode())
    deck, _ = transfer.deck_import_new(user=teacher, parsed=parsed)
    assert len(deck.title) == transfer.MAX_TITLE and len(deck.description) == transfer.MAX_DESCRIPTION


def test_media_that_unpack_past_their_total_cap_are_refused(refused, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "_package_limits", lambda: Limits(media_total_bytes=300_000))

    def fill(col):
        for i in range(4):
            add(col, "Basic", {"Front": f'w{i} <img src="p{i}.png">', "Back": "x"})

    media = {f"p{i}.png": PNG + bytes([i]) * 100_000 for i in range(4)}  # zeros behind a PNG header
    built = build(tmp_path, fill, media=media)
    error = refused(built.path.read_bytes(), expect=413)
    assert "media unpack to more than" in error["message"]
