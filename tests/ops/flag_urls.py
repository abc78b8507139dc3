"""The site's URLs plus a page whose flagged variant is broken on purpose."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from analytics.flags import flag_on
from lms.urls import *  # noqa: F403 - the whole site, handlers included
from lms.urls import urlpatterns as site_urlpatterns


def new_feature(request: HttpRequest) -> HttpResponse:
    if flag_on(request, "risky-change"):
        raise RuntimeError("the new code path has a bug")
    return HttpResponse("the old code path works")


urlpatterns = [path("test/feature/", new_feature), *site_urlpatterns]
