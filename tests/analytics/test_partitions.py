"""The event table's monthly partitions on PostgreSQL: inserts across months,
the default partition and its upkeep, retention by dropping partitions, the
conversion of a table with rows (migration analytics.0008), and every figure
unchanged by partitioning. Retention by cut-off runs on SQLite too."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import PeriodicTask

from analytics import partitions, queries, services, tasks
from analytics import timeutil as tu
from analytics.funnel import FunnelSpec
from analytics.models import ActiveUserDay, DailyEventCount, DailySessionStats, Event, FeatureUserDay
from ops.maintenance import step_retention
from tests.factories import UserFactory

NOW = datetime(2026, 4, 20, 15, 0, tzinfo=UTC)
MARCH, APRIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)


def located(event_ids: list[int]) -> dict[int, str]:
    """The table each event's row is stored in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, tableoid::regclass::text FROM analytics_event WHERE id = ANY(%s)", [event_ids])
        return dict(cursor.fetchall())


def event_at(moment: datetime, name: str = "page_view", user: Any = None) -> Event:
    return Event.objects.create(name=name, user=user, timestamp=moment)


def test_retention_deletes_only_events_older_than_the_cutoff() -> None:
    kept = [event_at(NOW - timedelta(days=d)) for d in (0, 10, 19)]
    for days in (21, 40, 75, 400):
        event_at(NOW - timedelta(days=days))
    event_at(NOW - timedelta(days=20, seconds=1))

    done = partitions.delete_events_before(NOW - timedelta(days=20))

    assert done["events_deleted"] == 5
    assert sorted(Event.objects.values_list("id", flat=True)) == sorted(e.id for e in kept)


@pytest.mark.postgres
def test_the_table_is_partitioned_by_month_with_a_default_partition() -> None:
    assert partitions.is_partitioned()
    this_month = partitions.month_start(datetime.now(UTC))
    starts = [p.start for p in partitions.partitions()]
    assert {partitions.add_months(this_month, n) for n in range(partitions.MONTHS_AHEAD + 1)} <= set(starts)
    assert all(p.end == partitions.add_months(p.start, 1) for p in partitions.partitions())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_event_default")
        assert cursor.fetchone() == (0,)


@pytest.mark.postgres
def test_events_across_months_land_in_their_months_partitions() -> None:
    partitions.ensure_partitions(now=MARCH, months_ahead=1)
    march = event_at(datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC))
    april = event_at(APRIL)  # the first instant of April belongs to April
    back_filled = event_at(datetime(2019, 6, 5, tzinfo=UTC))  # no partition for June 2019: inserts fine

    assert located([march.id, april.id, back_filled.id]) == {
        march.id: "analytics_event_p2026_03",
        april.id: "analytics_event_p2026_04",
        back_filled.id: "analytics_event_default",
    }


@pytest.mark.postgres
def test_upkeep_moves_rows_out_of_the_default_partition_into_their_month() -> None:
    user = UserFactory()
    old = Event.objects.create(
        name="imported", user=user, session_key="s1", properties={"a": 1}, timestamp=datetime(2019, 6, 5, tzinfo=UTC)
    )
    older = event_at(datetime(2019, 5, 31, 12, tzinfo=UTC))
    assert set(located([old.id, older.id]).values()) == {"analytics_event_default"}

    done = partitions.ensure_partitions(now=NOW)

    assert done["moved"] == 2
    assert {"analytics_event_p2019_05", "analytics_event_p2019_06"} <= set(done["created"])
    assert located([old.id, older.id]) == {old.id: "analytics_event_p2019_06", older.id: "analytics_event_p2019_05"}
    moved = Event.objects.get(id=old.id)
    assert (moved.name, moved.user_id, moved.session_key, moved.properties, moved.timestamp) == (
        "imported",
        user.id,
        "s1",
        {"a": 1},
        datetime(2019, 6, 5, tzinfo=UTC),
    )
    # Nothing left to do the next time; ids still work as the primary key.
    assert partitions.ensure_partitions(now=NOW) == {"created": [], "moved": 0}
    assert Event.objects.filter(id__in=[old.id, older.id]).delete()[0] == 2


@pytest.mark.postgres
def test_retention_drops_partitions_wholly_older_than_the_cutoff_and_not_newer_ones() -> None:
    partitions.ensure_partitions(now=datetime(2026, 1, 1, tzinfo=UTC), months_ahead=3)
    for month in (1, 2, 3, 4):
        for day in (1, 14, 28):
            event_at(datetime(2026, month, day, 12, tzinfo=UTC))
    event_at(datetime(2025, 6, 1, tzinfo=UTC))  # in the default partition
    cutoff = datetime(2026, 3, 14, 13, tzinfo=UTC)

    done = partitions.delete_events_before(cutoff)

    assert done == {"partitions_dropped": 2, "events_deleted": 3 + 3 + 2 + 1}
    names = {p.name for p in partitions.partitions()}
    assert "analytics_event_p2026_01" not in names and "analytics_event_p2026_02" not in names
    assert {"analytics_event_p2026_03", "analytics_event_p2026_04"} <= names
    assert sorted(Event.objects.values_list("timestamp", flat=True)) == [
        datetime(2026, 3, 28, 12, tzinfo=UTC),
        *(datetime(2026, 4, day, 12, tzinfo=UTC) for day in (1, 14, 28)),
    ]


@pytest.mark.postgres
def test_weekly_maintenance_and_nightly_purge_drop_partitions(settings: Any) -> None:
    partitions.ensure_partitions(now=datetime(2025, 1, 1, tzinfo=UTC), months_ahead=0)
    event_at(datetime(2025, 1, 10, tzinfo=UTC))
    _, figures = step_retention(NOW)
    assert (figures["events_deleted"], figures["partitions_dropped"]) == (1, 1)

    partitions.ensure_partitions(now=datetime(2026, 1, 1, tzinfo=UTC), months_ahead=0)
    event_at(datetime(2026, 1, 10, tzinfo=UTC))
    settings.ANALYTICS_RETENTION_DAYS = 30
    assert services.purge_old_events(now=NOW) == 1
    assert "analytics_event_p2026_01" not in {p.name for p in partitions.partitions()}


def test_the_admin_lists_changes_and_deletes_events_by_id(client_for: Any, admin: Any) -> None:
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    recent, back_filled = event_at(datetime.now(UTC), "admin_recent"), event_at(datetime(2019, 6, 5, tzinfo=UTC))
    client = client_for(admin)

    listing = client.get("/admin/analytics/event/")
    assert listing.status_code == 200 and "admin_recent" in listing.content.decode()
    assert client.get(f"/admin/analytics/event/{back_filled.id}/change/").status_code == 200
    response = client.post(f"/admin/analytics/event/{back_filled.id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    # (The admin's own page views are events too.)
    assert set(Event.objects.filter(id__in=[recent.id, back_filled.id]).values_list("id", flat=True)) == {recent.id}


def test_the_daily_upkeep_is_scheduled_and_runs_on_either_database(on_postgres: bool) -> None:
    scheduled = PeriodicTask.objects.get(task="analytics.event_partitions")
    assert scheduled.enabled and (scheduled.crontab.hour, scheduled.crontab.minute) == ("0", "40")

    done = tasks.event_partitions.delay().get()

    if on_postgres:
        assert done["moved"] == 0
        this_month = partitions.month_start(datetime.now(UTC))
        assert partitions.add_months(this_month, partitions.MONTHS_AHEAD) in {p.start for p in partitions.partitions()}
    else:
        assert done == {"created": [], "moved": 0}


@pytest.mark.postgres
def test_the_upkeep_command_lists_the_partitions() -> None:
    out = StringIO()
    call_command("event_partitions", stdout=out)
    month = partitions.month_start(datetime.now(UTC))
    assert f"{partitions.partition_name(month)}: {month:%Y-%m-%d}" in out.getvalue()


# --- Figures unchanged, and the conversion of a table with rows ----------------------


def make_events(seed: int = 15) -> None:
    """Four months of activity, some in the default partition and at month edges."""
    rng = random.Random(seed)
    people = [UserFactory(timezone=rng.choice(["UTC", "Europe/Berlin", "America/Los_Angeles"])) for _ in range(12)]
    names = ["login", "study_session_started", "review_submitted", "study_session_completed", "page_view"]
    rows = []
    for person in people:
        for _ in range(rng.randint(10, 40)):
            moment = NOW - timedelta(seconds=rng.randint(0, 110 * 86400))
            if rng.random() < 0.1:
                moment = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            rows.append(Event(name=rng.choice(names), user=person, session_key=f"k{person.id}", timestamp=moment))
    rows.append(Event(name="page_view", timestamp=NOW - timedelta(days=3)))
    Event.objects.bulk_create(rows)


def figures() -> dict[str, Any]:
    berlin, today = tu.zone("Europe/Berlin"), tu.utc_day_of(NOW)
    services.rollup_range(today - 110, today - 1)
    rollups = {
        model.__name__: sorted(model.objects.values_list(*[f.attname for f in model._meta.fields][1:]))
        for model in (ActiveUserDay, DailyEventCount, DailySessionStats, FeatureUserDay)
    }
    steps = ("login", "study_session_started", "review_submitted", "study_session_completed")
    return {
        "events": sorted(Event.objects.values_list("id", "name", "user_id", "timestamp")),
        "rollups": rollups,
        "engagement": queries.engagement(berlin, days=90, end_day=today),
        "retention": queries.retention(berlin, cohorts=12, today=today),
        "sessions": queries.sessions_summary(today - 89, today),
        "features": queries.feature_usage(today - 89, today),
        "funnel": queries.funnel(FunnelSpec(steps, days=90), now=NOW),
        "user": queries.user_analytics(Event.objects.exclude(user=None).first().user_id, berlin),
    }


@pytest.mark.postgres
def test_figures_are_the_same_on_the_partitioned_and_the_plain_table() -> None:
    # February and March in their own partitions, the other months in the default one.
    partitions.ensure_partitions(now=datetime(2026, 2, 1, tzinfo=UTC), months_ahead=1)
    make_events()
    assert set(located(list(Event.objects.values_list("id", flat=True))).values()) == {
        "analytics_event_p2026_02",
        "analytics_event_p2026_03",
        "analytics_event_default",
    }
    partitioned = figures()

    with connection.cursor() as cursor:
        partitions.unpartition_table(cursor)
    assert not partitions.is_partitioned()
    assert figures() == partitioned

    with connection.cursor() as cursor:
        partitions.partition_table(cursor, now=NOW)
    assert partitions.is_partitioned()
    assert figures() == partitioned


@pytest.mark.postgres
def test_migration_converts_a_table_with_rows_and_back() -> None:
    make_events()
    before = sorted(Event.objects.values_list("id", "name", "user_id", "session_key", "properties", "timestamp"))
    last_id = max(row[0] for row in before)
    executor = MigrationExecutor(connection)
    leaf = executor.loader.graph.leaf_nodes("analytics")

    executor.migrate([("analytics", "0007_seed_study_answer_bar")])
    assert not partitions.is_partitioned()
    assert (
        sorted(Event.objects.values_list("id", "name", "user_id", "session_key", "properties", "timestamp")) == before
    )
    assert event_at(NOW).id > last_id  # the identity continues after the copied ids

    executor = MigrationExecutor(connection)
    executor.migrate(leaf)
    assert partitions.is_partitioned()
    months = {p.start for p in partitions.partitions()}
    assert {partitions.month_start(row[5]) for row in before} <= months
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_event_default")
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'analytics_event' AND indexname <> 'analytics_event_pkey'"
        )
        assert cursor.fetchone() == (6,)  # the model's five and the foreign key's
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'analytics_event'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone() == (1,)
    rows = Event.objects.filter(id__lte=last_id).values_list(
        "id", "name", "user_id", "session_key", "properties", "timestamp"
    )
    assert sorted(rows) == before
    newest = event_at(NOW)
    assert newest.id > last_id + 1
    assert located([newest.id]) == {newest.id: partitions.partition_name(NOW)}
