"""Who may see ops pages: staff (admins are staff); some actions need an admin."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission

from ops.models import Incident


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def get_incident_for(user: Any, pk: int) -> Incident:
    """Incidents are staff business: non-staff are refused before this is reached."""
    if not (user.is_authenticated and user.is_staff):
        raise PermissionDenied
    return get_object_or_404(Incident.objects.select_related("commander", "rule"), pk=pk)


class IsStaff(BasePermission):
    message = "Only staff can use the operations API."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class IsAdmin(BasePermission):
    message = "Only admins can do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and getattr(request.user, "is_admin", False))
