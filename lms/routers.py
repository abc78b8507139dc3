"""Reads that may come from a read replica.

With DATABASE_REPLICA_URL set, the analytics tables that only dashboards and
reports read (events and their rollups) are read from the `replica` alias;
everything else, and every write, goes to the primary. Without it there is
no `replica` alias and these reads go to the primary too. A replica lags by
a moment, which dashboards and reports tolerate and nothing else here would.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

REPLICA = "replica"
# (app_label, model_name) of the tables read for analytics and reports only.
REPORT_MODELS = frozenset(
    {
        ("analytics", "event"),
        ("analytics", "activeuserday"),
        ("analytics", "dailyeventcount"),
        ("analytics", "featureuserday"),
        ("analytics", "dailysessionstats"),
    }
)


def read_alias() -> str:
    """The alias analytics and report reads use (raw SQL included)."""
    return REPLICA if REPLICA in settings.DATABASES else "default"


class ReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if (model._meta.app_label, model._meta.model_name) in REPORT_MODELS:
            return read_alias()
        return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: object, obj2: object, **hints: Any) -> bool:
        return True  # the replica holds the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db != REPLICA  # it follows the primary's schema by replication
