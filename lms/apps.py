from __future__ import annotations

from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "Site"

    def ready(self) -> None:
        # Connects the receiver that stamps audit entries with actor and address.
        from lms import audit  # noqa: F401
