"""What an answer cannot avoid, beside the study loop and the trivial
endpoint, on one gunicorn (issue #15).

    DATABASE_URL=postgres://... REDIS_URL=redis://... python -m bench.study_floor
    python -m bench.study_floor --clients 20 --seconds 4 --rounds 3

It starts its own gunicorn on a free loopback port (5 workers x 2 threads,
`DEBUG` off, the API throttle out of the way, `bench.floor_settings`: the
project's URLs plus two of the benchmark's own), creates its students the way
`bench.load` does, and runs four phases in turn, round after round, each for
`--seconds` with `--clients` concurrent clients:

- trivial: `GET /health/live/`, the reference;
- study: the real study loop, `answer/?next=1` (one request per card),
  counted in answers;
- floor: `POST /bench/floor/api/` — a DRF view with the project's API
  defaults (token lookup, the per-user throttle's Redis round trip, the JSON
  body parsed), then BEGIN, three prepared one-row statements, COMMIT, and a
  JSON body the size of an answer's. An answer does all of this and more:
  its statements read and write real rows, it schedules the card and
  renders the next one;
- plain: `POST /bench/floor/plain/` — the same transaction and body from a
  plain Django view: no authentication, no throttle, no DRF.

For each phase it prints the throughput, its ratio to the trivial one, and
the CPU each request costs, by component: the server's workers, this
database's PostgreSQL backends, Redis (its own `used_cpu_*`) and the client
(this process, on the same cores) — medians of the rounds' figures. On a
machine shared with other work the throughput swings; the CPU per request
holds better, and the ratio of CPU totals says the same thing as the ratio
of throughputs when the cores are the bottleneck.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil
import requests

from bench import load
from bench import server as server_process

PHASES = ("trivial", "study", "floor", "plain")


@dataclass
class Measure:
    rate: float  # requests (answers in the study phase) per second
    cpu_ms: dict[str, float]  # CPU per request (answer) by component
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, threads: int, metrics_dir: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.floor_settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "API_THROTTLE_USER": "1000000/minute",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "DB_CONN_MAX_AGE": "3600",  # the backends measured stay the same through a phase
    }
    server = server_process.gunicorn(env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/live/", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)


class Meters:
    """CPU seconds so far of the server's workers, this database's PostgreSQL
    backends, Redis and this process."""

    def __init__(self, server: subprocess.Popen) -> None:
        from django.db import connection
        from django_redis import get_redis_connection

        self.master = psutil.Process(server.pid)
        self.connection = connection
        self.redis = get_redis_connection("default")
        self.me = psutil.Process()

    @staticmethod
    def _cpu(processes: dict[int, psutil.Process]) -> dict[int, float]:
        out = {}
        for pid, process in processes.items():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            out[pid] = times.user + times.system
        return out

    def _backends(self) -> dict[int, psutil.Process]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            pids = [row[0] for row in cursor.fetchall()]
        return {pid: psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)}

    def read(self) -> dict[str, dict[int, float] | float]:
        workers = {child.pid: child for child in self.master.children(recursive=True)}
        info = self.redis.info("cpu")
        return {
            "workers": self._cpu(workers),
            "postgres": self._cpu(self._backends()),
            "redis": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            "client": sum(self.me.cpu_times()[:2]),
        }

    @staticmethod
    def spent(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds between two readings; a process born between them
        counts whole (a worker recycled, a connection opened)."""
        out = {}
        for name in after:
            if isinstance(after[name], dict):
                out[name] = sum(seconds - before[name].get(pid, 0.0) for pid, seconds in after[name].items())
            else:
                out[name] = after[name] - before[name]
        return out


def run_phase(name: str, students: list[load.Student], base: str, seconds: float, meters: Meters) -> Measure:
    tally = load.Tally()
    deadline = time.monotonic() + seconds

    def client(student: load.Student) -> None:
        anonymous = requests.Session()

        def post(http: requests.Session, path: str) -> None:
            started = time.perf_counter()
            response = http.post(base + path, json={"card": 1, "quality": 4}, timeout=30)
            tally.record(name, time.perf_counter() - started, response.status_code == 201, response.status_code)

        actions: dict[str, Callable[[], None]] = {
            "trivial": lambda: load.anonymous_get(base, tally, "trivial", "/health/live/", anonymous),
            "study": lambda: student.study_step(tally),
            "floor": lambda: post(student.api, "/bench/floor/api/"),
            "plain": lambda: post(anonymous, "/bench/floor/plain/"),
        }
        while time.monotonic() < deadline:
            try:
                actions[name]()
            except requests.RequestException:
                tally.record(name, 0.0, False, 0)

    before = meters.read()
    elapsed = load.run_clients(students, client, seconds)
    spent = Meters.spent(before, meters.read())
    count = tally.answers if name == "study" else len(tally.latencies[name])
    per = max(1, count)
    return Measure(
        rate=count / elapsed,
        cpu_ms={component: seconds * 1000 / per for component, seconds in spent.items()},
        errors=sum(tally.errors.values()),
    )


def report(results: dict[str, list[Measure]]) -> dict[str, tuple[float, float]]:
    """Prints the table; returns phase -> (throughput ratio, CPU ratio) to the trivial phase."""
    components = list(results["trivial"][0].cpu_ms)
    medians = {
        phase: (
            statistics.median(m.rate for m in runs),
            {c: statistics.median(m.cpu_ms[c] for m in runs) for c in components},
            sum(m.errors for m in runs),
        )
        for phase, runs in results.items()
    }
    trivial_rate, trivial_cpu, _ = medians["trivial"]
    trivial_total = sum(trivial_cpu.values())
    header = "".join(f"{c:>9}" for c in components)
    print(f"\n{'phase':<8} {'req/s':>7} {'ratio':>6} |{header} {'total':>7} {'ratio':>6}  errors")
    print(f"{'':<8} {'':>7} {'':>6} |{'CPU ms per request (answer)':^{len(header) + 8}}")
    ratios = {}
    for phase, (rate, cpu, errors) in medians.items():
        total = sum(cpu.values())
        ratios[phase] = (rate / trivial_rate, trivial_total / total)
        cells = "".join(f"{cpu[c]:9.2f}" for c in components)
        print(f"{phase:<8} {rate:7.1f} {ratios[phase][0]:6.2f} |{cells} {total:7.2f} {ratios[phase][1]:6.2f}  {errors}")
    print(
        "\nratio: of throughputs (left) and of CPU per request, the trivial one's divided by the phase's (right); "
        "0.5 is the goal of issue #15 for the study phase"
    )
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0, help="each phase, each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cards", type=int, default=300, help="cards in each student's deck")
    args = parser.parse_args(argv)
    if not urlsplit(os.environ.get("DATABASE_URL", "")).scheme.startswith("postgres"):
        raise SystemExit("bench.study_floor needs DATABASE_URL to a PostgreSQL database (never production)")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.floor_settings")
    import django

    django.setup()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="lms-floor-metrics-") as metrics_dir:
        server = start_server(port, args.workers, args.threads, metrics_dir)
        try:
            credentials = load.create_students(f"floor-{uuid.uuid4().hex[:6]}", args.clients)
            students = [load.Student(base, name, password, token, args.cards) for name, password, token in credentials]
            meters = Meters(server)
            for phase in PHASES:  # warm: imports, connections, prepared statements
                run_phase(phase, students, base, 1.0, meters)
            results: dict[str, list[Measure]] = {phase: [] for phase in PHASES}
            for number in range(1, args.rounds + 1):
                for phase in PHASES:
                    results[phase].append(run_phase(phase, students, base, args.seconds, meters))
                print(
                    f"round {number}: "
                    + ", ".join(f"{phase} {runs[-1].rate:.0f}/s" for phase, runs in results.items()),
                    flush=True,
                )
        finally:
            stop_server(server)
    print(
        f"{args.clients} clients, gunicorn {args.workers} workers x {args.threads} threads, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
