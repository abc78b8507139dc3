from __future__ import annotations

from django.urls import path

from ops import views

app_name = "ops"

# Mounted at the site root: the health URLs are part of the contract.
health_urlpatterns = [
    path("health/", views.health_basic, name="health"),
    path("health/live/", views.health_live, name="health_live"),
    path("health/ready/", views.health_ready, name="health_ready"),
    path("health/detailed/", views.health_detailed, name="health_detailed"),
]

urlpatterns: list = []
api_urlpatterns: list = []
