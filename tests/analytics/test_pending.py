"""A request's events buffered in Redis (analytics.pending): pushed with the
request metrics' Redis call instead of an INSERT per request (the anonymous
status page's view, a signed-in answer's events), written in bulk by the beat
job and by every reader of the event table before it reads, so every figure
equals what direct writes give."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import pending, queries, services
from analytics import timeutil as tu
from analytics.models import DailyEventCount, Event

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture(autouse=True)
def _analytics_on(settings) -> None:
    settings.ANALYTICS_ENABLED = True


@pytest.fixture
def buffer() -> Iterator[pending.RedisBuffer]:
    """A buffer of its own under a test key, in the Redis of REDIS_URL (the
    tests' cache is in memory, where nothing is buffered)."""
    import redis

    store = pending.RedisBuffer(redis.Redis.from_url(os.environ["REDIS_URL"]), key=f"test-pending:{uuid.uuid4().hex}")
    pending.set_store(store)
    yield store
    store.reset()
    pending.reset_store()


def fast_views(count: int) -> None:
    client = Client()
    client.get("/status/")  # the miss: rendered by the view, its page view buffered as well
    for _ in range(count):
        assert not hasattr(client.get("/status/").wsgi_request, "session")  # the fast path


def raw_page_views() -> int:
    """Counted behind the readers' backs (no flush): what is in the table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM analytics_event WHERE name = 'page_view'")
        return cursor.fetchone()[0]


def test_the_fast_path_pushes_its_page_view_and_runs_no_query(buffer, probed) -> None:
    client = Client()
    client.get("/status/")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/status/")
    assert ctx.captured_queries == []
    assert buffer.length() == 2 and raw_page_views() == 0
    # Any ORM read flushes first: the buffered view is there, as written directly.
    views = list(Event.objects.filter(name="page_view").order_by("id"))
    assert len(views) == 2 and buffer.length() == 0
    full, fast = views
    assert (fast.user_id, fast.session_key) == (full.user_id, full.session_key) == (None, "")
    assert {k: v for k, v in fast.properties.items() if k != "duration_ms"} == {"route": "/status/", "status": 200}
    assert full.timestamp <= fast.timestamp <= timezone.now()


def test_report_figures_equal_those_of_direct_writes(buffer, probed) -> None:
    fast_views(7)
    assert buffer.length() == 8
    today = tu.utc_day_of(timezone.now())
    # The raw report reads (analytics.queries._fetch) flush first.
    counts = {name: n for _, name, n, _ in queries.live_event_counts(today, today)}
    assert counts["page_view"] == 8 and buffer.length() == 0
    # The same requests with nothing buffered give the same figures.
    pending.set_store(None)
    fast_views(7)
    counts_direct = {name: n for _, name, n, _ in queries.live_event_counts(today, today)}
    assert counts_direct["page_view"] == 16 == 2 * counts["page_view"]


def test_a_rollup_counts_the_buffered_views(buffer, probed) -> None:
    fast_views(5)
    day = tu.utc_day_of(timezone.now())
    services.rollup_day(day)
    assert DailyEventCount.objects.get(day=day, name="page_view").events == 6
    assert buffer.length() == 0


def test_the_event_api_and_the_live_figures_see_them(buffer, probed, api_for, admin) -> None:
    fast_views(3)
    body = api_for(admin).get("/api/v1/analytics/events/?name=page_view").json()
    assert buffer.length() == 1  # the read's own api_request, pushed once it answered
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    assert len([r for r in rows if r["name"] == "page_view" and r["properties"]["route"] == "/status/"]) >= 4


def test_the_beat_job_writes_them_and_is_idempotent(buffer, probed) -> None:
    from django_celery_beat.models import PeriodicTask

    from analytics import tasks

    job = PeriodicTask.objects.get(task="analytics.flush_pending")
    assert (job.interval.every, job.interval.period, job.expire_seconds, job.enabled) == (1, "minutes", 55, True)
    fast_views(4)
    assert tasks.flush_pending.delay().get() == 5
    assert tasks.flush_pending.delay().get() == 0
    assert raw_page_views() == 5


def test_a_failed_insert_keeps_the_batch_in_order_for_the_next_flush(buffer, probed, monkeypatch) -> None:
    fast_views(3)
    stamps = buffer.client.lrange(buffer.key, 0, -1)

    def broken(events: list[Event]) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "insert_events", broken)
    assert pending.flush() == 0
    assert buffer.client.lrange(buffer.key, 0, -1) == stamps  # back at the head, same order
    monkeypatch.undo()
    assert pending.flush() == 4 and raw_page_views() == 4


def test_batches_are_taken_whole_and_an_undecodable_item_is_dropped(buffer, probed, monkeypatch) -> None:
    monkeypatch.setattr(pending, "BATCH", 2)
    fast_views(3)
    buffer.client.rpush(buffer.key, b"not json")
    fast_views(1)
    assert pending.flush() == 6  # four batches of 2, the bad item dropped from the third
    assert raw_page_views() == 6 and buffer.length() == 0


def test_nothing_is_flushed_under_maintenance(buffer, probed, monkeypatch) -> None:
    fast_views(2)
    monkeypatch.setattr("lms.maintenance.active", lambda: True)
    assert pending.flush() == 0 and buffer.length() == 3


def test_an_answer_pushes_its_events_with_its_user_and_inserts_nothing(buffer, teacher, student) -> None:
    from lms.tokens import token_issue
    from tests.learning.study_setup import make_class

    setup = make_class(teacher, [student], cards_per_deck=2)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=student)[1]}")
    session = api.post(
        "/api/v1/study-sessions/", {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json"
    )
    url = f"/api/v1/study-sessions/{session.json()['id']}/"
    card = api.get(url + "next/").json()["card"]["id"]
    buffer.reset()  # the session's start and next/ were buffered too
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(url + "answer/", {"card": card, "quality": 4, "idempotency_key": "k1"}, format="json")
    assert response.status_code == 201, response.content
    assert not [q for q in ctx.captured_queries if "analytics_event" in q["sql"]]
    assert buffer.length() == 2  # review_submitted and api_request, one push
    events = list(Event.objects.filter(user=student).order_by("id"))
    assert [e.name for e in events] == ["review_submitted", "api_request"] and buffer.length() == 0
    assert events[0].properties["quality"] == 4
    assert events[1].properties["route"].endswith("/answer/") and events[1].properties["method"] == "POST"


def test_a_deleted_users_buffered_events_go_with_the_account(buffer, student, outsider) -> None:
    now = timezone.now()
    pending.record(
        [
            Event(name="page_view", user=student, properties={"route": "/a/"}, timestamp=now),
            Event(name="page_view", user=outsider, properties={"route": "/b/"}, timestamp=now),
            Event(name="page_view", properties={"route": "/c/"}, timestamp=now),
        ]
    )
    assert buffer.length() == 3 and raw_page_views() == 0
    student.delete()
    # The INSERT would fail on the foreign key; the flush drops that event alone.
    assert pending.flush() == 2 and buffer.length() == 0
    rows = Event.objects.filter(name="page_view").order_by("id").values_list("user_id", "properties")
    assert list(rows) == [(outsider.pk, {"route": "/b/"}), (None, {"route": "/c/"})]


def test_an_item_pushed_by_the_previous_release_is_still_written(buffer) -> None:
    """Before users were kept an item had four elements; a deploy's old and new
    processes share the list."""
    stamp = timezone.now().replace(microsecond=0)
    buffer.push(json.dumps(["page_view", "", {"route": "/status/"}, stamp.isoformat()]).encode())
    assert pending.flush() == 1
    event = Event.objects.get(name="page_view")
    assert (event.user_id, event.properties, event.timestamp) == (None, {"route": "/status/"}, stamp)


def test_an_unreachable_redis_writes_at_once(probed) -> None:
    import redis

    pending.set_store(pending.RedisBuffer(redis.Redis(port=1, socket_connect_timeout=0.2), key="nowhere"))
    try:
        fast_views(2)
        assert raw_page_views() == 3
    finally:
        from lms.cache import reset_breaker

        reset_breaker()
        pending.reset_store()


@pytest.mark.django_db(transaction=True)
def test_two_flushers_at_once_write_each_event_once(buffer, on_postgres) -> None:
    if not on_postgres:
        pytest.skip("SQLite serialises writers: the concurrency is PostgreSQL's")
    stamp = timezone.now() - timedelta(minutes=1)
    for n in range(600):
        buffer.push(pending._encode(Event(name="page_view", properties={"n": n}, timestamp=stamp)))
    results: list[int] = []

    def worker() -> None:
        try:
            results.append(pending.flush())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(results) == 600 and buffer.length() == 0
    numbers = sorted(p["n"] for p in Event.objects.filter(name="page_view").values_list("properties", flat=True))
    assert numbers == list(range(600))


def test_the_push_rides_on_the_request_metrics_redis_call(buffer, probed, monkeypatch) -> None:
    from ops import metrics

    store = metrics.RedisStore(os.environ["REDIS_URL"], prefix=f"test-pending-metrics:{uuid.uuid4().hex}")
    metrics.set_store(store)
    try:
        client = Client()

        def no_own_push(*items: bytes) -> bool:
            raise AssertionError("pushed on its own, not with the metrics")

        monkeypatch.setattr(buffer, "push", no_own_push)
        client.get("/status/")  # the view's page view too
        client.get("/status/")
        assert buffer.length() == 2
        monkeypatch.undo()
        # The metrics' Redis call failing: the page view is pushed on its own.
        monkeypatch.setattr(store, "record", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("gone")))
        client.get("/status/")
        assert buffer.length() == 3
        assert pending.flush() == 3 and raw_page_views() == 3
    finally:
        store.reset()
        metrics.set_store(None)
        metrics.fallback.reset()
        metrics._paused_until = 0.0


def test_a_push_redis_ran_after_it_timed_out_is_written_once(buffer, student, monkeypatch) -> None:
    """The live drill of 2026-12-07 (evening), Redis hung with SIGSTOP: the
    request in flight timed out, so its events were written at once, and Redis
    ran the queued push when it woke; the next flush wrote them a second time.
    The flush now skips an event already in the table (same name, timestamp,
    user, session and properties), and the second copy of one pushed twice."""
    import redis

    from lms.cache import reset_breaker

    stamp = timezone.now()
    answered = [
        Event(name="review_submitted", user=student, properties={"quality": 4}, timestamp=stamp),
        Event(name="api_request", user=student, properties={"route": "/answer/"}, timestamp=stamp),
    ]
    real_rpush = buffer.client.rpush

    def ran_then_timed_out(*args: object) -> int:
        real_rpush(*args)  # Redis ran it, the client had given up
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(buffer.client, "rpush", ran_then_timed_out)
    try:
        pending.record(answered)
    finally:
        monkeypatch.undo()
        reset_breaker()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM analytics_event")
        assert cursor.fetchone()[0] == 2  # written at once...
    assert buffer.length() == 2  # ...and buffered too
    # The same item pushed twice (the metrics' call and the retry on its own both ran).
    other = Event(name="page_view", properties={"route": "/status/"}, timestamp=stamp)
    buffer.push(pending._encode(other), pending._encode(other))
    # Same stamp, another event: still written.
    buffer.push(pending._encode(Event(name="page_view", properties={"route": "/other/"}, timestamp=stamp)))
    assert pending.flush() == 2 and buffer.length() == 0
    rows = Event.objects.order_by("name", "id").values_list("name", "properties")
    assert list(rows) == [
        ("api_request", {"route": "/answer/"}),
        ("page_view", {"route": "/status/"}),
        ("page_view", {"route": "/other/"}),
        ("review_submitted", {"quality": 4}),
    ]
