"""Decks in and out: CSV, JSON and Anki packages (.apkg).

Parsing never writes to the database or storage: `parse_upload()` turns a
file into `CardRow`s plus a list of rows it could not read, so a page can
preview an import and the API can refuse a bad file with every problem listed.
A package's media are unpacked into a staging directory of their own (see
`MediaStaging`), never held in memory. `deck_import()` then writes all rows in
one transaction or none, moving the staged media into storage. Exports
stream back what a deck holds, media included (inline in JSON, as package
media in .apkg).
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import contextlib
import csv
import functools
import gc
import hashlib
import html as html_lib
import io
import itertools
import json
import queue
import re
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files import File
from django.db import models

from learning.anki.package import (
    AnkiPackage,
    AnkiSchedule,
    CollectionReader,
    Limits,
    MemberTooLarge,
    PackageError,
    PackageTooLarge,
    StagedMedia,
)
from learning.anki.writer import CardSchedule, LogEntry, add_scheduling
from lms.errors import ServiceError, TooLarge
from lms.inputs import storable, unstorable
from lms.spreadsheet import from_spreadsheet, spreadsheet_safe

if TYPE_CHECKING:
    from learning.models import Card, Deck

MAX_IMPORT_BYTES = (
    50 * 1024 * 1024
)  # CSV, text and JSON files, read into memory (packages: settings.IMPORT_MAX_UPLOAD_BYTES)
MAX_TEXT = 10_000
MAX_TITLE = 200
MAX_DESCRIPTION = 5_000  # as the deck form allows
DECK_PATH_SEPARATOR = " › "
BATCH = 1000  # cards per INSERT; also how often a background import reports progress
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


@dataclass(slots=True)
class CardRow:
    front: str
    back: str
    tags: str = ""
    image: tuple[str, bytes] | None = None
    audio: tuple[str, bytes] | None = None
    line: int = 0
    # Pictures and sounds named in the text (Anki notes): name -> staged file.
    media: dict[str, StagedMedia] = field(default_factory=dict)
    deck_path: tuple[str, ...] = ()
    schedule: AnkiSchedule | None = None  # an Anki card's state and log, when asked for


# The media of a row that names none: shared, read only.
_NO_MEDIA: dict[str, StagedMedia] = {}

STAGING_PREFIX = "lms-import-"


def staging_root() -> Path:
    """Where imports stage their media: Django's upload temporary directory
    (FILE_UPLOAD_TEMP_DIR, else the system's). On the media volume, a staged
    file is moved into storage by a rename, not copied."""
    return Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())


class MediaStaging:
    """One import's staging directory for the media unpacked from its package.

    Removed by `remove()` (a written import has moved what it kept into
    storage; a failed or previewed one keeps nothing), or at the latest when
    the parse result holding it is garbage-collected; a process killed in
    between leaves it to the stalled-import sweep."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=staging_root()))
        self._remove = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def remove(self) -> None:
        self._remove()


class ParseResult:
    """The rows of an import file and the rows that could not be read.

    A streamed package (`parse_upload(..., stream=True)`) has its rows read as
    the import takes them (`take_rows()`): the collection is read up front,
    each note rendered only when its card is about to be written, so the
    database stores the first cards while the rest are rendered. Reading
    `rows` or `errors` reads whatever is still pending first, so either always
    gives the whole file; `deck_paths` is known before any row is."""

    def __init__(
        self,
        rows: list[CardRow] | None = None,
        errors: list[dict[str, Any]] | None = None,
        title: str = "",
        description: str = "",
        staging: MediaStaging | None = None,
    ) -> None:
        self._rows = rows if rows is not None else []
        self._errors = errors if errors is not None else []
        self.title = title
        self.description = description
        self.staging = staging  # a package's unpacked media
        # A streamed package: its rows not read yet, and the generator reading
        # them (closed by discard_media()).
        self._pending: Iterator[CardRow] | None = None
        self._source: Iterator[CardRow] | None = None
        self.deck_paths: list[tuple[str, ...]] | None = None  # every deck a package's card can land in
        self.expected = 0  # cards a streamed package should give (for progress)

    @property
    def streaming(self) -> bool:
        return self._pending is not None

    def stream(self, rows: Iterator[CardRow]) -> None:
        """Take the rows from `rows` (a generator; a later call wraps the
        first one, which stays the one closed when the media are discarded)."""
        self._pending = rows
        if self._source is None:
            self._source = rows

    @property
    def rows(self) -> list[CardRow]:
        self._drain()
        return self._rows

    @rows.setter
    def rows(self, rows: list[CardRow]) -> None:
        self._drain()
        self._rows = rows

    @property
    def errors(self) -> list[dict[str, Any]]:
        self._drain()
        return self._errors

    @errors.setter
    def errors(self, errors: list[dict[str, Any]]) -> None:
        self._drain()
        self._errors = errors

    @property
    def errors_so_far(self) -> list[dict[str, Any]]:
        """The errors met until now (the list itself: a streamed package adds
        to it as its rows are taken)."""
        return self._errors

    def _drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._rows.extend(pending)

    def take_rows(self) -> Iterator[CardRow]:
        """Every row, a streamed package's as they are read (those are not
        kept here: a 50,000-note package is never held whole)."""
        yield from self._rows
        pending, self._pending = self._pending, None
        if pending is not None:
            yield from pending

    def error(self, line: int, message: str) -> None:
        self._errors.append({"line": line, "message": message})

    def discard_media(self) -> None:
        """Remove the staged media (their rows can no longer be written) and
        stop reading a streamed package."""
        if self.staging is not None:
            self.staging.remove()
        self._pending = None
        if self._source is not None:
            source, self._source = self._source, None
            source.close()  # type: ignore[attr-defined]


MAX_TAGS_TEXT = 500
# Rows of a streamed import taken together: one search for characters the
# database cannot store, one round trip to the writer for their new media.
_ROWS_CHUNK = 500


def _refuse_unstorable(result: ParseResult) -> None:
    """What the database cannot store (a NUL, a lone surrogate) and text beyond
    the limits never reaches it: such a card is an error of its row, like an
    empty side; a title or description is cleaned and cut to length. The
    rows are checked as `_storable_rows` takes them (a streamed package's
    when the import reads them)."""
    if result.streaming:
        result.stream(_storable_rows(result, result._pending))  # type: ignore[arg-type]
    else:
        result.rows = list(_storable_rows(result, iter(result.rows)))
    result.title = storable(result.title)[:200]
    result.description = storable(result.description)[:MAX_DESCRIPTION]


def _storable_rows(result: ParseResult, rows: Iterator[CardRow]) -> Iterator[CardRow]:
    """The rows the database can store; each other one is an error of its
    row. One search over `_ROWS_CHUNK` rows' texts joined (a newline is
    storable) instead of three per row — almost every file has nothing to
    refuse, and 60,000 searches were a sixth of parsing a 20,000-card
    package — and rows are looked at one by one only in a chunk that has."""
    while batch := list(itertools.islice(rows, _ROWS_CHUNK)):
        texts = [*map(attrgetter("front"), batch), *map(attrgetter("back"), batch), *map(attrgetter("tags"), batch)]
        if unstorable("\n".join(texts)) or any(len(row.tags) > MAX_TAGS_TEXT for row in batch):
            batch = [row for row in batch if _storable_row(result, row)]
        yield from batch


def _storable_row(result: ParseResult, row: CardRow) -> bool:
    """Whether the row can be stored; if not, its error is added."""
    if any(unstorable(text) for text in (row.front, row.back, row.tags)):
        result.error(row.line, "The card holds a character that cannot be stored (NUL).")
        return False
    if len(row.tags) > MAX_TAGS_TEXT:
        result.error(row.line, f"The tags are longer than {MAX_TAGS_TEXT} characters.")
        return False
    return True


def detect_format(filename: str, requested: str | None = None) -> str:
    fmt = (requested or PurePosixPath(filename or "").suffix.lstrip(".")).lower()
    if fmt in {"tsv", "txt"}:
        fmt = "csv"
    if fmt == "colpkg":  # a whole collection: the same reader
        fmt = "apkg"
    if fmt not in FORMATS:
        raise ImportFileError(
            f"Unknown import format {fmt or '(none)'!r}: use a .csv, .json or .apkg file.",
            details={"format": list(FORMATS)},
        )
    return fmt


def read_upload(upload: Any) -> IO[bytes]:
    """An uploaded import file, refused *before* it is read when it is over
    settings.IMPORT_MAX_UPLOAD_BYTES. It stays a file: Django streamed it to a
    temporary file on disk (anything over FILE_UPLOAD_MAX_MEMORY_SIZE), a
    package is read from there member by member, and only a text import
    (at most MAX_IMPORT_BYTES) is read into memory."""
    if upload.size is not None and upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise TooLarge(_upload_cap_message())
    return upload.file


def _upload_cap_message() -> str:
    return f"Import files are limited to {settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)} MB."


def _file_size(handle: IO[bytes]) -> int:
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    return size


def parse_upload(
    filename: str,
    data: bytes | IO[bytes],
    fmt: str | None = None,
    *,
    with_scheduling: bool = False,
    stream: bool = False,
) -> ParseResult:
    """The rows of an import file, given as bytes or as an open binary file
    (a package is read from the file, never copied into memory whole).

    `stream`: an Anki package's cards are rendered as the import takes them
    (`ParseResult.take_rows`), for a caller that goes straight on to write
    them: its problems are then known once the import has read every row,
    and a file without a single card is refused by the import."""
    size = len(data) if isinstance(data, bytes) else _file_size(data)
    if not size:
        raise ImportFileError("The file is empty.")
    if size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise TooLarge(_upload_cap_message())
    fmt = detect_format(filename, fmt)
    if fmt == "apkg":
        result = parse_apkg(data, with_scheduling, stream=stream)
    else:
        if size > MAX_IMPORT_BYTES:
            raise TooLarge(f"CSV, text and JSON imports are limited to {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
        text = data if isinstance(data, bytes) else data.read()
        result = {"csv": parse_csv, "json": parse_json}[fmt](text)
    try:
        _refuse_unstorable(result)
        if result.streaming:  # (the package has checked its number of notes)
            return result
        limit = settings.IMPORT_MAX_NOTES
        if len({row.line for row in result.rows}) > limit:
            raise ImportFileError(f"At most {limit} notes can be imported at once; the file has more.")
        if not result.rows and not result.errors:
            raise ImportFileError("The file holds no cards.")
    except Exception:
        result.discard_media()
        raise
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


# Anki's "Notes in Plain Text" starts with lines such as `#separator:tab`.
_ANKI_HEADER_RE = re.compile(r"^#([a-z ]+):(.*)$")
_ANKI_SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "space": " ", "pipe": "|", "colon": ":"}
_ANKI_COLUMNS = ("tags column", "guid column", "notetype column", "deck column")


def _anki_headers(text: str) -> tuple[dict[str, str], str, int]:
    """(options, the text after the header lines, how many lines they took)."""
    options: dict[str, str] = {}
    lines = text.split("\n")
    taken = 0
    for raw in lines:
        match = _ANKI_HEADER_RE.match(raw.rstrip("\r"))
        if not match:
            break
        options[match.group(1).strip().lower()] = match.group(2).strip()
        taken += 1
    return options, "\n".join(lines[taken:]), taken


def _anki_separator(value: str) -> str:
    value = value.strip()
    if value.lower() in _ANKI_SEPARATORS:
        return _ANKI_SEPARATORS[value.lower()]
    if len(value) == 1:
        return value
    raise ImportFileError(f"#separator:{value} is not a separator Anki writes.")


def _anki_row(result: ParseResult, number: int, record: list[str], options: dict[str, str]) -> None:
    """One line of Anki's plain-text notes: the columns the header names
    (tags, guid, note type, deck) set apart, the rest are the note's fields;
    a cloze note gives one card per deletion, as in Anki."""
    from learning.anki.render import cloze_numbers, cloze_text

    columns = {}
    for key in _ANKI_COLUMNS:
        value = options.get(key, "")
        if value.isdigit() and int(value) >= 1:
            columns[key] = int(value) - 1
    cell = lambda i: record[i].replace("\r\n", "\n").strip() if 0 <= i < len(record) else ""  # noqa: E731
    fields = [cell(i) for i in range(len(record)) if i not in columns.values()]
    if options.get("html", "true").lower() == "false":
        fields = [html_lib.escape(f).replace("\n", "<br>") for f in fields]
    tags = cell(columns["tags column"]) if "tags column" in columns else ""
    deck = cell(columns["deck column"]) if "deck column" in columns else options.get("deck", "")
    path = tuple(part.strip() for part in deck.split("::") if part.strip())
    text = fields[0] if fields else ""
    extra = fields[1] if len(fields) > 1 else ""
    numbers = sorted(cloze_numbers(text))
    if numbers:
        for n in numbers:
            front, back = cloze_text(text, n, question=True), cloze_text(text, n, question=False)
            back = f"{back}<br>{extra}" if extra else back
            if _check_row(result, number, front, back):
                result.rows.append(CardRow(front=front, back=back, tags=tags, line=number, deck_path=path))
        return
    if _check_row(result, number, text, extra):
        result.rows.append(CardRow(front=text, back=extra, tags=tags, line=number, deck_path=path))


def parse_csv(data: bytes) -> ParseResult:
    """`front,back[,tags]` rows; comma, semicolon or tab separated; an optional
    header. Anki's "Notes in Plain Text" header lines (`#separator:`,
    `#html:`, `#tags column:`, `#guid column:`, `#notetype column:`,
    `#deck column:`) are followed. Errors name the file line a record starts on."""
    result = ParseResult()
    options, text, offset = _anki_headers(_decode_text(data))
    separator = _anki_separator(options["separator"]) if "separator" in options else _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    seen_a_record = False
    try:
        line = 1
        for record in reader:
            number, line = line + offset, reader.line_num + 1  # a quoted cell may span lines
            if not record or all(not cell.strip() for cell in record):
                continue
            if options:
                _anki_row(result, number, record, options)
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
    result.title = str(deck.get("title") or "")[:MAX_TITLE]
    result.description = str(deck.get("description") or "")[:MAX_DESCRIPTION]
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

IMG_RE = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^"'>\s]+))([^>]*>)""", re.IGNORECASE)
SOUND_RE = re.compile(r"\[sound:([^\]]+)\]")


def media_names(text: str) -> list[str]:
    """Every picture and sound a card's text names, in order."""
    # (Substring tests, on a lowered copy only for text with a tag: a
    # case-insensitive regular expression was four times slower.)
    if "[sound:" not in text and ("<" not in text or "<img" not in text.lower()):
        return []
    images = [m.group(2) or m.group(3) or m.group(4) or "" for m in IMG_RE.finditer(text)]
    return [name for name in images + SOUND_RE.findall(text) if name]


def _package_limits() -> Limits:
    media = settings.IMPORT_MAX_MEDIA_BYTES
    return Limits(
        member_bytes=max(MAX_IMPORT_BYTES * 20, 256 * 1024 * 1024),
        total_bytes=media + max(MAX_IMPORT_BYTES * 20, 256 * 1024 * 1024),
        media_bytes=settings.MAX_MEDIA_BYTES,
        media_total_bytes=media,
        notes=settings.IMPORT_MAX_NOTES,
        seconds=float(settings.IMPORT_SQLITE_SECONDS),
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cycle collection while a package is read or written: the import
    makes tens of thousands of short-lived objects (and no cycles worth
    collecting), and each collection would walk all of them again; it cost a
    sixth of a 10,000-note import. Switched back on at the end, if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_apkg(data: bytes | IO[bytes], with_scheduling: bool = False, *, stream: bool = False) -> ParseResult:
    """The cards of an Anki package, each as Anki renders it, with its deck
    path, tags and every picture and sound its text names (staged on disk in
    `result.staging`, removed again if the package is refused). With
    `stream`, the cards are rendered as `result.take_rows()` is iterated."""
    staging = MediaStaging()
    result = ParseResult(staging=staging)
    try:
        with _gc_paused():
            package = AnkiPackage(data, _package_limits(), staging=staging.path)
            try:
                reader = package.open(with_scheduling=with_scheduling)
            except BaseException:
                package.close()
                raise
    except PackageTooLarge as exc:
        result.discard_media()
        raise TooLarge(str(exc)) from None
    except PackageError as exc:
        result.discard_media()
        raise ImportFileError(str(exc)) from None
    except BaseException:
        result.discard_media()
        raise
    reader.package.errors = result.errors_so_far  # the package's problems are the file's, in the order met
    result.deck_paths = reader.deck_paths
    result.expected = reader.cards_expected
    result.stream(_package_rows(package, reader, result))
    if stream:
        if len(reader.deck_paths) == 1:
            result.title = DECK_PATH_SEPARATOR.join(reader.deck_paths[0])[:MAX_TITLE]
        return result
    with _gc_paused():
        rows = result.rows  # every card rendered now
    paths = {row.deck_path for row in rows}
    if len(paths) == 1:
        result.title = DECK_PATH_SEPARATOR.join(next(iter(paths)))[:MAX_TITLE]
    return result


def _package_rows(package: AnkiPackage, reader: CollectionReader, result: ParseResult) -> Iterator[CardRow]:
    """The package's cards as rows, rendered one note at a time, each with
    the media its text names staged; the archive is closed at the end, and a
    package refused half-way leaves no staged media behind."""
    try:
        with package:
            for note, _, _, front, back, tags, deck_path, schedule in reader.cards():
                media: dict[str, StagedMedia] = _NO_MEDIA  # (most cards: one dictionary fewer)
                if names := media_names(front) + media_names(back):
                    media = {}
                    try:
                        for name in names:
                            content = package.media(name)
                            if content is not None:
                                media[name] = content
                    except MemberTooLarge:
                        result.error(
                            note,
                            f"Note {note}: {name} is larger than {settings.MAX_MEDIA_BYTES // (1024 * 1024)} MB.",
                        )
                        continue
                if len(front) > MAX_TEXT or len(back) > MAX_TEXT:
                    result.error(note, f"Note {note}: a side is longer than {MAX_TEXT} characters.")
                    continue
                # (Positional: keywords made it twice as dear, 0.75 against 0.35 µs.)
                yield CardRow(front, back or "&nbsp;", tags, None, None, note, media, deck_path, schedule)
    except GeneratorExit:  # closed by discard_media(), which removes the staged media itself
        raise
    except BaseException as exc:
        if result.staging is not None:
            result.staging.remove()
        if isinstance(exc, PackageTooLarge):
            raise TooLarge(str(exc)) from None
        if isinstance(exc, PackageError):
            raise ImportFileError(str(exc)) from None
        raise


def _stable_id(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return 1 << 30 | int.from_bytes(digest[:4], "big") & ((1 << 30) - 1)


_OUR_MEDIA_RE = re.compile(r"""(<img\b[^>]*?\bsrc=")/media/(cards/media/[0-9a-f]{2}/[0-9a-f]{64}\.\w+)("[^>]*>)""")
_OUR_AUDIO_RE = re.compile(
    r"""<audio\b[^>]*?\bsrc="/media/(cards/media/[0-9a-f]{2}/[0-9a-f]{64}\.\w+)"[^>]*>\s*</audio>"""
)


def _export_media(text: str, tmp: str, media_files: list[str]) -> str:
    """Shared media embedded in card text, as Anki names them: the file goes
    into the package and the text says `<img src="name">` / `[sound:name]`."""
    from django.core.files.storage import default_storage

    def add(stored: str) -> str:
        name = PurePosixPath(stored).name
        target = Path(tmp) / name
        if not target.exists() and default_storage.exists(stored):
            with default_storage.open(stored, "rb") as handle:
                target.write_bytes(handle.read())
            media_files.append(str(target))
        return name

    text = _OUR_MEDIA_RE.sub(lambda m: f"{m.group(1)}{add(m.group(2))}{m.group(3)}", text)
    return _OUR_AUDIO_RE.sub(lambda m: f"[sound:{add(m.group(1))}]", text)


def export_apkg(deck: Deck, cards: list[Card], student: Any = None) -> bytes:
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
            front, back = _export_media(front, tmp, media_files), _export_media(back, tmp, media_files)
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
        content = out.read_bytes()
    if student is not None:
        content = add_scheduling(content, _schedules_of(student, cards))
    return content


# Our answer qualities as Anki's four buttons (Again, Hard, Good, Easy).
_BUTTONS = {0: 1, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4}
_LOG_KINDS = {"new": 0, "learning": 0, "review": 1, "relearning": 2}


def _schedules_of(student: Any, cards: list[Card]) -> dict[str, CardSchedule]:
    """A student's schedules and review log for `cards`, by Anki note guid
    (two queries, whatever the deck's size)."""
    import genanki

    from learning.models import CardState, Review

    guid = {card.pk: genanki.guid_for("flashcard-lms", card.pk) for card in cards}
    schedules: dict[str, CardSchedule] = {}
    for state in CardState.objects.filter(student=student, card_id__in=list(guid)):
        schedules[guid[state.card_id]] = CardSchedule(
            status=state.status,
            due=state.due_at,
            interval=state.interval,
            ease=state.ease,
            reps=state.reviews_count,
            lapses=state.lapses,
            suspended=state.suspended,
        )
    reviews = Review.objects.filter(student=student, card_id__in=list(guid)).order_by("reviewed_at", "id")
    for review in reviews:
        schedule = schedules.get(guid[review.card_id])
        if schedule is not None:
            schedule.log.append(
                LogEntry(
                    at=review.reviewed_at,
                    button=_BUTTONS.get(review.quality, 3),
                    interval=review.interval_after,
                    last_interval=review.interval_before,
                    ease=review.ease_after,
                    ms=review.response_ms or 0,
                    kind=_LOG_KINDS.get(review.status_before, 1),
                )
            )
    return schedules


EXPORTERS = {"csv": export_csv, "json": export_json, "apkg": export_apkg}


def export_deck(deck: Deck, fmt: str, *, student: Any = None) -> tuple[bytes, str, str]:
    """(content, content type, file name). With `student`, an Anki package
    carries that student's schedules and review log, so Anki shows the same
    due dates and history."""
    if fmt not in EXPORTERS:
        raise ImportFileError(f"Unknown export format {fmt!r}: use csv, json or apkg.")
    cards = list(deck.cards.order_by("position", "id"))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", deck.title).strip("-").lower() or "deck"
    content = export_apkg(deck, cards, student) if fmt == "apkg" else EXPORTERS[fmt](deck, cards)
    return content, CONTENT_TYPES[fmt], f"{slug}.{fmt}"


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


class _StagedFile(File):
    """A staged media file handed to storage: FileSystemStorage moves a file
    that has a `temporary_file_path` into place (a rename on one filesystem)
    instead of copying it; any other storage reads it in chunks."""

    def __init__(self, staged: StagedMedia, handle: IO[bytes]) -> None:
        super().__init__(handle, name=staged.path.name)
        self.staged = staged

    def temporary_file_path(self) -> str:
        return str(self.staged.path)


class _MediaStore:
    """The pictures and sounds of an import's rows, stored as the rows come,
    once each by content hash: moved from the staging directory into storage
    (a content already stored keeps its file, and the staged copy is deleted).

    Its queries go through the import's writer (`_CardStream` or
    `_CardInserts`), which owns the database connection while the cards are
    written. `blobs` maps sha256 -> (MediaBlob id, file name); `written`
    collects the files this import put into storage, so a failed import removes
    exactly those. A row whose media is not an allowed image or sound (told by
    its first bytes) goes to `problems` instead."""

    def __init__(self, writer: Any, problems: list[dict[str, Any]], written: list[str]) -> None:
        self.writer = writer
        self.problems = problems
        self.written = written
        self.blobs: dict[str, tuple[int, str]] = {}
        self.refused: set[str] = set()
        self.sql = _BlobSQL()

    def store(self, rows: list[CardRow]) -> list[CardRow]:
        """The media of `rows` stored; the rows that can be written."""
        from django.core.files.storage import default_storage

        from learning.media import blob_name, kind_of

        wanted: dict[str, tuple[StagedMedia, Any]] = {}
        kept: list[CardRow] = []
        for row in rows:
            ok = True
            for name, staged in row.media.items():
                digest = staged.sha256
                if digest in self.blobs or digest in wanted:
                    continue
                info = None if digest in self.refused else kind_of(staged.head())
                if info is None:
                    self.refused.add(digest)
                    self.problems.append({"line": row.line, "message": f"{name} is not an allowed picture or sound."})
                    ok = False
                    break
                wanted[digest] = (staged, info)
            if ok:
                kept.append(row)
        if not wanted:
            return kept
        known = self.writer.call(self.sql.select, list(wanted))
        new = []
        for digest, (staged, info) in wanted.items():
            if digest in known:
                staged.path.unlink(missing_ok=True)
                continue
            name = blob_name(digest, info.extension)
            if default_storage.exists(name):
                staged.path.unlink(missing_ok=True)
            else:
                with open(staged.path, "rb") as handle:
                    name = default_storage.save(name, _StagedFile(staged, handle))
                self.written.append(name)
            new.append((digest, name, info.kind, staged.size))
        if new:
            known.update(self.writer.call(self.sql.insert, new))
        self.blobs.update(known)
        return kept


class _BlobSQL:
    """The MediaBlob queries of an import, made in the caller's thread and
    run by the writer's (whose cursor they take)."""

    def __init__(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from learning.models import MediaBlob

        quote = connection.ops.quote_name
        self.table = quote(MediaBlob._meta.db_table)
        self.columns = ", ".join(quote(c) for c in ("sha256", "file", "kind", "size", "created_at"))
        self.conflict = quote("sha256")
        now = timezone.now()
        self.created = now if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(now)

    def select(self, cursor: Any, digests: list[str]) -> dict[str, tuple[int, str]]:
        """sha256 -> (id, file) of the stored media among `digests`."""
        found: dict[str, tuple[int, str]] = {}
        for start in range(0, len(digests), 500):
            part = digests[start : start + 500]
            cursor.execute(
                f"SELECT sha256, id, file FROM {self.table} WHERE sha256 IN ({', '.join(['%s'] * len(part))})",  # noqa: S608 - names are ours
                part,
            )
            found.update((digest, (pk, name)) for digest, pk, name in cursor.fetchall())
        return found

    def insert(self, cursor: Any, blobs: list[tuple[str, str, str, int]]) -> dict[str, tuple[int, str]]:
        """(sha256, file, kind, size) rows inserted, a content another import
        stored meanwhile kept as it is; sha256 -> (id, file) of all of them."""
        for start in range(0, len(blobs), 500):
            part = blobs[start : start + 500]
            cursor.execute(
                f"INSERT INTO {self.table} ({self.columns}) VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(part))}"  # noqa: S608 - names are ours
                f" ON CONFLICT ({self.conflict}) DO NOTHING",
                [value for blob in part for value in (*blob, self.created)],
            )
        return self.select(cursor, [blob[0] for blob in blobs])


def _remove_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        default_storage.delete(name)


def _embed_media(text: str, urls: dict[str, str]) -> str:
    """`<img src="dog photo.png">` and `[sound:bark.mp3]` pointing at our
    stored copies; a reference to a file the package lacks is dropped."""

    def image(match: re.Match[str]) -> str:
        url = urls.get(match.group(2) or match.group(3) or match.group(4) or "")
        return f'{match.group(1)}"{url}"{match.group(5)}' if url else ""

    def sound(match: re.Match[str]) -> str:
        url = urls.get(match.group(1))
        return f'<audio controls src="{url}"></audio>' if url else ""

    return SOUND_RE.sub(sound, IMG_RE.sub(image, text))


# The media of a card that has none: shared, never appended to.
_NO_BLOBS: list[int] = []


@dataclass(slots=True)
class ImportedCard:
    """A card an import wrote: plain fields, no model instance (building
    20,000 model instances cost more than inserting them)."""

    deck_id: int
    front: str
    back: str
    tags: str
    image: str = ""
    audio: str = ""
    position: int = 0
    pk: int | None = None  # on PostgreSQL, set only for cards with media or a schedule
    blob_ids: list[int] = field(default_factory=list)
    schedule: AnkiSchedule | None = None


def _save_upload(media: tuple[str, bytes] | None, kind: str, line: int, written: list[str]) -> str:
    """A JSON import's one image or sound, checked and stored; its name."""
    from django.core.files.storage import default_storage

    from learning.models import card_audio_path, card_image_path

    upload = _media_upload(media, kind, line)
    if upload is None:
        return ""
    path = (card_image_path if kind == "image" else card_audio_path)(None, upload.name)  # type: ignore[arg-type]
    name = default_storage.save(path, upload)
    written.append(name)
    return name


def _card_builder(
    decks: dict[tuple[str, ...], Deck],
    media: _MediaStore,
    problems: list[dict[str, Any]],
    written: list[str],
) -> Callable[[CardRow], ImportedCard | None]:
    """A function turning one parsed row (its media already stored by
    `media`) into the card to write (its text sanitised, its media pointing at
    our stored copies), or None with the reason appended to `problems`."""
    from django.conf import settings as django_settings
    from django.core.exceptions import ValidationError

    from learning.sanitize import is_plain_text
    from learning.services import MAX_CARD_TEXT, clean_card_text, normalize_tags

    # A package repeats a handful of tag sets over thousands of notes.
    tags_of = functools.lru_cache(maxsize=1024)(normalize_tags)
    # Each distinct text is sanitised once: a reversed card's front is its
    # note's other back, and decks repeat answers.
    cleaned: dict[str, str] = {}

    def clean(text: str, side: str) -> str:
        done = cleaned.get(text)
        if done is None:
            # Plain text (no markup, nothing nh3 rewrites) is its own clean
            # form, stripped, as clean_card_text would give it back: half
            # the sides of a deck skip three calls.
            if len(text) <= MAX_CARD_TEXT and is_plain_text(text) and (plain := text.strip()):
                done = plain
            else:
                done = clean_card_text(text, side)
            cleaned[text] = done
        return done

    deck_ids = {path: deck.pk for path, deck in decks.items()}
    fallback = deck_ids[()]
    media_url = django_settings.MEDIA_URL
    blobs = media.blobs

    def build(row: CardRow) -> ImportedCard | None:
        front, back = row.front, row.back
        blob_ids: list[int] = _NO_BLOBS
        if row.media:
            urls: dict[str, str] = {}
            blob_ids = []
            for name, staged in row.media.items():
                pk, file = blobs[staged.sha256]
                urls[name] = f"{media_url}{file}"
                if pk not in blob_ids:
                    blob_ids.append(pk)
            front, back = _embed_media(front, urls), _embed_media(back, urls)
        try:
            # (A text seen before is looked up here, without a call: most are.)
            front = cleaned.get(front) or clean(front, "front")
            back = cleaned.get(back) or clean(back, "back")
            # deck_id, front, back, tags, image, audio, position, pk, blob_ids, schedule
            # (positional: keywords made it twice as dear, 0.76 against 0.34 µs)
            card = ImportedCard(
                deck_ids.get(row.deck_path) or fallback,
                front,
                back,
                tags_of(row.tags),
                "",
                "",
                0,
                None,
                blob_ids,
                row.schedule,
            )
            if row.image or row.audio:
                card.image = _save_upload(row.image, "image", row.line, written)
                card.audio = _save_upload(row.audio, "audio", row.line, written)
        except ValidationError as exc:
            problems.append({"line": row.line, "message": "; ".join(exc.messages)})
            return None
        return card

    return build


# Anki's buttons as our answer qualities (Again, Hard, Good, Easy).
_QUALITIES = {1: 1, 2: 3, 3: 4, 4: 5}
_ANKI_STATUS = {1: "learning", 2: "review", 3: "relearning"}
_LOG_STATUS = {0: "learning", 1: "review", 2: "relearning"}


def _import_history(user: Any, cards: list[ImportedCard]) -> None:
    """The package's card states and review log as `user`'s own history:
    their schedule (SM-2 fields, FSRS memory where Anki had it) and reviews,
    so studying continues where Anki left off. Two bulk inserts."""
    from datetime import UTC, datetime, timedelta

    from learning.models import CardState, Review

    states, reviews = [], []
    for card in cards:
        anki = card.schedule
        if anki is None or anki.type not in _ANKI_STATUS:
            continue
        if anki.type == 2 or anki.queue == 3:  # a day number counted from the collection's creation
            due = datetime.fromtimestamp(anki.crt, UTC) + timedelta(days=max(anki.due, 0))
        else:
            due = datetime.fromtimestamp(max(anki.due, 0), UTC)
        ease = anki.factor / 1000 if anki.factor >= 1300 else 2.5
        states.append(
            CardState(
                student=user,
                card_id=card.pk,
                status=_ANKI_STATUS[anki.type],
                repetitions=max(anki.reps - anki.lapses, 0),
                interval=max(anki.interval, 0),
                ease=ease,
                due_at=due,
                lapses=anki.lapses,
                reviews_count=anki.reps,
                last_reviewed_at=datetime.fromtimestamp(anki.log[-1][0] / 1000, UTC) if anki.log else None,
                stability=anki.stability,
                difficulty=anki.difficulty,
                suspended=anki.queue == -1,
            )
        )
        for rid, button, ivl, last_ivl, factor, ms, kind in anki.log:
            if button not in _QUALITIES or kind not in _LOG_STATUS:
                continue  # a manual reschedule or a filtered-deck cram, not an answer
            reviews.append(
                Review(
                    student=user,
                    card_id=card.pk,
                    mode="review",
                    quality=_QUALITIES[button],
                    correct=button > 1,
                    response_ms=max(min(ms, 3_600_000), 0),
                    reviewed_at=datetime.fromtimestamp(rid / 1000, UTC),
                    status_before=_LOG_STATUS[kind],
                    repetitions_before=0,
                    interval_before=max(last_ivl, 0),
                    ease_before=factor / 1000 if factor >= 1300 else 2.5,
                    repetitions_after=0,
                    interval_after=max(ivl, 0),
                    ease_after=factor / 1000 if factor >= 1300 else 2.5,
                    changed_schedule=True,
                )
            )
    CardState.objects.bulk_create(states, batch_size=1000)
    Review.objects.bulk_create(reviews, batch_size=1000)


_CARD_COLUMNS = ("deck_id", "front", "back", "image", "audio", "tags", "position", "created_at", "updated_at")


def _insert_cards(cards: list[ImportedCard]) -> list[ImportedCard]:
    """One multi-row INSERT … RETURNING id for a batch of cards: what
    bulk_create does, without its per-field preparation, which cost more than
    the database itself on a 20,000-card import."""
    from django.db import connection
    from django.utils import timezone

    from learning.models import Card

    if not cards:
        return cards
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    quote = connection.ops.quote_name
    # SQLite's own placeholders, given to the sqlite3 cursor itself: Django's
    # wrapper would rewrite 9,000 `%s` into `?` one regex match at a time
    # (half the insert's time).
    sqlite = connection.vendor == "sqlite"
    row = "(" + ", ".join(["?" if sqlite else "%s"] * len(_CARD_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO {quote(Card._meta.db_table)} ({', '.join(quote(c) for c in _CARD_COLUMNS)}) "  # noqa: S608 - names are ours
        f"VALUES {', '.join([row] * len(cards))} RETURNING {quote('id')}"
    )
    params: list[Any] = []
    for card in cards:
        params += [card.deck_id, card.front, card.back, card.image, card.audio, card.tags, card.position, now, now]
    with connection.cursor() as cursor:
        if sqlite:
            ids = [pk for (pk,) in sqlite3.Cursor.execute(cursor.cursor, sql, params).fetchall()]
        else:
            cursor.execute(sql, params)
            ids = [pk for (pk,) in cursor.fetchall()]
    for card, pk in zip(cards, ids, strict=True):
        card.pk = pk
    return cards


# PostgreSQL's binary COPY types of ("id",) + _CARD_COLUMNS.
_CARD_COPY_TYPES = (
    "int8",
    "int8",
    "text",
    "text",
    "varchar",
    "varchar",
    "varchar",
    "int4",
    "timestamptz",
    "timestamptz",
)


class _CardStream:
    """PostgreSQL: the cards written by binary COPY from a thread of their
    own, in batches (`_STREAM_BATCH`), while the caller is still sanitising
    the next batch.

    The server's share of an import (storing the rows, filling the indexes,
    checking each card's deck and each media link's card and file) used to
    come after all the Python work, in one COPY and at COMMIT (where the
    deferred foreign-key checks ran, one per row). Here every batch is its own
    COPY with those foreign keys switched to IMMEDIATE for the transaction, so
    each batch is checked as its COPY ends, while the caller's thread works on:
    psycopg releases the GIL while it waits, so PostgreSQL works on the second
    core, and COMMIT has nothing left to check. One transaction as before: a
    failure in any batch rolls back every batch (the caller's atomic block).

    Only the cards something else points at (media links, an imported
    schedule) take their id from the table's sequence here, one query per batch,
    and go in by a COPY that names `id`; the rest take the column
    default (20,000 nextval() calls were a fifth of the server's share). Binary
    rows cost psycopg a sixth of the Python time of text rows.

    The thread uses psycopg's connection (Django's wrapper belongs to its
    thread); the caller makes no query of its own until the stream is closed,
    and asks the thread for what it needs in between (`call`: the media
    stored for the next rows)."""

    def __init__(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from learning.models import Card

        self.ids: collections.deque[int] = collections.deque()

        self.raw = connection.connection
        quote = connection.ops.quote_name
        self.table_name = Card._meta.db_table
        self.link_table = Card.media.through._meta.db_table
        table = quote(self.table_name)
        through = Card.media.through._meta
        self.copy_with_id = (
            f"COPY {table} ({', '.join(quote(c) for c in ('id', *_CARD_COLUMNS))}) FROM STDIN (FORMAT BINARY)"
        )
        self.copy_plain = f"COPY {table} ({', '.join(quote(c) for c in _CARD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        link_columns = f"{quote(through.get_field('card').column)}, {quote(through.get_field('mediablob').column)}"
        self.copy_links = f"COPY {quote(self.link_table)} ({link_columns}) FROM STDIN (FORMAT BINARY)"
        self.now = timezone.now()
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # batches, calls, then None
        self.error: BaseException | None = None
        self.ended = False
        self.thread = threading.Thread(target=self._run, name="import-copy", daemon=True)

    def __enter__(self) -> _CardStream:
        self.thread.start()
        return self

    def send(self, batch: list[ImportedCard]) -> None:
        """Queue a batch (it is written in order); a failure of the thread so
        far is raised here, so the caller stops building cards."""
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(cursor, *args)` run by the thread once the batches sent
        before are written; its result (or its exception) here."""
        if self.error is not None:
            raise self.error
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.queue.put((function, args, future))
        return future.result()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Whatever happened, the thread is done with the connection before the
        # caller rolls back or goes on.
        self.queue.put(None)
        self.thread.join()
        if exc_type is None and self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with self.raw.cursor() as cursor:
                cursor.execute(
                    "SELECT conname FROM pg_constraint WHERE conrelid IN (%s::regclass, %s::regclass)"
                    " AND contype = 'f' AND condeferrable AND condeferred",
                    [self.table_name, self.link_table],
                )
                names = ", ".join(f'"{name}"' for (name,) in cursor.fetchall())
                if names:
                    cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
                while (item := self.queue.get()) is not None:
                    if isinstance(item, list):
                        self._write(cursor, item)
                        continue
                    function, args, future = item
                    try:
                        future.set_result(function(cursor, *args))
                    except BaseException as exc:
                        future.set_exception(exc)
                        raise
                self.ended = True
                if names:  # back to their declared mode for the rest of the transaction
                    cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self.error = exc
            while not self.ended and (item := self.queue.get()) is not None:
                if isinstance(item, tuple) and not item[2].done():
                    item[2].set_exception(exc)  # a caller waiting on a call is not left hanging

    def _draw_ids(self, cursor: Any, count: int) -> None:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [self.table_name, count]
        )
        self.ids.extend(sorted(pk for (pk,) in cursor.fetchall()))

    def _write(self, cursor: Any, batch: list[ImportedCard]) -> None:
        now = self.now
        linked = [card for card in batch if card.blob_ids or card.schedule is not None]
        if linked:
            if len(linked) > len(self.ids):  # one query per batch that has such cards
                self._draw_ids(cursor, len(linked) - len(self.ids))
            for card in linked:
                card.pk = self.ids.popleft()
            with cursor.copy(self.copy_with_id) as copy:
                copy.set_types(_CARD_COPY_TYPES)
                write = copy.write_row
                for card in linked:
                    row = (card.pk, card.deck_id, card.front, card.back, card.image, card.audio, card.tags)
                    write((*row, card.position, now, now))
        plain = [card for card in batch if not (card.blob_ids or card.schedule is not None)] if linked else batch
        if plain:
            with cursor.copy(self.copy_plain) as copy:
                copy.set_types(_CARD_COPY_TYPES[1:])
                write = copy.write_row
                for card in plain:
                    write(
                        (
                            card.deck_id,
                            card.front,
                            card.back,
                            card.image,
                            card.audio,
                            card.tags,
                            card.position,
                            now,
                            now,
                        )
                    )
        links = [(card.pk, blob_id) for card in linked for blob_id in card.blob_ids]
        if links:
            with cursor.copy(self.copy_links) as copy:
                copy.set_types(("int8", "int8"))
                for link in links:
                    copy.write_row(link)


# Cards per COPY of the stream. Each batch costs both sides a fixed amount
# (statements, the thread's hand-over): for 20,000 cards, batches of 1,000
# took 0.18-0.19 s of our CPU and 0.17 s of the server's for the write,
# batches of 5,000 0.12-0.15 s and 0.13 s, as much as one COPY did.
_STREAM_BATCH = 5000
# The first batch is smaller, so that the database starts on it sooner.
_FIRST_BATCH = 1000
# The last ones get smaller too: the database writes the last batch after the
# caller is done (a last batch of 4,000 cards took 0.09-0.16 s after it, in
# timelines of a 20,000-card import; 0.04 s with these).
_LAST_BATCH = 500


def _batch_size(sent: int, total: int) -> int:
    """Cards in the next batch, `sent` of an expected `total` being sent: the
    first small, then `_STREAM_BATCH`, then half of what is left, down to
    `_LAST_BATCH` (20,000 cards: 1,000, 5,000 × 2, 4,500, 2,250, 1,125, 562,
    500, 63)."""
    if not sent:
        return min(_FIRST_BATCH, _STREAM_BATCH)
    return max(min(_LAST_BATCH, _STREAM_BATCH), min(_STREAM_BATCH, (total - sent) // 2))


class _CardInserts:
    """SQLite: what `_CardStream` does, in the caller's thread: each batch by
    multi-row INSERTs (`_insert_cards`, `_insert_links`), and calls at once."""

    def __enter__(self) -> _CardInserts:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        from django.db import connection

        with connection.cursor() as cursor:
            return function(cursor, *args)

    def send(self, batch: list[ImportedCard]) -> None:
        for start in range(0, len(batch), BATCH):
            _insert_cards(batch[start : start + BATCH])
        links = [(card.pk, blob_id) for card in batch for blob_id in card.blob_ids]
        for start in range(0, len(links), BATCH):
            _insert_links(links[start : start + BATCH])


def _commit_without_waiting_for_disk() -> None:
    """PostgreSQL: this transaction's COMMIT does not wait for its write-ahead
    log to reach the disk (`SET LOCAL`, so only this transaction). The trade:
    if the database server itself crashes within a fraction of a second after
    the import answered, the import can be lost as a whole — never half of it
    (the log is still written in order) — and the teacher imports the file
    again. Other transactions keep the server's setting."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")


def _insert_links(links: list[tuple[int | None, int]]) -> None:
    """SQLite: (card id, media blob id) rows of Card.media in one INSERT,
    without a model instance each (2,000 of them cost 0.2 s in their
    __init__); PostgreSQL writes them with the cards (`_CardStream`)."""
    from django.db import connection

    from learning.models import Card

    through = Card.media.through._meta
    quote = connection.ops.quote_name
    columns = f"{quote(through.get_field('card').column)}, {quote(through.get_field('mediablob').column)}"
    sql = f"INSERT INTO {quote(through.db_table)} ({columns}) VALUES {', '.join(['(%s, %s)'] * len(links))}"  # noqa: S608 - names are ours
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for link in links for value in link])


def _write_cards(
    *,
    user: Any,
    decks: dict[tuple[str, ...], Deck],
    parsed: ParseResult,
    skip_invalid: bool,
    progress: Callable[[int, int], None] | None = None,
) -> list[ImportedCard]:
    """The cards of `parsed` into `decks` (by deck path; `()` is the fallback),
    all or none. Media files written for a failed import are removed, and
    the staged media are gone afterwards either way (a parse result with
    media is written once).

    Rows are taken, checked, built and handed to the writer batch by batch
    (`_STREAM_BATCH`): on PostgreSQL a thread writes each batch by COPY while
    the next is built — and, for a streamed package, while its notes are
    still being rendered. Once a row fails and the import is to be refused,
    reading goes on (to list every problem) but nothing more is written."""
    from django.db import connection, transaction

    from learning.models import Card
    from lms.tracking import track

    parse_errors = parsed.errors_so_far  # a streamed package adds to it as its rows are taken
    if parse_errors and not skip_invalid and not parsed.streaming:
        raise _unreadable(parse_errors)
    total = len(parsed.rows) if not parsed.streaming else parsed.expected
    problems: list[dict[str, Any]] = []  # rows read but not valid cards
    written: list[str] = []
    try:
        with _gc_paused(), transaction.atomic():
            # Lock the decks so two imports into one deck number their cards
            # one after the other.
            target_ids = sorted({deck.pk for deck in decks.values()})
            list(type(next(iter(decks.values()))).objects.select_for_update().filter(pk__in=target_ids))
            last = dict(
                Card.objects.filter(deck_id__in=target_ids)
                .values("deck_id")
                .annotate(m=models.Max("position"))
                .values_list("deck_id", "m")
            )
            postgresql = connection.vendor == "postgresql"
            if postgresql:
                _commit_without_waiting_for_disk()
            built: list[ImportedCard] = []
            with _CardStream() if postgresql else _CardInserts() as writer:
                media = _MediaStore(writer, problems, written)
                build = _card_builder(decks, media, problems, written)
                batch: list[ImportedCard] = []
                sent = 0  # cards sent to the writer
                size = _batch_size(sent, total)
                rows = parsed.take_rows()
                while chunk := list(itertools.islice(rows, _ROWS_CHUNK)):
                    for row in media.store(chunk):
                        card = build(row)
                        if card is None:
                            continue
                        last[card.deck_id] = card.position = (last.get(card.deck_id) or 0) + 1
                        built.append(card)
                        if progress is not None and len(built) % BATCH == 0:
                            progress(len(built), max(total, len(built)))
                        if (problems or parse_errors) and not skip_invalid:
                            continue
                        batch.append(card)
                        if len(batch) >= size:
                            writer.send(batch)
                            batch, sent = [], sent + len(batch)
                            size = _batch_size(sent, total)
                if batch and not ((problems or parse_errors) and not skip_invalid):
                    writer.send(batch)
            if parse_errors and not skip_invalid:
                raise _unreadable([*parse_errors, *problems])
            if (problems and not skip_invalid) or not built:
                raise ImportFileError(
                    "Nothing was imported: "
                    + (f"{len(problems)} note(s) or row(s) are not valid cards." if problems else "no cards."),
                    details={"rows": [*parse_errors, *problems]},
                )
            if progress is not None:
                progress(len(built), len(built))
            _import_history(user, built)
    except Exception:
        _remove_files(written)
        raise
    finally:
        parsed.discard_media()
    parsed.errors = [*parse_errors, *problems]
    track(
        "deck_imported",
        user=user,
        deck_id=min({card.deck_id for card in built}),
        cards=len(built),
        skipped=len(parsed.errors),
    )
    return built


def _unreadable(errors: list[dict[str, Any]]) -> ImportFileError:
    return ImportFileError(
        f"{len(errors)} note(s) or row(s) could not be read; fix them or import the readable ones only.",
        details={"rows": errors},
    )


def deck_import(
    *,
    user: Any,
    deck: Deck,
    parsed: ParseResult,
    skip_invalid: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[ImportedCard]:
    """Add every parsed row to `deck` (whose editing the caller checked), in
    one transaction: either all rows land or none does. Rows the parser could
    not read refuse the import unless `skip_invalid`; the ones skipped are left
    in `parsed.errors`, each with its reason."""
    return _write_cards(user=user, decks={(): deck}, parsed=parsed, skip_invalid=skip_invalid, progress=progress)


def deck_import_new(
    *,
    user: Any,
    parsed: ParseResult,
    title: str = "",
    lesson: Any = None,
    skip_invalid: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Deck, list[ImportedCard]]:
    """New decks (in `lesson`, or personal) holding the imported cards: one
    deck, or one per Anki (sub)deck, titled with its path (`A › B › C`).
    Returns the first deck and every card created."""
    from django.db import transaction

    from learning.services import deck_create

    # A streamed package names its decks before its rows are read; the ones
    # none of its cards land in are removed again below.
    paths = (parsed.deck_paths or []) if parsed.streaming else list(dict.fromkeys(row.deck_path for row in parsed.rows))
    description = (parsed.description or "")[:MAX_DESCRIPTION]
    with transaction.atomic():
        decks: dict[tuple[str, ...], Deck] = {}
        if len(paths) <= 1:
            name = (title or parsed.title or "Imported deck").strip()[:MAX_TITLE]
            decks[()] = deck_create(user=user, lesson=lesson, title=name, description=description)
            if paths:
                decks[paths[0]] = decks[()]
        else:
            for path in paths:
                name = DECK_PATH_SEPARATOR.join(path)[:MAX_TITLE] or "Imported deck"
                decks[path] = deck_create(user=user, lesson=lesson, title=name, description=description)
            decks[()] = decks[paths[0]]
        cards = _write_cards(user=user, decks=decks, parsed=parsed, skip_invalid=skip_invalid, progress=progress)
        # A subdeck whose every note was skipped is not left behind empty.
        used = {card.deck_id for card in cards}
        for deck in {d.pk: d for d in decks.values()}.values():
            if deck.pk not in used:
                deck.delete()
    first = next(d for d in decks.values() if d.pk in used) if cards else decks[()]
    return first, cards
