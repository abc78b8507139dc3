from __future__ import annotations

from django.urls import path

from analytics import api, views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("funnel/", views.funnel_page, name="funnel"),
    path("retention/", views.retention_page, name="retention"),
    path("users/<int:user_id>/", views.user_page, name="user"),
    path("sessions/<str:session_key>/", views.session_page, name="session"),
]

# Mounted under /api/v1/ by lms/urls.py.
api_urlpatterns = [
    path("analytics/engagement/", api.EngagementView.as_view(), name="api-analytics-engagement"),
    path("analytics/retention/", api.RetentionView.as_view(), name="api-analytics-retention"),
    path("analytics/features/", api.FeaturesView.as_view(), name="api-analytics-features"),
    path("analytics/active-users/", api.ActiveUsersView.as_view(), name="api-analytics-active-users"),
    path("analytics/user/<int:user_id>/", api.UserAnalyticsView.as_view(), name="api-analytics-user"),
    path("analytics/session/<str:session_key>/", api.SessionView.as_view(), name="api-analytics-session"),
    path("analytics/errors/", api.ErrorsView.as_view(), name="api-analytics-errors"),
    path("analytics/funnel/", api.FunnelView.as_view(), name="api-analytics-funnel"),
    path("analytics/events/", api.EventsView.as_view(), name="api-analytics-events"),
    path("analytics/me/events/", api.MyEventsView.as_view(), name="api-analytics-my-events"),
]
