"""Admin for study data. Reviews are history: viewable, never edited (only
a student's Undo removes their last answer)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from learning.models import CardState, FsrsFit, Review, StudySession


@admin.register(CardState)
class CardStateAdmin(admin.ModelAdmin):
    list_display = [
        "student",
        "card",
        "status",
        "step",
        "interval",
        "ease",
        "stability",
        "due_at",
        "lapses",
        "suspended",
    ]
    list_filter = ["status", "suspended"]
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
    raw_id_fields = ["student", "classroom", "undo_review"]
    list_select_related = ["student"]


@admin.register(FsrsFit)
class FsrsFitAdmin(admin.ModelAdmin):
    list_display = ["fitted_at", "classroom", "owner", "review_count", "log_loss_before", "log_loss_after", "skipped"]
    raw_id_fields = ["classroom", "owner"]
    list_select_related = ["classroom", "owner"]
    date_hierarchy = "fitted_at"
