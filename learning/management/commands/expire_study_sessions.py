"""Mark study sessions with no answer for 30 minutes as abandoned.

Sessions are also expired lazily whenever they are touched; this command (safe
to schedule every few minutes) keeps the status right for reports too.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from learning.study import expire_idle_sessions


class Command(BaseCommand):
    help = "Abandon study sessions idle for 30 minutes."

    def handle(self, *args: Any, **options: Any) -> None:
        count = expire_idle_sessions()
        self.stdout.write(f"{count} idle study session(s) marked abandoned.")
