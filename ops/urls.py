from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from ops import api, guardrails_views, kb_api, kb_views, sla_api, sla_views, status_views, views

app_name = "ops"

# Mounted at the site root: the health URLs and /status/ are part of the contract.
health_urlpatterns = [
    path("health/", views.health_basic, name="health"),
    path("health/live/", views.health_live, name="health_live"),
    path("health/ready/", views.health_ready, name="health_ready"),
    path("health/detailed/", views.health_detailed, name="health_detailed"),
    path("status/", views.status_page, name="status"),
    # Public status extras (subscriptions, incident pages, history, feed) and
    # the knowledge base, also mounted at the root.
    path("status/subscribe/", status_views.subscribe, name="status_subscribe"),
    path("status/subscribe/confirm/<str:token>/", status_views.confirm, name="status_confirm"),
    path("status/unsubscribe/<str:token>/", status_views.unsubscribe, name="status_unsubscribe"),
    path("status/incidents/<int:pk>/", status_views.incident_page, name="status_incident"),
    path("status/history/", status_views.history, name="status_history"),
    path("status/feed.atom", status_views.feed, name="status_feed"),
    path("kb/", kb_views.kb_index, name="kb"),
    path("kb/new/", kb_views.kb_new, name="kb_new"),
    path("kb/<slug:slug>/", kb_views.kb_article, name="kb_article"),
    path("kb/<slug:slug>/edit/", kb_views.kb_edit, name="kb_edit"),
    path("kb/<slug:slug>/vote/", kb_views.kb_vote, name="kb_vote"),
    path("kb/<slug:slug>/reviewed/", kb_views.kb_reviewed, name="kb_reviewed"),
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
    # Monthly SLA reports
    path("sla/", sla_views.sla_index, name="sla"),
    path("sla/<str:month>/", sla_views.sla_month, name="sla_month"),
    path("sla/<str:month>/print/", sla_views.sla_print, name="sla_print"),
    path("sla/<str:month>.csv", sla_views.sla_csv, name="sla_csv"),
]

router = SimpleRouter()
router.register("incidents", api.IncidentViewSet, basename="api-incident")
router.register("ops/maintenance-windows", api.MaintenanceWindowViewSet, basename="api-maintenance-window")
router.register("kb", kb_api.ArticleViewSet, basename="api-kb")

api_urlpatterns = [
    path("monitoring/performance/", api.PerformanceView.as_view(), name="api-performance"),
    path("monitoring/performance/summary/", api.PerformanceSummaryView.as_view(), name="api-performance-summary"),
    path("monitoring/performance/top/", api.PerformanceTopView.as_view(), name="api-performance-top"),
    path("monitoring/performance/slow/", api.PerformanceSlowView.as_view(), name="api-performance-slow"),
    path("monitoring/performance/system/", api.SystemView.as_view(), name="api-performance-system"),
    path("monitoring/system/", api.SystemView.as_view(), name="api-system"),
    path("ops/maintenance/", api.MaintenanceModeView.as_view(), name="api-maintenance-mode"),
    path("status/", api.StatusView.as_view(), name="api-status"),
    path("sla/", sla_api.SlaReportListView.as_view(), name="api-sla"),
    path("sla/<str:month>/", sla_api.SlaReportView.as_view(), name="api-sla-month"),
    *router.urls,
]
