from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from lms.models import User


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


admin.site.site_header = "Flashcard LMS administration"
admin.site.site_title = "Flashcard LMS admin"
