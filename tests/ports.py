"""Loopback ports for tests, chosen by the kernel, never fixed numbers (a
fixed port is taken as soon as another server on the machine uses it)."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port nothing listens on: one the kernel just handed out and
    took back (it does not hand the same one out again soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
