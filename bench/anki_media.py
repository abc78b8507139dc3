"""Anki import of a package heavy with media: our memory and time beside the
official Anki library's import of the same file.

    python -m bench.anki_media                                 # 200 MB of media
    BENCH_MEDIA_MB=1000 python -m bench.anki_media             # a full 1 GB package

The package is built by the official `anki` library (a dev dependency; the
application never imports it): BENCH_MEDIA_MB of distinct 5 MB pictures of
random bytes (real pictures hardly compress, so the package is as big as its
media), one note each. Ours is parse + import of a new deck for a `bench_anki`
user (replaced on each run; never point it at production) into a temporary
MEDIA_ROOT, with the staging folder in the same temporary folder; Anki's is
`import_anki_package` into a fresh collection (which copies the media into
its media folder too). BENCH_ROUNDS rounds (default 3) alternate the two, so
both see the same load; wall clock and CPU time, best of the rounds, and the
ratio. Then one more round of ours under tracemalloc: the peak of Python
memory (tracemalloc slows the code it watches, so that round is not timed).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

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

from bench.anki_import import Timing, report  # noqa: E402
from learning import transfer  # noqa: E402
from learning.models import MediaBlob  # noqa: E402
from lms.models import User  # noqa: E402
from tests.learning.anki_packages import PNG  # noqa: E402

MEDIA_MB = int(os.environ.get("BENCH_MEDIA_MB", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
FILE_MB = 5
MB = 1024 * 1024


def build_package(folder: Path) -> tuple[Path, list[str]]:
    """The package and its pictures' SHA-256 (random: this run's alone)."""
    col = Collection(os.fspath(folder / "source.anki2"))
    model = col.models.by_name("Basic")
    digests = []
    requests = []
    for i in range(max(1, MEDIA_MB // FILE_MB)):
        picture = PNG + os.urandom(FILE_MB * MB - len(PNG))
        digests.append(hashlib.sha256(picture).hexdigest())
        Path(col.media.dir(), f"picture {i}.png").write_bytes(picture)
        note = col.new_note(model)
        note["Front"] = f'picture {i} <img src="picture {i}.png">'
        note["Back"] = f"answer {i}"
        requests.append(AddNoteRequest(note=note, deck_id=1))
    col.add_notes(requests)
    out = folder / "media.apkg"
    col.export_anki_package(
        out_path=os.fspath(out),
        options=ExportAnkiPackageOptions(with_scheduling=False, with_media=True, legacy=False),
        limit=ExportLimit(),
    )
    col.close()
    return out, digests


def time_anki(package: Path, folder: Path, round_: int, count: int) -> Timing:
    home = folder / f"anki{round_}"
    home.mkdir()
    col = Collection(os.fspath(home / "target.anki2"))
    started, cpu = time.perf_counter(), time.process_time()
    col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=os.fspath(package), options=ImportAnkiPackageOptions(with_scheduling=False)
        )
    )
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu)
    assert col.card_count() == count, col.card_count()
    col.close()
    return timing


def _fresh_user(digests: list[str]) -> User:
    """This run's user and blobs made anew, so each round stores every file
    again (outside the timing: hashing a password takes half a second)."""
    User.objects.filter(username="bench_anki").delete()
    MediaBlob.objects.filter(sha256__in=digests).delete()
    return User.objects.create_user("bench_anki", password="bench-pass-123", role="teacher")


def _our_import(package: Path, count: int, user: User) -> None:
    with open(package, "rb") as upload:
        parsed = transfer.parse_upload("media.apkg", upload)
        _, cards = transfer.deck_import_new(user=user, parsed=parsed)
    assert len(cards) == count, len(cards)


def time_ours(package: Path, digests: list[str]) -> Timing:
    user = _fresh_user(digests)
    started, cpu = time.perf_counter(), time.process_time()
    _our_import(package, len(digests), user)
    return Timing(time.perf_counter() - started, time.process_time() - cpu)


def main() -> int:
    settings.DEBUG = False  # as in production: no query log on every cursor
    settings.IMPORT_MAX_MEDIA_BYTES = max(settings.IMPORT_MAX_MEDIA_BYTES, (MEDIA_MB + FILE_MB) * MB)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings.MEDIA_ROOT = folder / "media"
        settings.FILE_UPLOAD_TEMP_DIR = str(folder)  # staging on the media volume, as advised
        started = time.perf_counter()
        package, digests = build_package(folder)
        count = len(digests)
        print(
            f"package: {count} pictures of {FILE_MB} MB ({count * FILE_MB} MB of media), "
            f"{package.stat().st_size / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s"
        )
        anki_times, our_times = [], []
        for r in range(ROUNDS):
            anki_times.append(time_anki(package, folder, r, count))
            our_times.append(time_ours(package, digests))
        user = _fresh_user(digests)
        tracemalloc.start()
        try:
            _our_import(package, count, user)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        User.objects.filter(username="bench_anki").delete()
        MediaBlob.objects.filter(sha256__in=digests).delete()
    report(anki_times, our_times)
    print(f"our peak Python memory (tracemalloc): {peak / MB:.1f} MB for {count * FILE_MB} MB of media")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
