"""Worker CPU per request of the pages issue #15 sets goals for, in-process.

    DATABASE_URL=... REDIS_URL=... python -m bench.pages [--rounds 5] [--profile DIR]

Runs the code one gunicorn worker runs (Django's test client through the whole
middleware stack, the settings of the environment) for `/health/live/` (the
reference), the student dashboard (cached, as students see it between their
answers, and right after an answer, when it is rebuilt) and the anonymous
`/status/` page, interleaved round by round, and prints the CPU time of this
process per request (the database's own time is not in it), each page's ratio
to the trivial one and its query count. Medians over the rounds: the machine
is shared, so the ratios are the comparable part. `--profile DIR` writes a
pyinstrument text profile of each page's requests.

It creates one student (`pages-<run>`) with a 200-card deck and 60 answers in
a cram session (no daily limit: every "after an answer" follows a real
answer) in the database it is pointed at, and deletes them at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable

REQUESTS = 50  # per page per round


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", metavar="DIR", help="write a pyinstrument profile of each page here")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
    os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from learning import transfer
    from lms.models import User

    user = User.objects.create_user(f"pages-{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex, role="student")
    try:
        parsed = transfer.parse_csv(("front,back\n" + "".join(f"q{i},a{i}\n" for i in range(200))).encode())
        deck, _ = transfer.deck_import_new(
            user=user, parsed=parsed, title="Pages deck", lesson=None, skip_invalid=False
        )
        # The first allowed host: the settings of a real deployment may not allow "testserver".
        host = (
            settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS and settings.ALLOWED_HOSTS[0] != "*" else "testserver"
        )
        student = Client(HTTP_HOST=host)
        student.force_login(user)
        anonymous = Client(HTTP_HOST=host)
        session = student.post(
            "/api/v1/study-sessions/", {"scope_type": "deck", "scope_id": deck.pk, "mode": "cram"}, "application/json"
        ).json()
        url = f"/api/v1/study-sessions/{session['id']}/"

        def answer() -> None:
            body = student.get(url + "next/").json()
            assert not body["done"], "the cram session ran out of cards"
            student.post(url + "answer/", {"card": body["card"]["id"], "quality": 4}, "application/json")

        for _ in range(60):
            answer()

        pages: dict[str, tuple[Callable[[], object], Callable[[], None] | None]] = {
            "trivial": (lambda: anonymous.get("/health/live/"), None),
            "status (anonymous)": (lambda: anonymous.get("/status/"), None),
            "dashboard (cached)": (lambda: student.get("/dashboard/"), None),
            "dashboard (after an answer)": (lambda: student.get("/dashboard/"), answer),
        }
        for fetch, _ in pages.values():
            assert fetch().status_code == 200  # warm up imports, templates and caches
        cpu: dict[str, list[float]] = {name: [] for name in pages}
        queries: dict[str, int] = {}
        # A page's "before" step (an answer) runs outside the timing.
        for _ in range(args.rounds):
            for name, (fetch, before) in pages.items():
                spent = 0.0
                for _ in range(REQUESTS if before is None else REQUESTS // 5):
                    if before is not None:
                        before()
                    with CaptureQueriesContext(connection) as ctx:
                        started = time.process_time()
                        fetch()
                        spent += time.process_time() - started
                    queries[name] = len(ctx.captured_queries)
                cpu[name].append(spent * 1000 / (REQUESTS if before is None else REQUESTS // 5))
        trivial = statistics.median(cpu["trivial"])
        print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, medians of the rounds")
        print(f"{'page':<30} {'CPU ms/request':>15} {'x trivial':>10} {'throughput ratio':>17} {'queries':>8}")
        for name, values in cpu.items():
            ms = statistics.median(values)
            print(f"{name:<30} {ms:>15.2f} {ms / trivial:>10.2f} {trivial / ms:>17.2f} {queries[name]:>8}")
        if args.profile:
            from pyinstrument import Profiler

            os.makedirs(args.profile, exist_ok=True)
            for name, (fetch, before) in pages.items():
                profiler = Profiler(interval=0.0005)
                for _ in range(REQUESTS // 5):
                    if before is not None:
                        before()
                    profiler.start()
                    fetch()
                    profiler.stop()
                path = os.path.join(args.profile, name.split(" ")[0] + ("-miss" if before else "") + ".txt")
                with open(path, "w", encoding="utf-8") as out:
                    out.write(profiler.output_text(unicode=True, color=False, show_all=False))
            print(f"profiles written to {args.profile}")
    finally:
        user.delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
