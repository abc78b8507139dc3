from __future__ import annotations

from django.urls import path

from analytics import (
    api,
    experiments_api,
    experiments_views,
    feature_requests_api,
    feature_requests_views,
    feedback_api,
    feedback_views,
    flags_api,
    flags_views,
    views,
)

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
    path("feedback/", feedback_views.feedback_triage, name="feedback"),
    path("feedback/<int:pk>/", feedback_views.feedback_update, name="feedback_update"),
    path("requests/", feature_requests_views.staff_requests, name="feature_requests"),
    path("requests/<int:pk>/", feature_requests_views.staff_request_update, name="feature_request_update"),
]

# Pages for everyone, mounted at the site root by lms/urls.py.
public_urlpatterns = [
    path("feedback/", feedback_views.feedback_submit, name="feedback_submit"),
    path("feedback/mine/", feedback_views.feedback_mine, name="feedback_mine"),
    path("feedback/prompt/", feedback_views.feedback_prompt, name="feedback_prompt"),
    path("feedback/nps/", feedback_views.nps_submit, name="feedback_nps"),
    path("feature-requests/", feature_requests_views.request_list, name="feature_requests"),
    path("feature-requests/<int:pk>/", feature_requests_views.request_detail, name="feature_request"),
    path("roadmap/", feature_requests_views.roadmap, name="roadmap"),
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
    path("feedback/", feedback_api.FeedbackListView.as_view(), name="api-feedback"),
    path("feedback/all/", feedback_api.FeedbackAllView.as_view(), name="api-feedback-all"),
    path("feedback/nps/", feedback_api.NpsView.as_view(), name="api-feedback-nps"),
    path("feedback/<int:pk>/", feedback_api.FeedbackDetailView.as_view(), name="api-feedback-detail"),
    path("feedback/<int:pk>/status/", feedback_api.FeedbackStatusView.as_view(), name="api-feedback-status"),
    path("feature-requests/", feature_requests_api.RequestListView.as_view(), name="api-feature-requests"),
    path("feature-requests/top/", feature_requests_api.TopView.as_view(), name="api-feature-requests-top"),
    path("feature-requests/<int:pk>/", feature_requests_api.RequestDetailView.as_view(), name="api-feature-request"),
    path("feature-requests/<int:pk>/vote/", feature_requests_api.VoteView.as_view(), name="api-feature-request-vote"),
    path(
        "feature-requests/<int:pk>/comments/",
        feature_requests_api.CommentsView.as_view(),
        name="api-feature-request-comments",
    ),
    path(
        "feature-requests/<int:pk>/merge/", feature_requests_api.MergeView.as_view(), name="api-feature-request-merge"
    ),
]
