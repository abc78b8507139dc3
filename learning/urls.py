from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import DefaultRouter

from learning import api, study_urls, transfer_views, views

app_name = "learning"

urlpatterns: list[URLPattern | URLResolver] = [
    path("classes/", views.classroom_list, name="classroom_list"),
    path("classes/new/", views.classroom_create, name="classroom_create"),
    path("classes/<int:pk>/", views.classroom_detail, name="classroom_detail"),
    path("classes/<int:pk>/edit/", views.classroom_edit, name="classroom_edit"),
    path("classes/<int:pk>/delete/", views.classroom_delete, name="classroom_delete"),
    path("classes/<int:pk>/code/", views.classroom_regenerate_code, name="classroom_regenerate_code"),
    path("classes/<int:pk>/students/<int:student_id>/remove/", views.enrollment_remove, name="enrollment_remove"),
    path("classes/<int:pk>/courses/new/", views.course_create, name="course_create"),
    path("join/", views.join, name="join"),
    # An invite link: {% url "learning:join" code %} (or "learning:join_code").
    path("join/<str:code>/", views.join_code, name="join"),
    path("join/<str:code>/", views.join_code, name="join_code"),
    path("courses/<int:pk>/", views.course_detail, name="course_detail"),
    path("courses/<int:pk>/edit/", views.course_edit, name="course_edit"),
    path("courses/<int:pk>/delete/", views.course_delete, name="course_delete"),
    path("courses/<int:pk>/lessons/new/", views.lesson_create, name="lesson_create"),
    path("lessons/<int:pk>/", views.lesson_detail, name="lesson_detail"),
    path("lessons/<int:pk>/edit/", views.lesson_edit, name="lesson_edit"),
    path("lessons/<int:pk>/delete/", views.lesson_delete, name="lesson_delete"),
    path("lessons/<int:pk>/publish/", views.lesson_publish, name="lesson_publish"),
    path("lessons/<int:lesson_pk>/decks/new/", views.deck_create, name="lesson_deck_create"),
    path("decks/", views.deck_list, name="deck_list"),
    path("decks/new/", views.deck_create, name="deck_create"),
    path("decks/<int:pk>/", views.deck_detail, name="deck_detail"),
    path("decks/<int:pk>/edit/", views.deck_edit, name="deck_edit"),
    path("decks/<int:pk>/delete/", views.deck_delete, name="deck_delete"),
    path("decks/<int:pk>/cards/new/", views.card_create, name="card_create"),
    path("decks/<int:pk>/cards/bulk/", views.cards_bulk_add, name="cards_bulk_add"),
    path("decks/<int:pk>/export/", transfer_views.deck_export, name="deck_export"),
    path("decks/<int:pk>/import/", transfer_views.deck_import, name="deck_import"),
    path("decks/import/", transfer_views.deck_import_new, name="deck_import_new"),
    path("lessons/<int:lesson_pk>/decks/import/", transfer_views.deck_import_new, name="lesson_deck_import"),
    path("imports/<int:pk>/", transfer_views.import_job, name="import_job"),
    path("cards/preview/", views.card_preview, name="card_preview"),
    path("cards/<int:pk>/edit/", views.card_edit, name="card_edit"),
    path("cards/<int:pk>/delete/", views.card_delete, name="card_delete"),
    path("cards/<int:pk>/image/", views.card_media, {"kind": "image"}, name="card_image"),
    path("cards/<int:pk>/audio/", views.card_media, {"kind": "audio"}, name="card_audio"),
    path("courses/<int:pk>/move/", views.move, {"kind": "course"}, name="course_move"),
    path("lessons/<int:pk>/move/", views.move, {"kind": "lesson"}, name="lesson_move"),
    path("decks/<int:pk>/move/", views.move, {"kind": "deck"}, name="deck_move"),
    path("cards/<int:pk>/move/", views.move, {"kind": "card"}, name="card_move"),
]

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("classrooms", api.ClassroomViewSet, basename="classroom")
router.register("courses", api.CourseViewSet, basename="course")
router.register("lessons", api.LessonViewSet, basename="lesson")
router.register("decks", api.DeckViewSet, basename="deck")
router.register("cards", api.CardViewSet, basename="card")

# Mounted under /api/v1/ by lms/urls.py.
api_urlpatterns: list[URLPattern | URLResolver] = [
    *study_urls.api_urlpatterns,
    path("imports/<int:pk>/", api.ImportJobView.as_view(), name="api-import-job"),
    *router.urls,
]
urlpatterns += study_urls.urlpatterns
