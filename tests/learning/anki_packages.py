"""Anki packages built by the official `anki` library (a test-only dependency):
the real peer our reader is checked against. The application never imports it.
"""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from anki.collection import Collection, ExportAnkiPackageOptions
from anki.import_export_pb2 import ExportLimit

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG_2 = PNG + b"\0" * 16  # the same picture, other bytes: another file
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64


@dataclass
class Built:
    path: Path
    card_count: int  # what Anki itself counts
    note_count: int


def _write_media(col: Collection, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        Path(col.media.dir(), name).write_bytes(content)


def build(
    folder: Path,
    fill: Callable[[Collection], None],
    *,
    legacy: bool = False,
    media: dict[str, bytes] | None = None,
    name: str = "deck.apkg",
    scheduling: bool = False,
) -> Built:
    """A package exported by Anki from a fresh collection that `fill` populated."""
    home = Path(tempfile.mkdtemp(dir=folder))
    col = Collection(os.fspath(home / "collection.anki2"))
    try:
        fill(col)
        _write_media(col, media or {})
        out = folder / name
        col.export_anki_package(
            out_path=os.fspath(out),
            options=ExportAnkiPackageOptions(with_scheduling=scheduling, with_media=True, legacy=legacy),
            limit=ExportLimit(),
        )
        return Built(path=out, card_count=col.card_count(), note_count=col.note_count())
    finally:
        col.close()


def add(col: Collection, notetype: str, fields: dict[str, str], deck: str = "Default", tags: list[str] | None = None):
    note = col.new_note(col.models.by_name(notetype))
    for key, value in fields.items():
        note[key] = value
    note.tags = tags or []
    col.add_note(note, col.decks.id(deck))
    return note


def teacher_collection(col: Collection) -> None:
    """A deck as teachers have them: every stock note type, a custom one,
    nested decks, hierarchical tags, colour, pictures and sounds."""
    verbs = "Languages::French::Verbs"
    add(
        col,
        "Basic",
        {
            "Front": 'dog <img src="dog photo.png">',
            "Back": '<span style="color: rgb(255, 0, 0);">chien</span>[sound:bark é.mp3]',
        },
        verbs,
        ["animals::pets"],
    )
    add(col, "Basic (and reversed card)", {"Front": "manger", "Back": "to eat"}, verbs)
    add(col, "Basic (optional reversed card)", {"Front": "boire", "Back": "to drink"}, verbs)
    add(col, "Basic (optional reversed card)", {"Front": "voir", "Back": "to see", "Add Reverse": "y"}, verbs)
    add(col, "Basic (type in the answer)", {"Front": "être (je)", "Back": "suis"}, verbs)
    add(
        col,
        "Cloze",
        {"Text": "{{c1::Paris}} is the capital of {{c2::France::country}}", "Back Extra": ""},
        "Languages::German",
        ["geo::europe"],
    )
    add(col, "Basic", {"Front": 'cat <img src="chat été.png"> and <img src="dog photo.png">', "Back": "chat"}, verbs)
    # A custom note type: three fields, two templates, one conditional.
    models = col.models
    custom = models.new("Vocab")
    for field in ("Word", "Meaning", "Example"):
        models.add_field(custom, models.new_field(field))
    t1 = models.new_template("Recognise")
    t1["qfmt"] = "{{Word}}"
    t1["afmt"] = "{{FrontSide}}<hr id=answer>{{Meaning}}{{#Example}}<br><i>{{Example}}</i>{{/Example}}"
    t2 = models.new_template("Recall")
    t2["qfmt"] = "{{#Example}}{{Meaning}}{{/Example}}"
    t2["afmt"] = "{{FrontSide}}<hr id=answer>{{Word}}"
    models.add_template(custom, t1)
    models.add_template(custom, t2)
    models.add(custom)
    add(col, "Vocab", {"Word": "le chat", "Meaning": "the cat", "Example": "Le chat dort."}, "Languages::German")
    add(col, "Vocab", {"Word": "le chien", "Meaning": "the dog", "Example": ""}, "Languages::German")


TEACHER_MEDIA = {"dog photo.png": PNG, "bark é.mp3": MP3, "chat été.png": PNG_2}


def rewrite(package: Path, change: Callable[[sqlite3.Connection], None], member: str = "collection.anki21") -> bytes:
    """A legacy package with its collection altered by `change` (to make
    hostile or malformed packages from a real one)."""
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(package) as source:
        db = Path(tmp) / "c.sqlite"
        db.write_bytes(source.read(member))
        conn = sqlite3.connect(db)
        change(conn)
        conn.commit()
        conn.close()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = db.read_bytes() if info.filename == member else source.read(info.filename)
                target.writestr(info.filename, data)
        return out.getvalue()
