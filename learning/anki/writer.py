"""Scheduling written into a package genanki made, so official Anki shows a
student's due dates and review history (Anki's card and revlog columns).

genanki writes every card as new; this rewrites the cards of the notes whose
guid we know and adds their review log, in the package's own collection.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

DAY = 86_400


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    button: int  # 1 Again, 2 Hard, 3 Good, 4 Easy
    interval: int  # days after
    last_interval: int  # days before
    ease: float
    ms: int
    kind: int  # 0 learning, 1 review, 2 relearning


@dataclass
class CardSchedule:
    status: str  # new / learning / review / relearning
    due: datetime
    interval: int
    ease: float
    reps: int
    lapses: int
    suspended: bool = False
    log: list[LogEntry] = field(default_factory=list)


_TYPES = {"new": 0, "learning": 1, "review": 2, "relearning": 3}


def add_scheduling(package: bytes, schedules: dict[str, CardSchedule]) -> bytes:
    """`package` (a genanki .apkg) with the cards of the notes named by guid
    scheduled as `schedules` says, and their review log."""
    source = zipfile.ZipFile(io.BytesIO(package))
    member = "collection.anki2"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.sqlite"
        path.write_bytes(source.read(member))
        conn = sqlite3.connect(path)
        try:
            (crt, conf) = conn.execute("SELECT crt, conf FROM col").fetchone()
            # Without schedVer Anki reads the log as its old v1 scheduler's
            # (three learning buttons) and shifts the buttons we wrote.
            settings = json.loads(conf or "{}")
            settings["schedVer"] = 2
            conn.execute("UPDATE col SET conf = ?", (json.dumps(settings),))
            ids = dict(conn.execute("SELECT n.guid, c.id FROM cards c JOIN notes n ON n.id = c.nid"))
            used: set[int] = set()
            for guid, schedule in schedules.items():
                cid = ids.get(guid)
                if cid is None or schedule.status == "new":
                    continue
                kind = _TYPES.get(schedule.status, 2)
                due_ts = int(schedule.due.timestamp())
                if kind == 2:
                    queue, due = 2, max(0, (due_ts - crt) // DAY)
                else:
                    queue, due = 1, due_ts  # (re)learning cards are due at a moment
                if schedule.suspended:
                    queue = -1
                conn.execute(
                    "UPDATE cards SET type = ?, queue = ?, due = ?, ivl = ?, factor = ?, reps = ?, lapses = ?, "
                    "left = ? WHERE id = ?",
                    (
                        kind,
                        queue,
                        due,
                        schedule.interval,
                        round(schedule.ease * 1000),
                        schedule.reps,
                        schedule.lapses,
                        1 if kind in (1, 3) else 0,
                        cid,
                    ),
                )
                for entry in schedule.log:
                    rid = int(entry.at.timestamp() * 1000)
                    while rid in used:  # revlog ids are unique milliseconds
                        rid += 1
                    used.add(rid)
                    conn.execute(
                        "INSERT INTO revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) "
                        "VALUES (?, ?, -1, ?, ?, ?, ?, ?, ?)",
                        (
                            rid,
                            cid,
                            entry.button,
                            entry.interval,
                            entry.last_interval,
                            round(entry.ease * 1000),
                            min(max(entry.ms, 0), 60_000),
                            entry.kind,
                        ),
                    )
            conn.commit()
        finally:
            conn.close()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = path.read_bytes() if info.filename == member else source.read(info.filename)
                target.writestr(info.filename, data)
    return out.getvalue()
