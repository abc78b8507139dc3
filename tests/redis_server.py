"""A real Redis of the test's own (`redis-server` on a free loopback port,
no persistence), which a test can put into the states in which a live Redis
answers but refuses: out of memory, a read-only replica, failing persistence
(MISCONF), busy with a long script. The `own_redis` fixture (tests/conftest.py)
starts one and stops it; tests are skipped where `redis-server` is missing."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.ports import closed_port

# What each refusal answers a write with (in the health check's message).
REFUSALS = {
    "oom": "maxmemory",
    "readonly": "read only replica",
    "misconf": "MISCONF",
    "busy": "BUSY",
}


def available() -> bool:
    return shutil.which("redis-server") is not None


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        import redis

        self.dir = workdir / "redis-data"
        self.dir.mkdir()
        self.port = closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--lua-time-limit", "10",  # BUSY 10 ms into a long script (busy-reply-threshold)
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.client = redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)
        self._spinner: threading.Thread | None = None
        deadline = time.monotonic() + 5
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)

    def refuse(self, mode: str) -> None:
        """Put the server in a state where it answers writes with an error."""
        self.client.config_set("maxmemory-policy", "noeviction")
        if mode == "oom":
            self.client.config_set("maxmemory", 1)  # every command that may add memory: OOM
        elif mode == "readonly":
            # A replica of a primary that is not there (after a failover gone
            # wrong): it serves reads, and refuses writes with READONLY.
            self.client.execute_command("REPLICAOF", "127.0.0.1", str(closed_port()))
        elif mode == "misconf":
            # Its snapshot directory gone: the background save fails, and with
            # save points set and stop-writes-on-bgsave-error (the default) it
            # refuses writes with MISCONF.
            self.client.config_set("save", "3600 1")
            self.dir.rmdir()
            self.client.bgsave()
            self._wait(lambda info: not info["rdb_bgsave_in_progress"] and info["rdb_last_bgsave_status"] == "err")
        elif mode == "busy":
            self._busy()
        else:
            raise ValueError(mode)

    def accept(self) -> None:
        """Take writes again after `refuse("oom")` or `refuse("readonly")`
        (the dataset kept: a replica that never reached its primary)."""
        self.client.config_set("maxmemory", 0)
        self.client.execute_command("REPLICAOF", "NO", "ONE")

    def command_calls(self) -> dict[str, int]:
        """How many times the server ran each command so far (INFO commandstats)."""
        stats = self.client.info("commandstats")
        return {name.removeprefix("cmdstat_"): row["calls"] for name, row in stats.items()}

    def pause(self) -> None:
        """Hang it (SIGSTOP): connections still open and commands are still
        sent into its socket buffers; it runs them all when `resume`d."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def _wait(self, done: Any) -> None:
        deadline = time.monotonic() + 5
        while not done(self.client.info("persistence")):
            assert time.monotonic() < deadline, "redis-server did not reach the state"
            time.sleep(0.02)

    def _busy(self) -> None:
        import redis

        def spin() -> None:
            with contextlib.suppress(redis.RedisError):  # killed at the end of the test
                redis.Redis(port=self.port).eval("while true do end", 0)

        self._spinner = threading.Thread(target=spin, daemon=True)
        self._spinner.start()
        deadline = time.monotonic() + 5
        while True:
            try:
                self.client.ping()
            except redis.ResponseError as exc:
                if str(exc).startswith("BUSY"):
                    return
                raise
            assert time.monotonic() < deadline, "the script did not make redis-server busy"
            time.sleep(0.01)

    def stop(self) -> None:
        import redis

        self.resume()  # a hung server would not answer SHUTDOWN
        if self._spinner is not None:
            with contextlib.suppress(redis.RedisError):
                self.client.script_kill()
            self._spinner.join(timeout=2)
        # Not SIGTERM: with save points set (MISCONF) it would try to save,
        # fail, and not exit. A plain socket: redis-py retries a dropped connection.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(b"SHUTDOWN NOSAVE\r\n")
            conn.recv(64)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.client.close()
