from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from ops import api, guardrails_views, views

app_name = "ops"

# Mounted at the site root: the health URLs and /status/ are part of the contract.
health_urlpatterns = [
    path("health/", views.health_basic, name="health"),
    path("health/live/", views.health_live, name="health_live"),
    path("health/ready/", views.health_ready, name="health_ready"),
    path("health/detailed/", views.health_detailed, name="health_detailed"),
    path("status/", views.status_page, name="status"),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("performance/", views.performance_page, name="performance"),
    path("performance/flags/", guardrails_views.performance_by_flag, name="performance_flags"),
    path("incidents/", views.incident_list, name="incident_list"),
    path("incidents/new/", views.incident_new, name="incident_new"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path(
        "incidents/<int:pk>/<str:action>/",
        views.incident_action,
        name="incident_action",
    ),
    path("maintenance/", views.maintenance_run_list, name="maintenance_runs"),
    path("maintenance/<int:pk>/", views.maintenance_run_detail, name="maintenance_run"),
    path("maintenance/mode/", views.maintenance_mode, name="maintenance_mode"),
    path("backups/", views.backup_list, name="backups"),
    path("backups/run/", views.backup_run, name="backup_run"),
    path("backups/drill/", views.backup_drill, name="backup_drill"),
    path("maintenance/windows/", views.maintenance_window_list, name="maintenance_windows"),
    path("maintenance/windows/new/", views.maintenance_window_new, name="maintenance_window_new"),
    path("maintenance/windows/<int:pk>/edit/", views.maintenance_window_edit, name="maintenance_window_edit"),
    path("maintenance/windows/<int:pk>/cancel/", views.maintenance_window_cancel, name="maintenance_window_cancel"),
]

router = SimpleRouter()
router.register("incidents", api.IncidentViewSet, basename="api-incident")
router.register("ops/maintenance-windows", api.MaintenanceWindowViewSet, basename="api-maintenance-window")

api_urlpatterns = [
    path("monitoring/performance/", api.PerformanceView.as_view(), name="api-performance"),
    path("monitoring/performance/summary/", api.PerformanceSummaryView.as_view(), name="api-performance-summary"),
    path("monitoring/performance/top/", api.PerformanceTopView.as_view(), name="api-performance-top"),
    path("monitoring/performance/slow/", api.PerformanceSlowView.as_view(), name="api-performance-slow"),
    path("monitoring/performance/system/", api.SystemView.as_view(), name="api-performance-system"),
    path("monitoring/system/", api.SystemView.as_view(), name="api-system"),
    path("ops/maintenance/", api.MaintenanceModeView.as_view(), name="api-maintenance-mode"),
    path("status/", api.StatusView.as_view(), name="api-status"),
    *router.urls,
]
