"""The read-replica router: analytics and report reads go to `replica` when
it is configured (DATABASE_REPLICA_URL), to the primary otherwise; writes and
everything else always go to the primary."""

from __future__ import annotations

import pytest
from django.conf import settings

from analytics.models import DailyEventCount, Event, Feedback
from learning.models import CardState
from lms.routers import ReplicaRouter, read_alias

router = ReplicaRouter()


def test_without_a_replica_every_read_goes_to_the_primary() -> None:
    assert "replica" not in settings.DATABASES
    assert read_alias() == "default"
    assert router.db_for_read(Event) == "default"
    assert router.db_for_read(CardState) is None  # Django's default: the primary


def test_with_a_replica_report_reads_go_there_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "DATABASES", {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])})
    assert read_alias() == "replica"
    assert router.db_for_read(Event) == router.db_for_read(DailyEventCount) == "replica"
    assert router.db_for_read(Feedback) is None and router.db_for_read(CardState) is None
    assert router.db_for_write(Event) == "default"
    assert router.allow_migrate("default", "analytics") and not router.allow_migrate("replica", "analytics")
