"""The site's URLs plus two test-only views that fail on purpose."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from lms.urls import *  # noqa: F403 - the whole site, handlers included
from lms.urls import urlpatterns as site_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("injected server error")


def ok(request: HttpRequest, n: int) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("test/boom/", boom), path("test/ok/<int:n>/", ok), *site_urlpatterns]
