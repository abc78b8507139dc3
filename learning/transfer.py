"""Decks in and out: CSV, JSON and Anki packages (.apkg).

Parsing never writes: `parse_upload()` turns a file into `CardRow`s plus a list
of rows it could not read, so a page can preview an import and the API can
refuse a bad file with every problem listed. `deck_import()` then writes all
rows in one transaction or none. Exports stream back what a deck holds,
media included (inline in JSON, as package media in .apkg).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import sqlite3
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from lms.errors import ServiceError, TooLarge
from lms.inputs import storable, unstorable
from lms.spreadsheet import from_spreadsheet, spreadsheet_safe

if TYPE_CHECKING:
    from learning.models import Card, Deck

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_CARDS = 5000
# A zip's own header says how big it unpacks; a small "bomb" can claim gigabytes.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_TEXT = 10_000
JSON_FORMAT = "flashcard-lms/deck"
FORMATS = ("csv", "json", "apkg")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "apkg": "application/octet-stream",
}


class ImportFileError(ServiceError):
    status = 400
    code = "invalid_import"


@dataclass
class CardRow:
    front: str
    back: str
    tags: str = ""
    image: tuple[str, bytes] | None = None
    audio: tuple[str, bytes] | None = None
    line: int = 0


@dataclass
class ParseResult:
    rows: list[CardRow] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    description: str = ""

    def error(self, line: int, message: str) -> None:
        self.errors.append({"line": line, "message": message})


MAX_TAGS_TEXT = 500
MAX_DESCRIPTION = 5_000


def _refuse_unstorable(result: ParseResult) -> None:
    """What the database cannot store (a NUL, a lone surrogate) and text beyond
    the limits never reaches it: such a card is an error of its row, like an
    empty side; a title or description is cleaned and cut to length."""
    kept = []
    for row in result.rows:
        if any(unstorable(text) for text in (row.front, row.back, row.tags)):
            result.error(row.line, "The card holds a character that cannot be stored (NUL).")
        elif len(row.tags) > MAX_TAGS_TEXT:
            result.error(row.line, f"The tags are longer than {MAX_TAGS_TEXT} characters.")
        else:
            kept.append(row)
    result.rows = kept
    result.title = storable(result.title)[:200]
    result.description = storable(result.description)[:MAX_DESCRIPTION]


def detect_format(filename: str, requested: str | None = None) -> str:
    fmt = (requested or PurePosixPath(filename or "").suffix.lstrip(".")).lower()
    if fmt in {"tsv", "txt"}:
        fmt = "csv"
    if fmt not in FORMATS:
        raise ImportFileError(
            f"Unknown import format {fmt or '(none)'!r}: use a .csv, .json or .apkg file.",
            details={"format": list(FORMATS)},
        )
    return fmt


def read_upload(upload: Any) -> bytes:
    """An uploaded import file's bytes, refusing an oversized one *before*
    reading it into memory (a 2 GB upload must not become a 2 GB bytes object)."""
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise TooLarge(f"Import files are limited to {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    return upload.read(MAX_IMPORT_BYTES + 1)  # still over the limit if size lied: parse_upload refuses it


def parse_upload(filename: str, data: bytes, fmt: str | None = None) -> ParseResult:
    if len(data) > MAX_IMPORT_BYTES:
        raise TooLarge(f"Import files are limited to {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise ImportFileError("The file is empty.")
    fmt = detect_format(filename, fmt)
    result = {"csv": parse_csv, "json": parse_json, "apkg": parse_apkg}[fmt](data)
    _refuse_unstorable(result)
    if len(result.rows) > MAX_IMPORT_CARDS:
        raise ImportFileError(
            f"At most {MAX_IMPORT_CARDS} cards can be imported at once; the file has {len(result.rows)}."
        )
    if not result.rows and not result.errors:
        raise ImportFileError("The file holds no cards.")
    return result


def _check_row(result: ParseResult, line: int, front: str, back: str) -> bool:
    if not front.strip() or not back.strip():
        result.error(line, "Both a front and a back are needed.")
        return False
    if len(front) > MAX_TEXT or len(back) > MAX_TEXT:
        result.error(line, f"A side is longer than {MAX_TEXT} characters.")
        return False
    return True


# --- CSV -----------------------------------------------------------------------

HEADER_WORDS = {"front", "question", "term", "prompt"}


# What the delimiter guess ignores: quoted cells (their commas are text) and
# HTML character references (`&amp;` ends in a semicolon that is text too).
_NOT_A_SEPARATOR_RE = re.compile(r'"[^"]*"|&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});')


def _delimiter(text: str) -> str:
    """The separator found on most of the first lines: tab, then semicolon, then
    comma on a tie (csv.Sniffer gives up on files with a few odd lines)."""
    lines = [_NOT_A_SEPARATOR_RE.sub("", line) for line in text.splitlines()[:50] if line.strip()]
    return max("\t;,", key=lambda sep: (sum(sep in line for line in lines), -"\t;,".index(sep)))


def _decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), or UTF-16 when a BOM says so:
    Excel's "Unicode Text" export is UTF-16 with tabs."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError("The file says it is UTF-16 but is not valid UTF-16.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The CSV file is not UTF-8 text: save it as “CSV UTF-8”.") from None


def parse_csv(data: bytes) -> ParseResult:
    """`front,back[,tags]` rows; comma, semicolon or tab separated; an optional
    header. Errors name the file line a record starts on."""
    result = ParseResult()
    text = _decode_text(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    seen_a_record = False
    try:
        line = 1
        for record in reader:
            number, line = line, reader.line_num + 1  # a quoted cell may span lines
            if not record or all(not cell.strip() for cell in record):
                continue
            first, seen_a_record = not seen_a_record, True
            if first and record[0].strip().lower() in HEADER_WORDS:
                continue
            if len(record) < 2:
                result.error(number, "Expected at least two columns: front and back.")
                continue
            # Windows line endings inside a quoted cell are plain line breaks.
            cells = [from_spreadsheet(cell.replace("\r\n", "\n").strip()) for cell in record[:3]]
            front, back = cells[0], cells[1]
            if _check_row(result, number, front, back):
                tags = cells[2] if len(cells) > 2 else ""
                result.rows.append(CardRow(front=front, back=back, tags=tags, line=number))
    except csv.Error as exc:
        raise ImportFileError(f"The CSV file could not be read: {exc}") from None
    return result


def export_csv(deck: Deck, cards: list[Card]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["front", "back", "tags"])
    for card in cards:
        writer.writerow([spreadsheet_safe(card.front), spreadsheet_safe(card.back), spreadsheet_safe(card.tags)])
    return out.getvalue().encode("utf-8")


# --- JSON ------------------------------------------------------------------------


def _decode_media(value: Any, line: int, result: ParseResult, kind: str) -> tuple[str, bytes] | None:
    if not value:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        result.error(line, f"{kind} must be an object with 'name' and base64 'data'.")
        return None
    try:
        content = base64.b64decode(value["data"], validate=True)
    except (ValueError, TypeError):
        result.error(line, f"{kind} data is not valid base64.")
        return None
    return (str(value.get("name") or kind), content)


def parse_json(data: bytes) -> ParseResult:
    result = ParseResult()
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ImportFileError(f"The JSON file could not be read: {exc}") from None
    if isinstance(doc, list):
        doc = {"cards": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("cards"), list):
        raise ImportFileError('Expected {"cards": [{"front": ..., "back": ...}, ...]} or a list of cards.')
    deck = doc.get("deck") if isinstance(doc.get("deck"), dict) else {}
    result.title = str(deck.get("title") or "")[:200]
    result.description = str(deck.get("description") or "")
    for number, item in enumerate(doc["cards"], start=1):
        if not isinstance(item, dict):
            result.error(number, "Each card must be an object.")
            continue
        front, back = str(item.get("front") or "").strip(), str(item.get("back") or "").strip()
        if not _check_row(result, number, front, back):
            continue
        tags = item.get("tags") or ""
        if isinstance(tags, list):
            tags = " ".join(str(t) for t in tags)
        result.rows.append(
            CardRow(
                front=front,
                back=back,
                tags=str(tags),
                image=_decode_media(item.get("image"), number, result, "image"),
                audio=_decode_media(item.get("audio"), number, result, "audio"),
                line=number,
            )
        )
    return result


def _encode_media(file: Any) -> dict[str, str] | None:
    if not file:
        return None
    with file.open("rb") as handle:
        content = handle.read()
    return {"name": PurePosixPath(file.name).name, "data": base64.b64encode(content).decode("ascii")}


def export_json(deck: Deck, cards: list[Card]) -> bytes:
    doc = {
        "format": JSON_FORMAT,
        "version": 1,
        "deck": {
            "title": deck.title,
            "description": deck.description,
            "new_cards_per_day": deck.new_cards_per_day,
            "reviews_per_day": deck.reviews_per_day,
        },
        "cards": [
            {
                "front": card.front,
                "back": card.back,
                "tags": card.tag_list,
                "image": _encode_media(card.image),
                "audio": _encode_media(card.audio),
            }
            for card in cards
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


# --- Anki packages -------------------------------------------------------------------

IMG_RE = re.compile(r"""<img[^>]*\bsrc\s*=\s*["']?([^"'>\s]+)["']?[^>]*>""", re.IGNORECASE)
SOUND_RE = re.compile(r"\[sound:([^\]]+)\]")


EDGE_BREAKS_RE = re.compile(r"^(\s*<br\s*/?>)+|(<br\s*/?>\s*)+$", re.IGNORECASE)


def _take_media(text: str, pattern: re.Pattern[str]) -> tuple[str, list[str]]:
    names = pattern.findall(text)
    return EDGE_BREAKS_RE.sub("", pattern.sub("", text)).strip(), names


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """One file of the package; a damaged or encrypted member is the uploader's
    problem (400), not ours (500)."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ImportFileError(f"The package is damaged and could not be read ({name}: {exc}).") from None


def parse_apkg(data: bytes) -> ParseResult:
    """Reads the notes of an Anki package: first field front, second back;
    the first image and sound referenced become the card's media."""
    result = ParseResult()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportFileError("This is not an Anki package (.apkg is a zip archive).") from None
    with archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise TooLarge(
                f"The package unpacks to {unpacked // (1024 * 1024)} MB; "
                f"at most {MAX_UNPACKED_BYTES // (1024 * 1024)} MB can be imported."
            )
        names = set(archive.namelist())
        collection = next((n for n in ("collection.anki21", "collection.anki2") if n in names), None)
        if collection is None:
            if "collection.anki21b" in names:
                raise ImportFileError(
                    "This package uses Anki's newest compressed format. In Anki, export again with "
                    "'Support older Anki versions' ticked."
                )
            raise ImportFileError("The package has no Anki collection inside.")
        try:
            media_map = json.loads(_read_member(archive, "media").decode("utf-8")) if "media" in names else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            media_map = {}
        by_name = {str(name): str(key) for key, name in media_map.items()}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "collection.sqlite"
            path.write_bytes(_read_member(archive, collection))
            try:
                conn = sqlite3.connect(path)
                try:
                    rows = conn.execute("SELECT flds, tags FROM notes ORDER BY id").fetchall()
                    deck_names = conn.execute("SELECT decks FROM col").fetchone()
                finally:
                    conn.close()
            except sqlite3.DatabaseError as exc:
                raise ImportFileError(f"The Anki collection could not be read: {exc}") from None
        if deck_names:
            try:
                decks = [d for d in json.loads(deck_names[0]).values() if d.get("name") != "Default"]
                if len(decks) == 1:
                    result.title = str(decks[0].get("name", ""))[:200]
            except (ValueError, AttributeError):
                pass

        read: dict[str, bytes] = {}  # a picture shared by many notes is read once

        def media(name: str) -> tuple[str, bytes] | None:
            key = by_name.get(name)
            if key is None or key not in names:
                return None
            if key not in read:
                read[key] = _read_member(archive, key)
            return (name, read[key])

        for number, (fields_text, tags) in enumerate(rows, start=1):
            fields = fields_text.split("\x1f")
            if len(fields) < 2:
                result.error(number, "The note has a single field; two are needed (front and back).")
                continue
            front, front_images = _take_media(fields[0], IMG_RE)
            back, back_images = _take_media(fields[1], IMG_RE)
            front, front_sounds = _take_media(front, SOUND_RE)
            back, back_sounds = _take_media(back, SOUND_RE)
            images, sounds = front_images + back_images, front_sounds + back_sounds
            image = media(images[0]) if images else None
            audio = media(sounds[0]) if sounds else None
            # A card whose front is only a picture is still a card.
            if not front and image:
                front = "(picture)"
            if not back and audio:
                back = "(listen)"
            if _check_row(result, number, front, back):
                result.rows.append(
                    CardRow(front=front, back=back, tags=tags.strip(), image=image, audio=audio, line=number)
                )
    return result


def _stable_id(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return 1 << 30 | int.from_bytes(digest[:4], "big") & ((1 << 30) - 1)


def export_apkg(deck: Deck, cards: list[Card]) -> bytes:
    import genanki

    model = genanki.Model(
        _stable_id("flashcard-lms-model", 1),
        "Flashcard LMS Basic",
        fields=[{"name": "Front"}, {"name": "Back"}],
        templates=[
            {
                "name": "Card 1",
                "qfmt": "{{Front}}",
                "afmt": '{{FrontSide}}<hr id="answer">{{Back}}',
            }
        ],
    )
    anki_deck = genanki.Deck(_stable_id("flashcard-lms-deck", deck.pk), deck.title)
    with tempfile.TemporaryDirectory() as tmp:
        media_files = []
        for card in cards:
            front, back = card.front, card.back
            for attr in ("image", "audio"):
                file = getattr(card, attr)
                if not file:
                    continue
                name = f"lms-{card.pk}-{attr}{PurePosixPath(file.name).suffix.lower()}"
                target = Path(tmp) / name
                with file.open("rb") as handle:
                    target.write_bytes(handle.read())
                media_files.append(str(target))
                if attr == "image":
                    front = f'{front}<br><img src="{name}">'
                else:
                    back = f"{back} [sound:{name}]"
            anki_deck.add_note(
                genanki.Note(
                    model=model,
                    fields=[front, back],
                    tags=[t.replace(" ", "_") for t in card.tag_list],
                    guid=genanki.guid_for("flashcard-lms", card.pk),
                )
            )
        out = Path(tmp) / "deck.apkg"
        genanki.Package(anki_deck, media_files=media_files).write_to_file(str(out))
        return out.read_bytes()


EXPORTERS = {"csv": export_csv, "json": export_json, "apkg": export_apkg}


def export_deck(deck: Deck, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name)"""
    if fmt not in EXPORTERS:
        raise ImportFileError(f"Unknown export format {fmt!r}: use csv, json or apkg.")
    cards = list(deck.cards.order_by("position", "id"))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", deck.title).strip("-").lower() or "deck"
    return EXPORTERS[fmt](deck, cards), CONTENT_TYPES[fmt], f"{slug}.{fmt}"


# --- Writing an import ----------------------------------------------------------------


def _media_upload(media: tuple[str, bytes] | None, kind: str, line: int) -> Any:
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile

    from learning.media import rename_for, validate_media

    if media is None:
        return None
    name, content = media
    upload = SimpleUploadedFile(PurePosixPath(name).name or kind, content)
    try:
        return rename_for(upload, validate_media(upload, kind=kind))
    except ServiceError as exc:
        raise ValidationError(f"{kind}: {exc.message}") from exc


def deck_import(*, user: Any, deck: Deck, parsed: ParseResult, skip_invalid: bool = False) -> list[Card]:
    """Add every parsed row to `deck` (whose editing the caller checked), in
    one transaction: either all rows land or none does. Rows the parser could
    not read refuse the import unless `skip_invalid`."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from learning.models import Card
    from learning.services import clean_card_text, normalize_tags
    from lms.tracking import track

    problems = list(parsed.errors)
    if problems and not skip_invalid:
        raise ImportFileError(
            f"{len(problems)} row(s) could not be read; fix them or import the readable ones only.",
            details={"rows": problems},
        )
    cards: list[Card] = []
    for row in parsed.rows:
        try:
            cards.append(
                Card(
                    deck=deck,
                    front=clean_card_text(row.front, "front"),
                    back=clean_card_text(row.back, "back"),
                    tags=normalize_tags(row.tags),
                    image=_media_upload(row.image, "image", row.line) or "",
                    audio=_media_upload(row.audio, "audio", row.line) or "",
                )
            )
        except ValidationError as exc:
            problems.append({"line": row.line, "message": "; ".join(exc.messages)})
    if (problems and not skip_invalid) or not cards:
        raise ImportFileError(
            "Nothing was imported: " + (f"{len(problems)} row(s) are not valid cards." if problems else "no cards."),
            details={"rows": problems},
        )
    with transaction.atomic():
        # Lock the deck row so two imports into one deck number their cards
        # one after the other.
        type(deck).objects.select_for_update().filter(pk=deck.pk).first()
        last = deck.cards.order_by("-position").values_list("position", flat=True).first() or 0
        for offset, card in enumerate(cards, start=1):
            card.position = last + offset
        created = Card.objects.bulk_create(cards, batch_size=500)
    track("deck_imported", user=user, deck_id=deck.pk, cards=len(created), skipped=len(problems))
    return created


def deck_import_new(
    *, user: Any, parsed: ParseResult, title: str = "", lesson: Any = None, skip_invalid: bool = False
) -> tuple[Deck, list[Card]]:
    """A new deck (in `lesson`, or personal) holding the imported cards."""
    from django.db import transaction

    from learning.services import deck_create

    with transaction.atomic():
        deck = deck_create(
            user=user,
            lesson=lesson,
            title=(title or parsed.title or "Imported deck").strip()[:200],
            description=parsed.description,
        )
        cards = deck_import(user=user, deck=deck, parsed=parsed, skip_invalid=skip_invalid)
    return deck, cards
