from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from lms.models import ApiToken, User
from lms.tokens import user_log_out_everywhere


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active", "last_login", "date_joined")
    list_filter = ("role", "is_active", "is_staff", "date_joined")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Flashcard LMS", {"fields": ("role", "timezone")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Flashcard LMS", {"fields": ("role", "email", "timezone")}),
    )
    actions = ["log_out_everywhere"]

    @admin.action(description="Log out everywhere (revoke API tokens, end web sessions)")
    def log_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        tokens = sessions = 0
        for user in queryset:
            done = user_log_out_everywhere(user=user, actor=request.user)
            tokens += done["tokens"]
            sessions += done["sessions"]
        self.message_user(request, f"Revoked {tokens} token(s) and ended {sessions} session(s).", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read and revoke only: a token cannot be made or shown here."""

    list_display = ("prefix", "user", "created", "expires", "last_used", "last_ip")
    list_select_related = ("user",)
    search_fields = ("user__username", "prefix")
    readonly_fields = (
        "user",
        "digest",
        "prefix",
        "created",
        "expires",
        "last_used",
        "created_ip",
        "last_ip",
        "user_agent",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False


admin.site.site_header = "Flashcard LMS administration"
admin.site.site_title = "Flashcard LMS admin"
