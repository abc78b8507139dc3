"""Who may see analytics: staff and admins. Everyone signed in may send their own browser events."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


def can_view_analytics(user: Any) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or getattr(user, "role", "") == "admin"))


class IsAnalyticsViewer(BasePermission):
    message = "Analytics are for staff and admins."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_view_analytics(request.user)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to the login page; signed-in non-staff get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_view_analytics(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
