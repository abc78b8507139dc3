from __future__ import annotations

from django.urls import path

from analytics import api, experiments_api, experiments_views, flags_api, flags_views, views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("funnel/", views.funnel_page, name="funnel"),
    path("retention/", views.retention_page, name="retention"),
    path("users/<int:user_id>/", views.user_page, name="user"),
    path("sessions/<str:session_key>/", views.session_page, name="session"),
    path("flags/", flags_views.flag_list, name="flags"),
    path("flags/<str:name>/", flags_views.flag_detail, name="flag"),
    path("experiments/", experiments_views.experiment_list, name="experiments"),
    path("experiments/<slug:name>/", experiments_views.experiment_detail, name="experiment"),
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
    path("flags/", flags_api.FlagListView.as_view(), name="api-flags"),
    path("flags/me/", flags_api.MyFlagsView.as_view(), name="api-flags-me"),
    path("flags/stats/", flags_api.FlagStatsView.as_view(), name="api-flags-stats"),
    path("flags/user/<int:user_id>/", flags_api.UserFlagsView.as_view(), name="api-flags-user"),
    path("flags/<str:name>/", flags_api.FlagDetailView.as_view(), name="api-flag"),
    path("flags/<str:name>/check/", flags_api.FlagCheckView.as_view(), name="api-flag-check"),
    path("flags/<str:name>/rollout/", flags_api.FlagRolloutView.as_view(), name="api-flag-rollout"),
    path("flags/<str:name>/advance/", flags_api.FlagAdvanceView.as_view(), name="api-flag-advance"),
    path("flags/<str:name>/history/", flags_api.FlagHistoryView.as_view(), name="api-flag-history"),
    path("experiments/", experiments_api.ExperimentListView.as_view(), name="api-experiments"),
    path("experiments/<slug:name>/", experiments_api.ExperimentDetailView.as_view(), name="api-experiment"),
    path("experiments/<slug:name>/start/", experiments_api.ExperimentStartView.as_view(), name="api-experiment-start"),
    path("experiments/<slug:name>/stop/", experiments_api.ExperimentStopView.as_view(), name="api-experiment-stop"),
    path(
        "experiments/<slug:name>/results/",
        experiments_api.ExperimentResultsView.as_view(),
        name="api-experiment-results",
    ),
    path("experiments/<slug:name>/assignment/", experiments_api.MyAssignmentView.as_view(), name="api-experiment-me"),
]
