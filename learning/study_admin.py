"""Admin for study data. Reviews are history: viewable, never edited."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from learning.models import CardState, Review, StudySession


@admin.register(CardState)
class CardStateAdmin(admin.ModelAdmin):
    list_display = ["student", "card", "status", "repetitions", "interval", "ease", "due_at", "lapses"]
    list_filter = ["status"]
    search_fields = ["student__username", "card__front"]
    raw_id_fields = ["student", "card"]
    list_select_related = ["student", "card"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["reviewed_at", "student", "card", "mode", "quality", "correct", "changed_schedule"]
    list_filter = ["mode", "changed_schedule", "correct"]
    search_fields = ["student__username", "card__front"]
    raw_id_fields = ["student", "card", "session"]
    list_select_related = ["student", "card"]
    date_hierarchy = "reviewed_at"

    def has_change_permission(self, request: HttpRequest, obj: Review | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StudySession)
class StudySessionAdmin(admin.ModelAdmin):
    list_display = ["started_at", "student", "mode", "scope_type", "scope_title", "status", "answers_count", "score"]
    list_filter = ["mode", "status", "scope_type"]
    search_fields = ["student__username", "scope_title"]
    raw_id_fields = ["student", "classroom"]
    list_select_related = ["student"]
