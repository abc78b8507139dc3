from __future__ import annotations

from django.contrib import admin

from ops.models import (
    Article,
    ArticleCategory,
    ArticleTag,
    BackupDrill,
    DetectionRule,
    HealthProbe,
    Incident,
    IncidentUpdate,
    MaintenanceRun,
    MaintenanceStep,
    MaintenanceWindow,
    ReportRun,
    RequestMetric,
    Subscriber,
)


@admin.register(DetectionRule)
class DetectionRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "threshold",
        "severity",
        "window_minutes",
        "min_requests",
        "clear_minutes",
        "enabled",
    ]
    list_editable = ["threshold", "enabled"]
    list_filter = ["kind", "enabled"]


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    extra = 0
    raw_id_fields = ["author"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "severity", "status", "source", "triggered_at", "response_breached", "resolution_breached"]
    list_filter = ["status", "severity", "source"]
    search_fields = ["title"]
    raw_id_fields = ["commander"]
    inlines = [IncidentUpdateInline]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ["title", "starts_at", "ends_at", "cancelled_at"]
    raw_id_fields = ["created_by", "cancelled_by"]


@admin.register(BackupDrill)
class BackupDrillAdmin(admin.ModelAdmin):
    list_display = ["ran_at", "file", "ok", "tables_checked", "trigger", "duration_ms"]
    list_filter = ["ok", "trigger"]
    readonly_fields = [f.name for f in BackupDrill._meta.fields]


class MaintenanceStepInline(admin.TabularInline):
    model = MaintenanceStep
    extra = 0
    readonly_fields = ["position", "name", "result", "message", "figures", "duration_ms"]


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "status", "trigger", "finished_at"]
    inlines = [MaintenanceStepInline]


@admin.register(HealthProbe)
class HealthProbeAdmin(admin.ModelAdmin):
    list_display = ["component", "status", "latency_ms", "checked_at"]
    list_filter = ["component", "status"]
    date_hierarchy = "checked_at"


@admin.register(RequestMetric)
class RequestMetricAdmin(admin.ModelAdmin):
    list_display = ["bucket_start", "resolution", "method", "route", "request_count", "server_errors"]
    list_filter = ["resolution", "method"]
    search_fields = ["route"]
    date_hierarchy = "bucket_start"


# --- Knowledge base, subscriptions, report runs -------------------------------------


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    """Prefer the knowledge-base pages (/kb/): they render and index the Markdown."""

    list_display = ["title", "category", "visibility", "status", "reviewed_at", "view_count", "helpful_count"]
    list_filter = ["visibility", "status", "category"]
    search_fields = ["title", "body"]
    readonly_fields = ["body_html", "view_count", "helpful_count", "not_helpful_count", "source"]
    raw_id_fields = ["author"]


admin.site.register(ArticleCategory)
admin.site.register(ArticleTag)


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "kind", "url", "components", "confirmed_at", "unsubscribed_at"]
    list_filter = ["kind"]
    search_fields = ["email", "url"]


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    list_display = ["kind", "period", "sent_at"]
    list_filter = ["kind"]
