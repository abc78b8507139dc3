"""With METRICS_TOKEN set, the detailed health and the metrics need it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/metrics", "/health/detailed/"])
def test_token_guards_internal_endpoints(client, settings, path: str) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get(path).status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200


def test_plain_probes_stay_open(client, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/health/live/").status_code == 200


def test_without_a_token_they_are_open_only_when_opened(client, settings) -> None:
    settings.METRICS_TOKEN = ""
    settings.INTERNAL_ENDPOINTS_OPEN = False
    assert client.get("/metrics").status_code == 403
    settings.INTERNAL_ENDPOINTS_OPEN = True
    assert client.get("/metrics").status_code == 200
