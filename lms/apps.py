from __future__ import annotations

from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "Site"
