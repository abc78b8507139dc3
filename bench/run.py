"""`make bench`: every benchmark under bench/, one after the other, on the
PostgreSQL database DATABASE_URL names (never production)."""

from __future__ import annotations

import subprocess
import sys

BENCHES = ["bench.learning_bench", "bench.scheduling_bench", "bench.analytics_bench", "bench.anki_import"]


def main() -> int:
    failed = 0
    for module in BENCHES:
        print(f"\n== {module}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", module])
    return failed


if __name__ == "__main__":
    sys.exit(main())
