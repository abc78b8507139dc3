"""The project's settings with bench/floor_urls.py as the URLconf: the server
`bench.study_floor` starts for itself (never a deployment's). Static files are
served without the manifest, so the log-in page renders without
`collectstatic`."""

from __future__ import annotations

from lms.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
