"""A load benchmark anyone can run against a running server (issue #15).

    python -m bench.load --url http://127.0.0.1:8000 --clients 20 --seconds 10
    make loadtest URL=http://127.0.0.1:8000

It starts nothing: it creates its own students (one per client,
`load-<run>-<n>`, written into the server's database: run it with the
server's DATABASE_URL), each with their own API token, logs them in through
the log-in page and imports a personal deck from a CSV of `--cards` cards
through the API, then runs, one phase after another, each for `--seconds`
with `--clients` concurrent clients:

- trivial: `GET /health/live/` (the reference the others are divided by);
- study: the real study loop through the API, as an app runs it: `next/`
  for a session's first card, then `answer/?next=1`, whose body carries the
  card after it (one request per card; against a server without it, each
  answer is followed by `next/`); `--study-loop pairs` runs `next/` then
  `answer/` for every card instead. A new learn session when one is used up.
  The study phase's requests/s counts every request of the loop (session
  starts and `next/` included); answers/s is printed beside it;
- dashboard: the student dashboard page;
- status: the public status page, anonymous.

In the study, dashboard and status phases every fifth request is the
trivial endpoint, interleaved on the same server. It prints requests/s,
p50/p95/p99 and errors per phase, each phase's throughput as a ratio of the
trivial one, and a capacity line (answering students at one answer per 8 s).

Loopback only, bounded in time and count. The server's per-user API throttle
(API_THROTTLE_USER, 100/minute by default) would answer most study requests
429: start the server with a high one for the run (README, "Load benchmark").

`--rounds N` runs the phases N times and ends with each phase's median req/s
and the median of its per-round ratios to the trivial phase. `--slices K`
splits each phase of a round into K slices taken in turn with the other
phases' (trivial, status, trivial, status, ...), so on a shared machine whose
load swings within seconds both sides of a ratio see the same moments.

`--profile out.html` instead runs the same study loop in this process through
Django's test client under pyinstrument (the code one worker runs; needs the
project's settings and DATABASE_URL of the server) and writes the profile.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
PASSWORD = "load-pass-%s-Xy9"
ANSWER_EVERY_SECONDS = 8  # a student thinking about each card
TRIVIAL_EVERY = 5  # one trivial request in five in the mixed phases


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    answers: int = 0  # study answers recorded (201 or a replay's 200)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self) -> None:
        with self.lock:
            self.answers += 1

    def record(self, kind: str, seconds: float, ok: bool, status: int) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1
                self.statuses[status] += 1


def create_students(run: str, count: int) -> list[tuple[str, str, str]]:
    """(username, password, API token) of `count` new students, written
    straight into the server's database (sign-up now waits for an emailed
    link, which a benchmark cannot follow): needs the project's settings and
    the server's DATABASE_URL, like --profile."""
    _django_setup()
    from lms.models import User
    from lms.tokens import token_issue

    out = []
    for n in range(count):
        name, password = f"load-{run}-{n}", PASSWORD % uuid.uuid4().hex[:8]
        user = User.objects.create_user(name, email=f"{name}@load.invalid", password=password, role="student")
        out.append((name, password, token_issue(user=user)[1]))
    return out


class Student:
    """One student with a personal deck: the API with their own token, the
    pages with a session from the log-in form."""

    def __init__(self, base: str, name: str, password: str, token: str, cards: int, loop: str = "answer-next") -> None:
        self.base = base
        self.loop = loop
        self.card: dict | None = None  # the card to answer next, when an answer's body brought it
        self.http = requests.Session()  # the pages, with the session cookie
        self.api = requests.Session()  # the API, with the token alone (as an app sends it)
        self.api.headers["Authorization"] = f"Token {token}"
        self.name = name
        self._log_in(password)
        self.deck_id = self._import(cards)
        self.session_id: int | None = None

    def _plain_http_cookies(self) -> None:
        # With DEBUG off the server marks its cookies Secure; on loopback HTTP
        # the client must send them anyway.
        for cookie in self.http.cookies:
            cookie.secure = False

    def _log_in(self, password: str) -> None:
        self.http.get(f"{self.base}/accounts/login/", timeout=30)
        self._plain_http_cookies()
        response = self.http.post(
            f"{self.base}/accounts/login/",
            data={
                "csrfmiddlewaretoken": self.http.cookies.get("csrftoken", ""),
                "username": self.name,
                "password": password,
            },
            headers={"Referer": f"{self.base}/accounts/login/"},
            allow_redirects=False,
            timeout=30,
        )
        if response.status_code != 302:
            raise SystemExit(f"log-in of {self.name} answered {response.status_code}")
        self._plain_http_cookies()  # the session, and the CSRF token rotated at log-in

    def _import(self, cards: int) -> int:
        rows = "front,back\n" + "".join(f"load question {i},answer {i}\n" for i in range(cards))
        response = self.api.post(
            f"{self.base}/api/v1/decks/import/",
            files={"file": ("load.csv", io.BytesIO(rows.encode()), "text/csv")},
            data={"title": f"Load deck of {self.name}"},
            timeout=60,
        )
        if response.status_code != 201:
            raise SystemExit(f"deck import for {self.name} answered {response.status_code}: {response.text[:200]}")
        return response.json()["deck"]

    def _start(self, mode: str) -> requests.Response:
        return self.api.post(
            f"{self.base}/api/v1/study-sessions/",
            json={"scope_type": "deck", "scope_id": self.deck_id, "mode": mode},
            timeout=30,
        )

    def study_step(self, tally: Tally) -> None:
        """next/ then answer/ (a new session when the last one is over)."""
        if self.session_id is None:
            for mode in ("learn", "cram"):  # cram once the day's new cards are used up
                started = time.perf_counter()
                response = self._start(mode)
                # A learn session refused with 422 (no new cards left today) is
                # an answer, not an error: the loop goes on to cram.
                expected = response.status_code == 201 or (mode == "learn" and response.status_code == 422)
                tally.record("study", time.perf_counter() - started, expected, response.status_code)
                if response.status_code == 201:
                    self.session_id = response.json()["id"]
                    break
            else:
                return
        url = f"{self.base}/api/v1/study-sessions/{self.session_id}/"
        body = self.card
        self.card = None
        if body is None:
            started = time.perf_counter()
            response = self.api.get(url + "next/", timeout=30)
            tally.record("study", time.perf_counter() - started, response.status_code == 200, response.status_code)
            if response.status_code != 200 or response.json().get("done"):
                self.session_id = None
                return
            body = response.json()
        started = time.perf_counter()
        response = self.api.post(
            url + ("answer/?next=1" if self.loop == "answer-next" else "answer/"),
            json={"card": body["card"]["id"], "quality": 4, "idempotency_key": body["idempotency_key"]},
            timeout=30,
        )
        ok = response.status_code in (200, 201)
        tally.record("study", time.perf_counter() - started, ok, response.status_code)
        if not ok:
            return
        tally.answered()
        answered = response.json()
        following = answered.get("next")
        if answered.get("session_done") or (following is not None and following.get("done")):
            self.session_id = None
        elif following is not None:
            self.card = following

    def get(self, tally: Tally, kind: str, path: str) -> None:
        page_get(self.http, self.base + path, tally, kind)
        # The idle-timeout stamp rewrites the session every five minutes, and
        # its cookie comes back Secure: without this a run longer than five
        # minutes went on with anonymous pages.
        self._plain_http_cookies()


def page_get(http: requests.Session, url: str, tally: Tally, kind: str) -> None:
    """GET a page and read its body as sent (gzip, as a browser asks for it)
    without decompressing it: the client shares the server's cores here, and
    inflating a 56 KB page is the browser's work, not the server's (it cost
    the client more than a trivial request's whole round)."""
    started = time.perf_counter()
    response = http.get(url, timeout=30, stream=True)
    response.raw.read(decode_content=False)  # to the end: the connection goes back to the pool
    tally.record(kind, time.perf_counter() - started, response.status_code == 200, response.status_code)


def anonymous_get(base: str, tally: Tally, kind: str, path: str, http: requests.Session) -> None:
    page_get(http, base + path, tally, kind)


def run_phase(name: str, students: list[Student], seconds: float, base: str) -> tuple[Tally, float]:
    tally = Tally()
    deadline = time.monotonic() + seconds

    def client(student: Student) -> None:
        anonymous = requests.Session()
        step = 0
        actions: dict[str, Callable[[], None]] = {
            "trivial": lambda: anonymous_get(base, tally, "trivial", "/health/live/", anonymous),
            "study": lambda: student.study_step(tally),
            "dashboard": lambda: student.get(tally, "dashboard", "/dashboard/"),
            "status": lambda: anonymous_get(base, tally, "status", "/status/", anonymous),
        }
        while time.monotonic() < deadline:
            step += 1
            try:
                if name != "trivial" and step % TRIVIAL_EVERY == 0:
                    actions["trivial"]()
                else:
                    actions[name]()
            except requests.RequestException:
                tally.record(name, 0.0, False, 0)

    return tally, run_clients(students, client, seconds)


def run_clients(students: list[Student], client: Callable[[Student], None], seconds: float) -> float:
    """`client(student)` in a thread per student (it runs until its own
    deadline, `seconds` from now); the seconds they took."""
    threads = [threading.Thread(target=client, args=(s,), daemon=True) for s in students]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def report(results: dict[str, tuple[Tally, float]]) -> dict[str, float]:
    rates: dict[str, float] = {}
    print(f"\n{'phase':<10} {'kind':<10} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for phase, (tally, elapsed) in results.items():
        for kind, values in sorted(tally.latencies.items(), key=lambda kv: kv[0] != phase):
            rate = len(values) / elapsed
            if kind == phase:
                rates[phase] = rate
            ms = [v * 1000 for v in values]
            print(
                f"{phase:<10} {kind:<10} {rate:8.1f} {statistics.median(ms):8.1f} {percentile(ms, 0.95):8.1f} "
                f"{percentile(ms, 0.99):8.1f} {tally.errors.get(kind, 0):7d}"
            )
        if tally.statuses:
            print(f"{'':<10} error statuses: {dict(tally.statuses)}")
    trivial = rates.get("trivial") or 0.0
    mixed_rates: dict[str, float] = {}
    print("\nthroughput against the trivial endpoint (same server, same clients):")
    for phase, rate in rates.items():
        if phase != "trivial" and trivial:
            tally, elapsed = results[phase]
            # One request in TRIVIAL_EVERY of a mixed phase is the trivial one:
            # a page exactly as fast as it reads (1 - 1/TRIVIAL_EVERY) = 0.80
            # here; with them counted, as fast reads 1.00.
            mixed = sum(len(v) for v in tally.latencies.values()) / elapsed
            print(
                f"  {phase:<10} {rate:8.1f} req/s / {trivial:.1f} = {rate / trivial:.2f}"
                f"   (with its interleaved trivial requests {mixed:.1f} req/s = {mixed / trivial:.2f})"
            )
            mixed_rates[f"{phase}+trivial"] = mixed
    if "study" in rates:
        tally, elapsed = results["study"]
        answers = tally.answers / elapsed
        print(f"  {'':<10} {answers:8.1f} answers/s / {trivial:.1f} = {answers / trivial if trivial else 0:.2f}")
        print(
            f"\ncapacity: this server sustains ~{answers * ANSWER_EVERY_SECONDS:,.0f} answering students "
            f"at one answer per {ANSWER_EVERY_SECONDS} s ({answers:.1f} answers/s)"
        )
    return rates | mixed_rates


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
    import django

    django.setup()


def profile(path: str, cards: int, answers: int) -> None:
    """The study loop in this process under pyinstrument (one worker's code)."""
    os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")  # one student, as fast as it goes
    _django_setup()
    from django.test import Client
    from pyinstrument import Profiler

    from learning import transfer
    from lms.models import User

    name = f"load-profile-{uuid.uuid4().hex[:8]}"
    user = User.objects.create_user(name, password=uuid.uuid4().hex, role="student")
    parsed = transfer.parse_csv(("front,back\n" + "".join(f"q{i},a{i}\n" for i in range(cards))).encode())
    deck, _ = transfer.deck_import_new(user=user, parsed=parsed, title="Profile deck", lesson=None, skip_invalid=False)
    client = Client()
    client.force_login(user)
    client.get("/health/live/")  # warm up imports
    session = client.post(
        "/api/v1/study-sessions/", {"scope_type": "deck", "scope_id": deck.pk, "mode": "cram"}, "application/json"
    ).json()
    url = f"/api/v1/study-sessions/{session['id']}/"

    def study_pairs(count: int) -> int:
        done = 0
        for _ in range(count):
            body = client.get(url + "next/").json()
            if body["done"]:
                break
            client.post(url + "answer/", {"card": body["card"]["id"], "quality": 4}, "application/json")
            done += 1
        return done

    # CPU of this process (the worker's share; the database's is not in it),
    # side by side with the trivial endpoint in the same run.
    started = time.process_time()
    for _ in range(100):
        client.get("/health/live/")
    trivial_ms = (time.process_time() - started) * 1000 / 100
    started = time.process_time()
    pairs = study_pairs(answers // 2)
    pair_ms = (time.process_time() - started) * 1000 / max(1, pairs)
    print(
        f"worker CPU per request: trivial {trivial_ms:.2f} ms; study next/+answer/ pair {pair_ms:.2f} ms "
        f"({pair_ms / 2:.2f} ms a request, {pair_ms / 2 / trivial_ms:.1f}x the trivial one) over {pairs} answers"
    )
    profiler = Profiler()
    profiler.start()
    study_pairs(answers // 2)
    profiler.stop()
    with open(path, "w", encoding="utf-8") as out:
        out.write(profiler.output_html())
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    with open(path.rsplit(".", 1)[0] + ".txt", "w", encoding="utf-8") as out:
        out.write(text)
    print(f"profile of up to {answers // 2} next/answer pairs written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cards", type=int, default=200, help="cards in each student's deck")
    parser.add_argument("--phases", default="trivial,study,dashboard,status")
    parser.add_argument("--rounds", type=int, default=1, help="run the phases N times; report medians of rounds")
    parser.add_argument(
        "--slices",
        type=int,
        default=1,
        help="split each phase of a round into K slices run in turn with the other phases' (on a shared machine "
        "the load moves within seconds: the phases then see the same moments)",
    )
    parser.add_argument("--profile", metavar="HTML", help="profile the study loop in-process instead")
    parser.add_argument(
        "--study-loop",
        choices=["answer-next", "pairs"],
        default="answer-next",
        help="answer-next: answer/?next=1 brings each next card (an app's loop); pairs: next/ then answer/",
    )
    args = parser.parse_args(argv)
    if (
        not 1 <= args.clients <= 200
        or not 1 <= args.seconds <= 600
        or not 1 <= args.cards <= 2000
        or not 1 <= args.rounds <= 20
        or not 1 <= args.slices <= 60
    ):
        parser.error("keep it bounded: 1-200 clients, 1-600 seconds, 1-2000 cards, 1-20 rounds, 1-60 slices")
    if args.profile:
        profile(args.profile, args.cards, answers=min(args.cards, 400))
        return 0
    base = args.url.rstrip("/")
    if urlsplit(base).hostname not in LOOPBACK:
        parser.error("loopback only: point --url at 127.0.0.1 or localhost")
    run = uuid.uuid4().hex[:6]
    print(f"creating {args.clients} students with {args.cards} cards each on {base} ...", flush=True)
    students = [
        Student(base, name, password, token, args.cards, args.study_loop)
        for name, password, token in create_students(run, args.clients)
    ]
    rounds: list[dict[str, float]] = []
    phases = args.phases.split(",")
    for number in range(1, args.rounds + 1):
        print(
            f"round {number}: phases {', '.join(phases)}, {args.clients} clients for {args.seconds:g} s each"
            + (f" in {args.slices} slices taken in turn" if args.slices > 1 else ""),
            flush=True,
        )
        results: dict[str, tuple[Tally, float]] = {}
        for _ in range(args.slices):
            for phase in phases:
                tally, elapsed = run_phase(phase, students, args.seconds / args.slices, base)
                results[phase] = merge(results[phase], (tally, elapsed)) if phase in results else (tally, elapsed)
        rounds.append(report(results))
    if args.rounds > 1:
        report_medians(rounds)
    return 0


def merge(one: tuple[Tally, float], other: tuple[Tally, float]) -> tuple[Tally, float]:
    """Two slices of a phase as one: requests, answers, errors and time added up."""
    tally = Tally()
    for part in (one[0], other[0]):
        tally.answers += part.answers
        for kind, values in part.latencies.items():
            tally.latencies[kind].extend(values)
        for kind, count in part.errors.items():
            tally.errors[kind] += count
        for status, count in part.statuses.items():
            tally.statuses[status] += count
    return tally, one[1] + other[1]


def report_medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each phase's median req/s over the rounds, and the median of its
    per-round ratios to the trivial phase (each round's ratio is side by side:
    the machine's load moves between rounds, so the ratio is the figure)."""
    print(f"\nmedians of {len(rounds)} rounds:")
    medians: dict[str, float] = {}
    for phase in rounds[0]:
        rates = [r[phase] for r in rounds if phase in r]
        medians[phase] = statistics.median(rates)
        line = f"  {phase:<16} {medians[phase]:8.1f} req/s (" + ", ".join(f"{x:.1f}" for x in rates) + ")"
        if phase != "trivial" and all(r.get("trivial") for r in rounds):
            ratios = [r[phase] / r["trivial"] for r in rounds]
            line += f"  ratio median {statistics.median(ratios):.2f} (" + ", ".join(f"{x:.2f}" for x in ratios) + ")"
        print(line)
    return medians


if __name__ == "__main__":
    sys.exit(main())
