from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client

from ops import metrics


@pytest.fixture(autouse=True)
def fresh_metrics_store(settings: object) -> Iterator[metrics.MemoryStore | metrics.RedisStore]:
    """Each test records into its own store: memory, or Redis under its own prefix."""
    if os.getenv("REDIS_URL"):
        store = metrics.RedisStore(os.environ["REDIS_URL"], prefix=f"test-ops:{uuid.uuid4().hex}")
    else:
        store = metrics.MemoryStore()
    metrics.set_store(store)
    metrics.fallback.reset()
    metrics._paused_until = 0.0
    yield store
    store.reset()
    metrics.set_store(None)
    metrics.fallback.reset()
    metrics._paused_until = 0.0


@pytest.fixture(autouse=True)
def _forget_maintenance_switch() -> Iterator[None]:
    """The switch state is kept per process; a rolled-back test must not leave it on."""
    from ops import services

    services.forget_switch()
    yield
    services.forget_switch()


@pytest.fixture
def raw_client() -> Client:
    """A client that returns 500 responses instead of raising the view's exception."""
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def _backup_dir(settings: object, tmp_path: object) -> None:
    """Backups go to the test's own folder, never the project's backups/, and
    archive the test's own media folder."""
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _status_files(settings: object, tmp_path: object) -> None:
    """The status page's last good copy and the watchdog's state live in the test's own folder."""
    settings.OPS_STATUS_SNAPSHOT_DIR = tmp_path / "status"
    settings.WATCHDOG_STATE_FILE = tmp_path / "watchdog-state.json"
