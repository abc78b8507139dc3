"""The web probe checks the app itself, through its own WSGI handler, on
whatever host and port it is served (not SITE_URL)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from lms.urls import urlpatterns as site_urlpatterns
from ops import health, services


def broken_live(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the app is broken")


# A site whose liveness view fails (ROOT_URLCONF for one test).
urlpatterns = [path("health/live/", broken_live, name="health_live"), *site_urlpatterns]


def test_the_web_probe_answers_on_any_host_and_port(settings) -> None:
    settings.OPS_WEB_PROBE_URL = ""
    settings.SITE_URL = "http://127.0.0.1:1"  # nothing there: the probe must not go by it
    settings.ALLOWED_HOSTS = [".lms.example.org"]
    result = services.check_web()
    assert result.status == health.HEALTHY, result
    assert (result.details["status"], result.details["mode"]) == (200, "in-process")


def test_a_broken_app_fails_the_web_probe(settings) -> None:
    settings.OPS_WEB_PROBE_URL = ""
    settings.ROOT_URLCONF = "tests.ops.test_web_probe"
    result = services.check_web()
    assert result.status == health.UNHEALTHY and "HTTP 500" in result.message


def test_a_probe_round_says_the_web_is_operational(client, settings) -> None:
    settings.OPS_WEB_PROBE_SLOW_MS = 60_000  # a busy test machine is not a slow app
    services.run_probes()
    assert client.get("/api/v1/status/").json()["components"]["web"]["status"] == "operational"
