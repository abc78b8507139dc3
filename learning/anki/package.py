"""Reading an Anki package (.apkg / .colpkg) as an untrusted upload.

The three layouts Anki has written: `collection.anki21b` (zstd-compressed
SQLite, protobuf media map, zstd-compressed media; Anki 2.1.50+ by default),
`collection.anki21` and `collection.anki2` (genanki, "support older
versions"). The newest collection in the archive wins: a modern package also
carries a `collection.anki2` whose only note says "please update Anki".

Every bound is enforced while reading, never taken from the archive's own
claims: members are decompressed in chunks against a per-member and a total
cap; the collection is opened read-only and immutable, with a progress handler
that aborts any query after a time budget; row counts are capped; a schema
with views or triggers on the tables we read is refused (a recursive view can
hold a core for minutes, and SQLite releases the GIL while it does).
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import json
import os
import sqlite3
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import unquote
from urllib.request import pathname2url

import zstandard

from learning.anki import protobuf
from learning.anki.render import NoteType, RenderedCard, RenderPlan, TemplateError

COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
READ_TABLES = frozenset({"col", "notes", "cards", "notetypes", "fields", "templates", "decks", "revlog"})
_CHUNK = 1024 * 1024
# zstd frames may ask for a huge window; Anki's are small.
_ZSTD_MAX_WINDOW = 1 << 27


class PackageError(Exception):
    """The package cannot be read; the message says why, for the uploader."""


class PackageTooLarge(PackageError):
    pass


class MemberTooLarge(PackageTooLarge):
    """One member (a media file) is over its own cap; the rest may be fine."""


@dataclass(frozen=True)
class Limits:
    member_bytes: int = 512 * 1024 * 1024  # one unpacked member (the collection, one media file)
    total_bytes: int = 2 * 1024 * 1024 * 1024  # everything unpacked from one package
    media_bytes: int = 10 * 1024 * 1024  # one media file
    notes: int = 50_000
    seconds: float = 5.0  # SQLite time budget for the whole read
    # Distinct media staged on disk while an import runs (never held in memory).
    media_total_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StagedMedia:
    """A media file unpacked into the import's staging directory, hashed on
    the way: only its name, digest and size stay in memory."""

    path: Path
    sha256: str
    size: int

    def head(self, size: int = 8192) -> bytes:
        """The first bytes, enough to tell what the file is."""
        with open(self.path, "rb") as handle:
            return handle.read(size)


class PackageCard(NamedTuple):  # a tuple: a big import makes 20,000 of them
    note: int  # the note's position in the package, 1-based, for messages
    note_id: int
    ordinal: int
    front: str
    back: str
    tags: str
    deck_path: tuple[str, ...]
    # With scheduling: Anki's card columns and review log for this card.
    schedule: AnkiSchedule | None = None


@dataclass
class AnkiSchedule:
    """One card's state in Anki: `type` 0 new, 1 learning, 2 review, 3
    relearning; `queue` -1 suspended; `due` a day number (review, day-learning)
    or a Unix time (learning); FSRS memory when the collection has it."""

    type: int
    queue: int
    due: int
    interval: int
    factor: int
    reps: int
    lapses: int
    crt: int
    stability: float | None = None
    difficulty: float | None = None
    # (revlog id = epoch ms, button 1-4, interval, last interval, factor, ms, kind)
    log: list[tuple[int, int, int, int, int, int, int]] = field(default_factory=list)


@dataclass
class Package:
    cards: list[PackageCard] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    deck_names: list[tuple[str, ...]] = field(default_factory=list)
    media_names: dict[str, str] = field(default_factory=dict)  # name in the notes -> zip member
    notes: int = 0

    def error(self, note: int, message: str, note_id: int | None = None) -> None:
        row: dict[str, Any] = {"line": note, "message": message}
        if note_id is not None:
            row["note_id"] = note_id
        self.errors.append(row)


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0

    def take(self, count: int, name: str, so_far: int, cap: int) -> None:
        self.total += count
        if so_far > cap:
            raise MemberTooLarge(f"{name} unpacks to more than {cap // (1024 * 1024)} MB.")
        if self.total > self.limits.total_bytes:
            raise PackageTooLarge(
                f"The package unpacks to more than {self.limits.total_bytes // (1024 * 1024)} MB; it cannot be imported."
            )


class AnkiPackage:
    """An open package: the parsed collection plus on-demand media reads.

    Media are unpacked into `staging` (a directory the caller owns and
    removes), one file per distinct content; the package never holds a media
    file's bytes beyond the chunk being copied."""

    def __init__(self, data: bytes | IO[bytes], limits: Limits | None = None, *, staging: Path | None = None) -> None:
        self.limits = limits or Limits()
        self.staging = staging
        self.budget = _Budget(self.limits)
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
            self.names = set(self.archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            raise PackageError("This is not an Anki package (.apkg is a zip archive).") from None
        self.collection = next((n for n in COLLECTIONS if n in self.names), None)
        if self.collection is None:
            raise PackageError("The package has no Anki collection inside.")
        self.modern = self.collection == "collection.anki21b"
        self._staged: dict[str, StagedMedia] = {}  # zip member -> its staged file
        self._by_digest: dict[str, StagedMedia] = {}  # one staged file per content
        self._too_large: set[str] = set()  # members over the per-file cap, read once
        self._staged_bytes = 0
        self._file_numbers = itertools.count()

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> AnkiPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- members ---------------------------------------------------------------

    def _chunks(self, name: str, cap: int) -> Iterator[bytes]:
        """A member's bytes, unpacked (and un-zstd'ed in a modern package) in
        chunks, stopping the moment it passes `cap` or the total budget."""
        seen = 0
        try:
            with self.archive.open(name) as raw:
                stream: IO[bytes] = raw
                if self.modern and name != "meta":
                    head = raw.read(4)
                    raw_rest = raw
                    if head == b"\x28\xb5\x2f\xfd":
                        reader = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).stream_reader(
                            _Prefixed(head, raw_rest), read_across_frames=True
                        )
                        stream = reader
                    else:
                        stream = _Prefixed(head, raw_rest)  # type: ignore[assignment]
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        return
                    seen += len(chunk)
                    self.budget.take(len(chunk), name, seen, cap)
                    yield chunk
        except PackageError:
            raise
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            NotImplementedError,
            RuntimeError,
            zstandard.ZstdError,
        ) as exc:
            raise PackageError(f"The package is damaged and could not be read ({name}: {exc}).") from None
        except KeyError:
            raise PackageError(f"The package lists {name} but does not hold it.") from None

    def read_member(self, name: str, cap: int) -> bytes:
        return b"".join(self._chunks(name, cap))

    def media(self, name: str) -> StagedMedia | None:
        """The media file the notes call `name`, staged on disk (None if the
        package lacks it). MemberTooLarge if it is over the per-file cap;
        PackageTooLarge once the package's distinct media pass their total."""
        member = self.media_member(name)
        if member is None:
            return None
        if member in self._too_large:
            raise MemberTooLarge(f"{member} is over the cap.")
        staged = self._staged.get(member)
        if staged is None:
            try:
                staged = self._stage(member)
            except MemberTooLarge:
                self._too_large.add(member)
                raise
            self._staged[member] = staged
        return staged

    def _stage(self, member: str) -> StagedMedia:
        """Copy one member into the staging directory in chunks, hashing as it
        goes; a content already staged keeps its first copy only."""
        if self.staging is None:
            raise RuntimeError("AnkiPackage needs a staging directory to read media.")
        path = self.staging / f"{next(self._file_numbers)}.media"
        digest = hashlib.sha256()
        size = 0
        cap = self.limits.media_total_bytes
        try:
            with open(path, "wb") as out:
                for chunk in self._chunks(member, self.limits.media_bytes):
                    size += len(chunk)
                    if self._staged_bytes + size > cap:
                        raise PackageTooLarge(f"The package's media unpack to more than {cap // (1024 * 1024)} MB.")
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        sha256 = digest.hexdigest()
        known = self._by_digest.get(sha256)
        if known is not None:
            path.unlink()
            return known
        self._staged_bytes += size
        staged = self._by_digest[sha256] = StagedMedia(path=path, sha256=sha256, size=size)
        return staged

    def media_member(self, name: str) -> str | None:
        for candidate in (name, html.unescape(name), unquote(html.unescape(name))):
            member = self.package.media_names.get(candidate)
            if member is not None and member in self.names:
                return member
        return None

    # --- the media map ----------------------------------------------------------------

    def _media_map(self) -> dict[str, str]:
        if "media" not in self.names:
            return {}
        data = self.read_member("media", 64 * 1024 * 1024)
        if not self.modern:
            try:
                doc = json.loads(data.decode("utf-8") or "{}")
            except (UnicodeDecodeError, ValueError):
                raise PackageError("The package's media list is not valid JSON.") from None
            if not isinstance(doc, dict):
                raise PackageError("The package's media list should map numbers to file names.")
            return {str(name): str(key) for key, name in doc.items() if isinstance(name, str)}
        try:
            entries = protobuf.decode(data).get(1, [])
            names: dict[str, str] = {}
            for index, raw in enumerate(entries):
                if not isinstance(raw, bytes):
                    raise ValueError("entry")
                entry = protobuf.decode(raw)
                member = str(protobuf.first_int(entry, 255, index)) if 255 in entry else str(index)
                names[protobuf.first_str(entry, 1)] = member
        except (ValueError, UnicodeDecodeError):
            raise PackageError("The package's media list could not be read.") from None
        return names

    # --- the collection ----------------------------------------------------------------

    def read(self, *, with_scheduling: bool = False) -> Package:
        """The whole package: every card rendered (`open()` then `cards()`)."""
        reader = self.open(with_scheduling=with_scheduling)
        used_decks: dict[tuple[str, ...], None] = {}  # in order of first use
        for card in reader.cards():
            used_decks[card.deck_path] = None
            self.package.cards.append(card)
        self.package.deck_names = list(used_decks)
        return self.package

    def open(self, *, with_scheduling: bool = False) -> CollectionReader:
        """The collection read into memory (its SQLite file is closed again
        before this returns); the cards are rendered as `cards()` is iterated,
        so an import can write the first ones while the rest are rendered."""
        self.package = Package()
        self.package.media_names = self._media_map()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "collection.sqlite"
            with open(path, "wb") as out:
                for chunk in self._chunks(self.collection, self.limits.member_bytes):
                    out.write(chunk)
            conn = _open_sqlite(path, self.limits.seconds)
            try:
                _check_schema(conn)
                return CollectionReader(conn, self.package, self.limits, self.modern, with_scheduling)
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise PackageError(
                        f"Reading the collection took longer than {self.limits.seconds:g} s; it was stopped."
                    ) from None
                raise PackageError(f"The Anki collection could not be read: {exc}") from None
            except sqlite3.DatabaseError as exc:
                raise PackageError(f"The Anki collection could not be read: {exc}") from None
            finally:
                conn.close()


class _Prefixed(io.RawIOBase):
    """A stream with its first bytes already read (to sniff the zstd magic)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.rest.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _open_sqlite(path: Path, seconds: float) -> sqlite3.Connection:
    uri = f"file:{pathname2url(os.fspath(path))}?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    deadline = time.monotonic() + seconds
    # Called every N virtual-machine steps; a non-zero answer aborts the query.
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def _check_schema(conn: sqlite3.Connection) -> None:
    for kind, name, table in conn.execute("SELECT type, name, tbl_name FROM sqlite_master"):
        if kind in ("view", "trigger") and (str(name).lower() in READ_TABLES or str(table).lower() in READ_TABLES):
            raise PackageError(f"The collection's {name!s} is a {kind}; packages with views or triggers are refused.")
    tables = {str(n).lower() for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for needed in ("notes", "col"):
        if needed not in tables:
            raise PackageError(f"The collection has no {needed} table.")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is {'empty (NULL)' if value is None else type(value).__name__}, not text")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} is {'empty (NULL)' if value is None else type(value).__name__}, not a number")
    return value


def _json_map(value: Any, what: str) -> dict:
    text = _text(value, what)
    try:
        doc = json.loads(text or "{}")
    except ValueError:
        raise PackageError(f"The collection's {what} is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise PackageError(f"The collection's {what} should be a map, not a {type(doc).__name__}.")
    return doc


def _note_types(conn: sqlite3.Connection, modern: bool) -> dict[int, NoteType]:
    types: dict[int, NoteType] = {}
    try:
        if modern:
            fields: dict[int, list[str]] = {}
            for ntid, _, name in conn.execute("SELECT ntid, ord, name FROM fields ORDER BY ntid, ord"):
                fields.setdefault(_int(ntid, "field"), []).append(_text(name, "field name"))
            templates: dict[int, list[tuple[str, str, str]]] = {}
            for ntid, _, name, config in conn.execute(
                "SELECT ntid, ord, name, config FROM templates ORDER BY ntid, ord"
            ):
                if not isinstance(config, bytes):
                    raise ValueError("template config")
                parsed = protobuf.decode(config)
                templates.setdefault(_int(ntid, "template"), []).append(
                    (_text(name, "template name"), protobuf.first_str(parsed, 1), protobuf.first_str(parsed, 2))
                )
            for ntid, name, config in conn.execute("SELECT id, name, config FROM notetypes"):
                kind = protobuf.first_int(protobuf.decode(config), 1) if isinstance(config, bytes) else 0
                types[_int(ntid, "note type id")] = NoteType(
                    name=_text(name, "note type name"),
                    fields=tuple(fields.get(ntid, [])),
                    templates=tuple(templates.get(ntid, [])),
                    is_cloze=kind == 1,
                )
            return types
        (models,) = conn.execute("SELECT models FROM col LIMIT 1").fetchone() or ("{}",)
        for key, model in _json_map(models, "note types").items():
            if not isinstance(model, dict):
                raise ValueError(f"note type {key}")
            flds = model.get("flds") or []
            tmpls = model.get("tmpls") or []
            if not isinstance(flds, list) or not isinstance(tmpls, list):
                raise ValueError(f"note type {key}")
            types[int(key)] = NoteType(
                name=str(model.get("name") or ""),
                fields=tuple(str(f["name"]) for f in sorted(flds, key=lambda f: int(f.get("ord", 0)))),
                templates=tuple(
                    (str(t.get("name") or ""), str(t.get("qfmt") or ""), str(t.get("afmt") or ""))
                    for t in sorted(tmpls, key=lambda t: int(t.get("ord", 0)))
                ),
                is_cloze=model.get("type") == 1,
            )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PackageError(f"The collection's note types could not be read ({exc}).") from None
    return types


def _decks(conn: sqlite3.Connection, modern: bool) -> dict[int, tuple[str, ...]]:
    decks: dict[int, tuple[str, ...]] = {}
    try:
        if modern:
            for did, name in conn.execute("SELECT id, name FROM decks"):
                decks[_int(did, "deck id")] = tuple(p.strip() for p in _text(name, "deck name").split("\x1f"))
            return decks
        (raw,) = conn.execute("SELECT decks FROM col LIMIT 1").fetchone() or ("{}",)
        for key, deck in _json_map(raw, "decks").items():
            if not isinstance(deck, dict):
                raise ValueError(f"deck {key}")
            decks[int(key)] = tuple(p.strip() for p in str(deck.get("name") or "Default").split("::"))
    except (ValueError, TypeError) as exc:
        raise PackageError(f"The collection's decks could not be read ({exc}).") from None
    return decks


def _schedules(conn: sqlite3.Connection, cap: int) -> dict[tuple[int, int], AnkiSchedule]:
    """(note id, ordinal) -> the card's Anki state and review log."""
    row = conn.execute("SELECT crt FROM col LIMIT 1").fetchone()
    crt = row[0] if row and isinstance(row[0], int) else 0
    by_card: dict[int, AnkiSchedule] = {}
    out: dict[tuple[int, int], AnkiSchedule] = {}
    query = "SELECT id, nid, ord, type, queue, due, ivl, factor, reps, lapses, data FROM cards LIMIT ?"
    for cid, nid, ordinal, *numbers, data in conn.execute(query, (cap,)):
        if not all(isinstance(v, int) for v in (cid, nid, ordinal, *numbers)):
            continue
        stability = difficulty = None
        if isinstance(data, str) and data.startswith("{"):
            try:
                memory = json.loads(data)
                stability, difficulty = float(memory["s"]), float(memory["d"])
            except (ValueError, KeyError, TypeError):
                pass
        schedule = AnkiSchedule(*numbers, crt=crt, stability=stability, difficulty=difficulty)
        by_card[cid] = out[(nid, ordinal)] = schedule
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'revlog' AND type = 'table'").fetchone():
        log = "SELECT id, cid, ease, ivl, lastIvl, factor, time, type FROM revlog ORDER BY id LIMIT ?"
        for rid, cid, *rest in conn.execute(log, (cap * 10,)):
            schedule = by_card.get(cid)
            if schedule is not None and isinstance(rid, int) and all(isinstance(v, int) for v in rest):
                schedule.log.append((rid, *rest))
    return out


class CollectionReader:
    """A collection's notes, note types, decks and card rows, read from its
    SQLite file in one go (a few tens of milliseconds for 10,000 notes), and
    its cards rendered one note at a time by `cards()`.

    `deck_paths` lists, before any card is rendered, every deck a card can
    land in, in order of first use: what an import creates up front (a deck
    none of whose notes renders is left for the caller to remove)."""

    def __init__(
        self, conn: sqlite3.Connection, package: Package, limits: Limits, modern: bool, with_scheduling: bool
    ) -> None:
        self.package = package
        has_notetypes = modern and conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'notetypes'").fetchone()
        note_types = _note_types(conn, bool(has_notetypes))
        self.decks = _decks(conn, bool(has_notetypes))
        (count,) = conn.execute("SELECT count(*) FROM notes").fetchone()
        if count > limits.notes:
            raise PackageTooLarge(f"The package has {count} notes; at most {limits.notes} can be imported at once.")
        # Which cards each note has, and in which deck: Anki decided that when it
        # generated them, and its choice is what the teacher sees in Anki.
        self.card_rows: dict[int, list[tuple[int, int]]] = {}
        cards_cap = limits.notes * 20
        has_cards = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'cards' AND type = 'table'").fetchone()
        if has_cards:
            # A malformed card row (a column not an integer) is left out: its
            # note falls back to its templates.
            query = (
                "SELECT nid, ord, did FROM cards WHERE typeof(nid) = 'integer' AND typeof(ord) = 'integer'"
                " AND typeof(did) = 'integer' ORDER BY nid, ord LIMIT ?"
            )
            card_rows = self.card_rows
            for nid, ordinal, did in conn.execute(query, (cards_cap + 1,)):
                if (mine := card_rows.get(nid)) is None:
                    card_rows[nid] = [(ordinal, did)]
                else:
                    mine.append((ordinal, did))
            if sum(map(len, card_rows.values())) > cards_cap:
                raise PackageTooLarge(f"The package has more than {cards_cap} cards.")
        self.schedules = _schedules(conn, cards_cap) if with_scheduling and has_cards else {}
        self.default_deck = self.decks.get(1, ("Default",))
        # Each note type's templates compiled once, not once per note.
        self.plans = {mid: RenderPlan(note_type) for mid, note_type in note_types.items()}
        self.notes = conn.execute("SELECT id, mid, tags, flds FROM notes ORDER BY id").fetchall()
        # Each deck a card lands in, in order of first use.
        dids: dict[int | None, None] = {}
        get = self.card_rows.get
        for nid, *_ in self.notes:
            mine = get(nid) if type(nid) is int else None
            if not mine:
                dids[None] = None
            elif len(mine) == 1:
                dids[mine[0][1]] = None
            else:
                for _, did in mine:
                    dids[did] = None
        decks, default = self.decks, self.default_deck
        self.deck_paths = list(dict.fromkeys(default if did is None else decks.get(did, default) for did in dids))
        self.cards_expected = sum(len(v) for v in self.card_rows.values()) or len(self.notes)

    def cards(self) -> Iterator[PackageCard]:
        """Every card of every note as Anki renders it, note by note; a note
        that cannot be read or rendered is an error of the package instead."""
        package, decks, default_deck, schedules = self.package, self.decks, self.default_deck, self.schedules
        plans, card_rows = self.plans, self.card_rows
        for number, (nid, mid, tags, flds) in enumerate(self.notes, start=1):
            package.notes = number
            if type(nid) is not int or type(mid) is not int or type(flds) is not str or type(tags) is not str:
                label = nid if isinstance(nid, int) else None
                try:
                    _int(nid, "the note id")
                    _int(mid, "the note type")
                    _text(flds, "the fields")
                    _text(tags, "the tags")
                except ValueError as exc:
                    package.error(number, f"Note {number}: {exc}.", label)
                    continue
            plan = plans.get(mid)
            if plan is None:
                package.error(number, f"Note {number}: its note type {mid} is not in the package.", nid)
                continue
            mine = card_rows.get(nid)
            tags = tags.strip()
            try:
                rendered: list[RenderedCard] = plan.render(
                    flds.split("\x1f"),
                    [o for o, _ in mine] if mine else None,
                    None if plan.fast is not None else {"Tags": tags, "Type": plan.note_type.name},
                )
            except TemplateError as exc:
                package.error(number, f"Note {number}: its template cannot be rendered ({exc}).", nid)
                continue
            if not rendered:
                package.error(number, f"Note {number}: every card of it would have an empty front.", nid)
                continue
            if mine and len(mine) == 1:
                deck_of = None
                deck_path = decks.get(mine[0][1], default_deck)
            else:
                deck_of = {o: decks.get(d, default_deck) for o, d in mine} if mine else None
                deck_path = default_deck
            for ordinal, front, back in rendered:
                yield PackageCard(
                    number,
                    nid,
                    ordinal,
                    front,
                    back,
                    tags,
                    deck_of.get(ordinal, default_deck) if deck_of else deck_path,
                    schedules.get((nid, ordinal)) if schedules else None,
                )
