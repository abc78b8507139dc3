"""bench.study_floor: its two endpoints do what they say, and its arithmetic."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bench.study_floor import Measure, Meters, report
from lms.tokens import token_issue

pytestmark = pytest.mark.urls("bench.floor_urls")


def test_the_api_floor_authenticates_like_the_api(student):
    client = APIClient()
    assert client.post("/bench/floor/api/", {"card": 1}, format="json").status_code in (401, 403)
    _, raw = token_issue(user=student)
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    response = client.post("/bench/floor/api/", {"card": 1}, format="json")
    assert response.status_code == 201
    assert len(response.content) > 1500  # an answer's size
    assert client.post("/bench/floor/api/", "{not json", content_type="application/json").status_code == 400


def test_the_plain_floor_runs_its_three_statements_anonymously(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/bench/floor/plain/", {"card": 1}, content_type="application/json")
    assert response.status_code == 201
    # The three, and nothing else (the test's savepoint around them aside).
    assert [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]] == [
        "SELECT CAST(0 AS INTEGER) + 1, CAST('floor' AS TEXT)",
        "SELECT CAST(1 AS INTEGER) + 1, CAST('floor' AS TEXT)",
        "SELECT CAST(2 AS INTEGER) + 1, CAST('floor' AS TEXT)",
    ]


def test_the_projects_own_urls_are_still_there(client):
    assert client.get("/health/live/").status_code == 200


def test_spent_counts_a_process_born_between_readings_whole():
    before = {"workers": {1: 2.0, 2: 5.0}, "redis": 10.0}
    after = {"workers": {1: 2.5, 3: 0.25}, "redis": 10.5}  # 2 gone, 3 new
    assert Meters.spent(before, after) == {"workers": 0.75, "redis": 0.5}


def test_report_divides_by_the_trivial_phase(capsys):
    cpu = {"workers": 1.0, "postgres": 0.0, "client": 1.0}
    results = {
        "trivial": [Measure(400.0, cpu, 0), Measure(600.0, cpu, 0), Measure(500.0, cpu, 0)],
        "study": [Measure(100.0, {"workers": 6.0, "postgres": 1.0, "client": 1.0}, 1)] * 3,
    }
    ratios = report(results)
    assert ratios["trivial"] == (1.0, 1.0)
    assert ratios["study"] == (pytest.approx(0.2), pytest.approx(0.25))
    assert "study" in capsys.readouterr().out
