from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from ops import histogram, metrics, queries
from ops.models import RequestMetric

# django_db: pytest-django only creates the test database when some collected test is marked.
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.ops.boom_urls")]


def test_counts_and_error_rate_equal_the_requests_sent(raw_client: Client, api_for, admin) -> None:
    for n in range(17):
        assert raw_client.get(f"/test/ok/{n}/").status_code == 200
    for _ in range(3):
        assert raw_client.get("/test/boom/").status_code == 500
    assert raw_client.get("/no/such/page/").status_code == 404
    metrics.flush()

    data = api_for(admin).get("/api/v1/monitoring/performance/").json()

    ok = data["GET:/test/ok/<int:n>/"]
    assert ok["request_count"] == 17  # one route however many different paths
    assert ok["error_count"] == 0 and ok["status_codes"] == {"200": 17}
    boom = data["GET:/test/boom/"]
    assert (boom["request_count"], boom["error_count"], boom["error_rate"]) == (3, 3, 1.0)
    assert data["GET:<unmatched>"]["client_error_count"] == 1

    summary = api_for(admin).get("/api/v1/monitoring/performance/summary/").json()
    assert summary["requests"] == {"total": 21, "errors": 3, "client_errors": 1, "error_rate": round(3 / 21, 4)}
    assert summary["endpoints"] == {"total": 3, "with_errors": 1}
    assert set(summary["system"]) == {"cpu", "memory", "disk"}
    assert summary["system"]["cpu"]["count"] >= 1


def test_flushing_twice_adds_to_the_same_minute_row(raw_client: Client) -> None:
    raw_client.get("/test/ok/1/")
    metrics.flush()
    raw_client.get("/test/ok/2/")
    raw_client.get("/test/ok/3/")
    metrics.flush()
    rows = RequestMetric.objects.filter(route="/test/ok/<int:n>/")
    assert sum(r.request_count for r in rows) == 3
    assert rows.count() <= 2  # the same minute row, unless the minute turned between the requests


def test_endpoint_filter_and_window(admin, api_for) -> None:
    now = datetime.now(UTC)
    metrics.record("GET", "/a/", 10, 200, now=now)
    metrics.record("GET", "/b/", 10, 200, now=now)
    metrics.record("GET", "/a/", 10, 200, now=now - timedelta(minutes=90))
    metrics.flush()
    client = api_for(admin)
    only_a = client.get("/api/v1/monitoring/performance/", {"endpoint": "/a/"}).json()
    assert list(only_a) == ["GET:/a/"] and only_a["GET:/a/"]["request_count"] == 1
    wide = client.get("/api/v1/monitoring/performance/", {"endpoint": "/a/", "minutes": 120}).json()
    assert wide["GET:/a/"]["request_count"] == 2


def test_p95_is_within_one_bucket_of_the_true_value() -> None:
    rng = random.Random(42)
    now = datetime.now(UTC)
    durations = [rng.lognormvariate(5, 0.8) for _ in range(2000)]  # median ~150 ms, long tail
    for d in durations:
        metrics.record("GET", "/slowish/", d, 200, now=now)
    metrics.flush()
    reported = queries.performance(60)["GET:/slowish/"]["duration_ms"]
    ordered = sorted(durations)
    for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        true = ordered[int(q * len(ordered)) - 1]
        assert abs(reported[key] - true) <= histogram.bucket_width_at(true), (key, reported[key], true)
    assert reported["min"] == round(ordered[0], 2) and reported["max"] == round(ordered[-1], 2)
    assert reported["avg"] == pytest.approx(sum(durations) / len(durations), abs=0.01)


def test_percentile_of_a_single_bucket_stays_inside_min_and_max() -> None:
    hist = histogram.empty()
    hist[histogram.bucket_index(120)] = 10
    assert 110 <= histogram.percentile(hist, 0.95, low=110, high=130) <= 130
    assert histogram.percentile(histogram.empty(), 0.95) is None
    # The open-ended last bucket is capped by the observed maximum.
    hist = histogram.empty()
    hist[-1] = 4
    assert histogram.percentile(hist, 0.99, low=12000, high=15000) <= 15000


def test_top_and_slow(admin, api_for) -> None:
    now = datetime.now(UTC)
    for _ in range(5):
        metrics.record("GET", "/busy/", 20, 200, now=now)
    for _ in range(2):
        metrics.record("POST", "/slow/", 3000, 200, now=now)
    metrics.record("GET", "/failing/", 30, 503, now=now)
    metrics.flush()
    client = api_for(admin)
    top = client.get("/api/v1/monitoring/performance/top/", {"sort_by": "request_count", "limit": 2}).json()
    assert [e["endpoint"] for e in top["endpoints"]] == ["/busy/", "/slow/"]
    by_errors = client.get("/api/v1/monitoring/performance/top/", {"sort_by": "error_rate"}).json()
    assert by_errors["endpoints"][0]["endpoint"] == "/failing/"
    by_latency = client.get("/api/v1/monitoring/performance/top/", {"sort_by": "avg_duration_ms"}).json()
    assert by_latency["endpoints"][0]["endpoint"] == "/slow/"
    slow = client.get("/api/v1/monitoring/performance/slow/", {"threshold_ms": 1000}).json()
    assert [e["endpoint"] for e in slow["endpoints"]] == ["/slow/"]
    system = client.get("/api/v1/monitoring/system/").json()
    assert 0 <= system["memory"]["percent"] <= 100 and system["disk"]["total_gb"] > 0


@pytest.mark.parametrize(
    "params", [{"minutes": "0"}, {"minutes": "abc"}, {"sort_by": "nonsense"}, {"limit": "-1"}, {"threshold_ms": "x"}]
)
def test_bad_parameters_are_a_400_in_the_error_shape(admin, api_for, params: dict) -> None:
    url = (
        "/api/v1/monitoring/performance/top/"
        if "sort_by" in params or "limit" in params
        else ("/api/v1/monitoring/performance/slow/" if "threshold_ms" in params else "/api/v1/monitoring/performance/")
    )
    response = api_for(admin).get(url, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/monitoring/performance/",
        "/api/v1/monitoring/performance/summary/",
        "/api/v1/monitoring/performance/top/",
        "/api/v1/monitoring/performance/slow/",
        "/api/v1/monitoring/system/",
    ],
)
def test_monitoring_api_is_staff_only(url: str, api_for, student, teacher) -> None:
    assert api_for(student).get(url).status_code == 403
    assert api_for(teacher).get(url).status_code == 403
    assert api_for(None).get(url).status_code == 401


def test_series_has_every_minute_of_the_window() -> None:
    now = datetime(2026, 1, 5, 12, 30, 20, tzinfo=UTC)
    metrics.record("GET", "/x/", 10, 200, now=now)
    metrics.record("GET", "/x/", 10, 500, now=now - timedelta(minutes=2))
    metrics.flush()
    points = queries.series(10, now=now)
    assert len(points) == 10 and points[-1]["requests"] == 1
    assert points[-3]["errors"] == 1 and points[-3]["error_rate"] == 1.0
    assert sum(p["requests"] for p in points) == 2


def test_route_labels_tidy_regex_patterns() -> None:
    assert metrics.route_label("api/v1/^incidents/(?P<pk>[^/.]+)/$", "/x") == "/api/v1/incidents/<pk>/"
    assert metrics.route_label(None, "/static/css/site.css") == "<static>"
    assert metrics.route_label(None, "/nope") == "<unmatched>"


@pytest.mark.redis
def test_redis_store_aggregates_across_clients(settings) -> None:
    import os
    import uuid

    url = os.environ["REDIS_URL"]
    prefix = f"test-ops:{uuid.uuid4().hex}"
    first, second = metrics.RedisStore(url, prefix), metrics.RedisStore(url, prefix)  # two "processes"
    minute = metrics.minute_of(datetime.now(UTC))
    first.record(minute, "GET", "/r/", 12.5, 200)
    second.record(minute, "GET", "/r/", 700.0, 500)
    second.record(minute, "GET", "/r/", 3.0, 404)
    data = first.drain()
    agg = data[(minute, "GET", "/r/")]
    assert (agg.count, agg.server_errors, agg.client_errors) == (3, 1, 1)
    assert (agg.duration_min_ms, agg.duration_max_ms) == (3.0, 700.0)
    assert agg.duration_sum_ms == pytest.approx(715.5)
    assert sum(agg.histogram) == 3 and agg.status_codes == {"200": 1, "500": 1, "404": 1}
    assert first.drain() == {}  # drained exactly once
    first.reset()


@pytest.mark.parametrize("routes", [3, 40])
def test_performance_api_query_count_does_not_grow_with_routes(
    admin, api_for, routes: int, django_assert_max_num_queries
) -> None:
    now = datetime.now(UTC)
    for minute in range(5):
        for r in range(routes):
            metrics.record("GET", f"/r{r}/", 10 + r, 200, now=now - timedelta(minutes=minute))
    metrics.flush()
    client = api_for(admin)
    with django_assert_max_num_queries(2):  # the window's rows (plus the forced user, at most)
        data = client.get("/api/v1/monitoring/performance/").json()
    assert len(data) == routes and all(v["request_count"] == 5 for v in data.values())


def test_flush_adds_to_a_row_another_process_created_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import IntegrityError

    now = datetime.now(UTC)
    metrics.record("GET", "/race/", 10, 200, now=now)
    real_write = metrics.write_aggregates
    calls = []

    def racing_write(data: dict, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 1:  # the other process wins the insert
            raise IntegrityError("duplicate key")
        # Its row, committed by then (created here, not in the failed attempt,
        # whose transaction rolls back with the Redis snapshot's record).
        RequestMetric.objects.create(
            bucket_start=metrics.minute_of(now),
            route="/race/",
            method="GET",
            request_count=5,
            histogram=histogram.empty(),
        )
        return real_write(data, **kwargs)

    monkeypatch.setattr(metrics, "write_aggregates", racing_write)
    metrics.flush()
    assert RequestMetric.objects.get(route="/race/").request_count == 6


def test_drf_router_routes_are_recorded_as_clean_patterns(api_for, admin, fresh_metrics_store) -> None:
    client = api_for(admin)
    client.get("/api/v1/incidents/")
    client.get("/api/v1/incidents/5/")
    client.post("/api/v1/incidents/5/acknowledge/")
    routes = {key[2] for key in fresh_metrics_store.drain()}
    assert routes == {"/api/v1/incidents/", "/api/v1/incidents/<pk>/", "/api/v1/incidents/<pk>/acknowledge/"}


def test_the_window_fold_reads_each_row_as_aggregate_merge_does() -> None:
    """queries reads rows through metrics.ROW_FIELDS (no list of its own):
    folding a window's rows gives what merging each row's Aggregate gives."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    for minute in range(3):
        for _ in range(20):
            status = rng.choice([200, 200, 404, 500])
            metrics.record("GET", "/fold/", rng.uniform(1, 900), status, now=now - timedelta(minutes=minute))
    metrics.flush()
    rows = RequestMetric.objects.filter(route="/fold/").order_by("bucket_start")
    assert rows.count() == 3
    expected = metrics.Aggregate()
    for row in rows:
        expected.merge(metrics.Aggregate.of_row(row))
    assert queries._fold(rows) == {("GET", "/fold/"): expected}
    assert queries.FOLD_FIELDS[2:] == tuple(metrics.ROW_FIELDS)
