"""The Celery application: configured from Django settings (CELERY_*), tasks
autodiscovered from every installed app's tasks.py; a pool process runs the
exit hooks (lms.process_exit) before billiard ends it."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from lms import process_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

app = Celery("lms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _pool_process_exiting(**kwargs: Any) -> None:
    """A prefork pool process ends with os._exit (billiard), skipping atexit:
    what it owes is sent here instead (lms.process_exit)."""
    process_exit.run()
