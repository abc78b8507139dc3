from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from ops import metrics, services

pytestmark = pytest.mark.django_db


def _traffic(routes: int) -> None:
    now = datetime.now(UTC)
    for minute in range(10):
        for r in range(routes):
            metrics.record(
                "GET",
                f"/route-{r}/",
                50 + r * 10,
                500 if r == 0 and minute == 3 else 200,
                now=now - timedelta(minutes=minute),
            )
    metrics.flush()


@pytest.mark.parametrize("routes", [2, 30])
def test_performance_page_shows_charts_and_routes_in_few_queries(
    client_for, admin, routes: int, django_assert_max_num_queries
) -> None:
    _traffic(routes)
    client = client_for(admin)
    # user (the session is cached), then three reads of the window's rows (series, per-route, totals)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("ops:performance"), {"minutes": 60})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<svg class="chart"') == 3
    assert "/route-0/" in html and "Most failing routes" in html
    assert f"{routes * 10}</div>" in html  # total requests stat


def test_performance_page_with_no_data_has_empty_states(client_for, admin) -> None:
    html = client_for(admin).get(reverse("ops:performance")).content.decode()
    assert "No requests in this window" in html and "No data" not in html.split("<main")[0]


def test_a_silly_window_falls_back_to_a_sane_one(client_for, admin) -> None:
    assert client_for(admin).get(reverse("ops:performance"), {"minutes": "lots"}).status_code == 200
    assert client_for(admin).get(reverse("ops:performance"), {"minutes": "-5"}).status_code == 200


def test_dashboard_overview(client_for, admin) -> None:
    _traffic(3)
    services.incident_open(title="Queue stuck", severity=2)
    html = client_for(admin).get(reverse("ops:dashboard")).content.decode()
    assert "Queue stuck" in html and "30</div>" in html
    assert reverse("ops:performance") in html and reverse("ops:incident_list") in html
    assert reverse("ops:maintenance_runs") in html and "/status/" in html
    assert "Turn maintenance mode on" in html


def test_declare_form_renders_every_field_and_its_button(client_for, admin) -> None:
    # Help text is rendered unescaped by lms/_form.html: a literal "<title>" in it
    # once opened a <title> element that swallowed the rest of the form.
    html = client_for(admin).get(reverse("ops:incident_new")).content.decode()
    main = html.split("<main", 1)[1]
    assert "<title>" not in main
    assert 'name="commander"' in main and ">Declare</button>" in main
