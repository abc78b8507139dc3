from __future__ import annotations

from django.contrib import admin

from analytics.models import DailyEventCount, DailySessionStats, Event, RollupDay


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
