"""The site's URLs plus one named only here (tests/lms/test_nav_urls.py)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path

from lms.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("only-in-this-urlconf/", lambda request: HttpResponse("ok"), name="test-only"), *site_urlpatterns]
