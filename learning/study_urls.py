"""URLs for studying and progress; learning/urls.py appends these."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from learning import gradebook_views, scheduling_api, scheduling_views, study_api, study_views

urlpatterns = [
    path("dashboard/", study_views.dashboard, name="dashboard"),
    path("dashboard/decks/", study_views.deck_progress, name="deck_progress"),
    path("study/", study_views.study_start, name="study_start"),
    # The content pages link with a deck id: {% url 'learning:study_start' deck.pk %}.
    path("study/decks/<int:deck_pk>/", study_views.study_start, name="study_start"),
    path("study/sessions/<int:pk>/", study_views.study_session, name="study_session"),
    path("study/sessions/<int:pk>/answer/", study_views.study_answer, name="study_answer"),
    path("study/sessions/<int:pk>/next/", study_views.study_next, name="study_next"),
    path("study/sessions/<int:pk>/undo/", study_views.study_undo, name="study_undo"),
    path("study/sessions/<int:pk>/end/", study_views.study_end, name="study_end"),
    path("study/sessions/<int:pk>/override/", study_views.study_override, name="study_override"),
    path("study/sessions/<int:pk>/summary/", study_views.study_summary, name="study_summary"),
    path("classes/<int:pk>/progress/", study_views.class_progress, name="class_progress"),
    path("classes/<int:pk>/gradebook/", gradebook_views.class_gradebook, name="class_gradebook"),
    path("classes/<int:pk>/gradebook.csv", gradebook_views.class_gradebook_csv, name="class_gradebook_csv"),
    path("classes/<int:pk>/scheduling/", scheduling_views.class_scheduling, name="class_scheduling"),
    path("classes/<int:pk>/scheduling/optimize/", scheduling_views.class_optimize_now, name="class_optimize_now"),
    path(
        "classes/<int:pk>/scheduling/cards/<int:card_id>/unsuspend/",
        scheduling_views.class_unsuspend,
        name="class_unsuspend",
    ),
    path("schedulers/evaluation/", scheduling_views.site_evaluation, name="site_scheduler_evaluation"),
    path(
        "classes/<int:pk>/progress/students/<int:student_id>/",
        study_views.class_student_progress,
        name="class_student_progress",
    ),
]

router = SimpleRouter()
router.register("study-sessions", study_api.StudySessionViewSet, basename="api-study-session")
router.register("reviews", study_api.ReviewViewSet, basename="api-review")

api_urlpatterns = [
    path("progress/", study_api.ProgressView.as_view(), name="api-progress"),
    path("classrooms/<int:pk>/progress/", study_api.ClassroomProgressView.as_view(), name="api-classroom-progress"),
    path("classrooms/<int:pk>/gradebook/", study_api.ClassroomGradebookView.as_view(), name="api-classroom-gradebook"),
    path(
        "classrooms/<int:pk>/fsrs-fits/", scheduling_api.ClassroomFsrsFitsView.as_view(), name="api-classroom-fsrs-fits"
    ),
    path(
        "classrooms/<int:pk>/scheduler-evaluation/",
        scheduling_api.ClassroomSchedulerEvaluationView.as_view(),
        name="api-classroom-scheduler-evaluation",
    ),
    path("classrooms/<int:pk>/leeches/", scheduling_api.ClassroomLeechesView.as_view(), name="api-classroom-leeches"),
    path(
        "classrooms/<int:pk>/leeches/<int:card_id>/unsuspend/",
        scheduling_api.ClassroomUnsuspendView.as_view(),
        name="api-classroom-unsuspend",
    ),
    path(
        "scheduler-evaluation/",
        scheduling_api.SiteSchedulerEvaluationView.as_view(),
        name="api-scheduler-evaluation",
    ),
    path(
        "classrooms/<int:pk>/progress/students/<int:student_id>/",
        study_api.ClassroomStudentProgressView.as_view(),
        name="api-classroom-student-progress",
    ),
    *router.urls,
]
