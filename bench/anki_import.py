"""Anki import benchmark: the same 10,000-note package imported by us and by
the official Anki library, side by side, and the ratio (goal: at most 2×).

    python -m bench.anki_import                 # SQLite (the embedded default)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_bench python -m bench.anki_import

The package is built by the official `anki` library (a dev dependency; the
application never imports it): BENCH_NOTES Basic and reversed notes (default
10,000, so 20,000 cards) in three subdecks, hierarchical tags, coloured text
and one picture shared by every tenth note. Ours is parse + import of new decks
for a `bench_anki` user (replaced on each run; never point it at production);
Anki's is `import_anki_package` into a fresh collection. Each side runs
BENCH_ROUNDS times (default 3), the two alternating round by round so both
see the same load; the best time of each is compared, wall-clock and CPU
(ours counts its PostgreSQL backend's CPU too, read with psutil when the
server is on this machine: on a loaded machine the wall clock also measures
how long each process waited for a core).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django
import psutil

django.setup()

from anki.collection import (  # noqa: E402
    AddNoteRequest,
    Collection,
    ExportAnkiPackageOptions,
    ImportAnkiPackageOptions,
    ImportAnkiPackageRequest,
)
from anki.import_export_pb2 import ExportLimit  # noqa: E402
from django.conf import settings  # noqa: E402

from learning import transfer  # noqa: E402
from learning.models import Deck  # noqa: E402
from lms.models import User  # noqa: E402
from tests.learning.anki_packages import PNG  # noqa: E402

NOTES = int(os.environ.get("BENCH_NOTES", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def build_package(folder: Path) -> Path:
    col = Collection(os.fspath(folder / "source.anki2"))
    model = col.models.by_name("Basic (and reversed card)")
    decks = [col.decks.id(name) for name in ("Lang::French::Verbs", "Lang::French::Nouns", "Lang::German")]
    Path(col.media.dir(), "shared picture.png").write_bytes(PNG)
    requests = []
    for i in range(NOTES):
        note = col.new_note(model)
        picture = ' <img src="shared picture.png">' if i % 10 == 0 else ""
        note["Front"] = f"word {i}{picture}"
        note["Back"] = f'<span style="color: red">meaning</span> {i}'
        note.tags = [f"level::{i % 5}", "bench"]
        requests.append(AddNoteRequest(note=note, deck_id=decks[i % 3]))
    col.add_notes(requests)
    out = folder / "bench.apkg"
    col.export_anki_package(
        out_path=os.fspath(out),
        options=ExportAnkiPackageOptions(with_scheduling=False, with_media=True, legacy=False),
        limit=ExportLimit(),
    )
    col.close()
    return out


class Timing(NamedTuple):
    wall: float
    cpu: float  # CPU seconds: the process's own, plus on PostgreSQL its server backend's


def _backend_cpu() -> Callable[[], float]:
    """CPU seconds used so far by this connection's PostgreSQL backend, when
    the server runs on this machine (else 0: the figure is then ours alone)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return lambda: 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        backend = psutil.Process(pid)
        backend.cpu_times()
    except (psutil.Error, OSError):
        return lambda: 0.0
    return lambda: sum(backend.cpu_times()[:2])


def time_anki(package: Path, folder: Path, round_: int) -> Timing:
    col = Collection(os.fspath(folder / f"target{round_}.anki2"))
    started, cpu = time.perf_counter(), time.process_time()  # every thread of this process
    col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=os.fspath(package), options=ImportAnkiPackageOptions(with_scheduling=False)
        )
    )
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu)
    assert col.card_count() == 2 * NOTES, col.card_count()
    col.close()
    return timing


def _fresh_tables() -> None:
    """The card tables as Anki's side finds its new collection: without the
    dead rows of the previous round (PostgreSQL keeps them until a vacuum;
    a server with autovacuum off, like this machine's, never reclaims them,
    and each round then writes into tables and indexes that grew by 20,000
    dead cards: 13 million after a day of runs, and the import twice as slow)."""
    from django.db import connection

    from learning.models import Card

    if connection.vendor != "postgresql":
        return
    tables = [Card._meta.db_table, Card.media.through._meta.db_table, Deck._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(connection.ops.quote_name(t) for t in tables)}")


def time_ours(package: Path) -> Timing:
    User.objects.filter(username="bench_anki").delete()
    _fresh_tables()
    user = User.objects.create_user("bench_anki", password="bench-pass-123", role="teacher")
    data = package.read_bytes()
    server = _backend_cpu()
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), server()
    parsed = transfer.parse_upload("bench.apkg", data, stream=True)  # as the background import reads it
    _, cards = transfer.deck_import_new(user=user, parsed=parsed)
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu + server() - server_cpu)
    assert len(cards) == 2 * NOTES, len(cards)
    assert Deck.objects.filter(owner=user).count() == 3
    return timing


def report(anki_times: list[Timing], our_times: list[Timing], *, goal: float | None = None) -> None:
    """Each round side by side, then the best of each and their ratio, wall and
    CPU. The goal (issue #11: the import takes at most 2× Anki's) is judged on
    the wall clock, the time a teacher waits; the CPU ratio is for capacity
    (ours counts PostgreSQL's server process, which works beside our thread)."""
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    for what in ("wall", "cpu"):
        anki = min(getattr(t, what) for t in anki_times)
        ours = min(getattr(t, what) for t in our_times)
        rounds = ", ".join(
            f"{getattr(a, what):.2f}/{getattr(o, what):.2f}" for a, o in zip(anki_times, our_times, strict=True)
        )
        ratio = ours / anki
        verdict = ""
        if goal is not None and what == "wall":
            verdict = f" (goal ≤ {goal:g}×) {'OK' if ratio <= goal else 'SLOWER THAN THE GOAL'}"
        elif goal is not None:
            verdict = " (capacity, not the goal)"
        print(f"{what} s, rounds (anki/ours): {rounds}")
        print(f"{what}: official anki {anki:.2f} s, ours {ours:.2f} s ({engine}): {ratio:.2f}×{verdict}")


def main() -> int:
    settings.IMPORT_MAX_NOTES = max(settings.IMPORT_MAX_NOTES, NOTES)
    settings.DEBUG = False  # as in production: no query log on every cursor
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings.MEDIA_ROOT = folder / "media"
        started = time.perf_counter()
        package = build_package(folder)
        print(
            f"package: {NOTES} notes, {package.stat().st_size / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s"
        )
        # Rounds alternate, so both sides see the same load on a shared machine.
        anki_times, our_times = [], []
        for r in range(ROUNDS):
            anki_times.append(time_anki(package, folder, r))
            our_times.append(time_ours(package))
        User.objects.filter(username="bench_anki").delete()
    report(anki_times, our_times, goal=2.0)
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
