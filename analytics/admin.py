from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from analytics import flags
from analytics.models import (
    DailyEventCount,
    DailySessionStats,
    Event,
    Experiment,
    FeatureRequest,
    Feedback,
    Flag,
    FlagChange,
    RollupDay,
)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "name", "user", "session_key"]
    list_filter = ["name"]
    search_fields = ["name", "user__username", "session_key"]
    date_hierarchy = "timestamp"
    raw_id_fields = ["user"]
    list_select_related = ["user"]
    show_full_result_count = False  # counting millions of rows on every page is slow


@admin.register(DailyEventCount)
class DailyEventCountAdmin(admin.ModelAdmin):
    list_display = ["day", "name", "events", "users"]
    list_filter = ["name"]


@admin.register(DailySessionStats)
class DailySessionStatsAdmin(admin.ModelAdmin):
    list_display = ["day", "sessions", "duration_seconds", "events"]


@admin.register(RollupDay)
class RollupDayAdmin(admin.ModelAdmin):
    list_display = ["day", "rolled_at"]


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    """waffle's flag admin with our fields; every save goes to the audit log."""

    list_display = ["name", "title", "enabled", "strategy", "percentage", "everyone", "modified"]
    list_filter = ["enabled", "strategy"]
    search_fields = ["name", "title", "note"]
    exclude = ["users", "groups", "percent", "rollout", "testing", "languages"]
    readonly_fields = ["guard_state", "guard_since", "guard_note", "step_changed_at"]

    def save_model(self, request: HttpRequest, obj: Flag, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = flags.state_of(Flag.objects.get(pk=obj.pk)) if change else {}
            obj.modified = timezone.now()
            if flags.reach_changed(before, flags.state_of(obj)):
                obj.step_changed_at = obj.modified  # auto-advance waits a full hold after any step
            super().save_model(request, obj, form, change)
            flags.after_change(obj, before)  # e.g. voters told when it starts rolling out
            FlagChange.objects.create(
                flag=obj,
                flag_name=obj.name,
                actor=request.user,
                source=FlagChange.Source.ADMIN,
                before=before,
                after=flags.state_of(obj),
                reason="changed in the Django admin" if change else "created in the Django admin",
            )
            transaction.on_commit(flags.forget_snapshot)

    def _audit_delete(self, request: HttpRequest, flag: Flag) -> None:
        FlagChange.objects.create(
            flag=None,
            flag_name=flag.name,
            actor=request.user,
            source=FlagChange.Source.ADMIN,
            before=flags.state_of(flag),
            after={},
            reason="deleted in the Django admin",
        )

    def delete_model(self, request: HttpRequest, obj: Flag) -> None:
        with transaction.atomic():
            self._audit_delete(request, obj)
            super().delete_model(request, obj)
            transaction.on_commit(flags.forget_snapshot)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for flag in queryset:
                self._audit_delete(request, flag)
            super().delete_queryset(request, queryset)
            transaction.on_commit(flags.forget_snapshot)


@admin.register(FlagChange)
class FlagChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "flag_name", "actor", "source", "reason"]
    list_filter = ["source"]
    search_fields = ["flag_name", "reason"]
    list_select_related = ["actor"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an audit log is not edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "status", "started_at", "stopped_at"]
    list_filter = ["status"]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "rating", "status"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["user", "assignee"]


@admin.register(FeatureRequest)
class FeatureRequestAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "votes", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["author", "merged_into", "flag"]
