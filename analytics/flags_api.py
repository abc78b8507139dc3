"""`/api/v1/flags/`: the brief's endpoints. Staff read; admins create and change."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import flags
from analytics.access import IsAnalyticsViewer
from analytics.api import StrictSerializer
from analytics.models import Flag, FlagChange, FlagExposure
from lms.models import User
from lms.pagination import Pagination

RESERVED = {"me", "stats", "user"}


def is_flag_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and getattr(user, "role", "") == "admin")


class IsFlagReaderOrAdminWrites(BasePermission):
    """Staff read flags; only admins create or change them."""

    message = "Only admins change flags."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return IsAnalyticsViewer().has_permission(request, view)
        return is_flag_admin(request.user)


def flags_with_exposures() -> QuerySet[Flag]:
    exposures = (
        FlagExposure.objects.filter(flag_name=OuterRef("name"))
        .order_by()
        .values("flag_name")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Flag.objects.annotate(exposures=Coalesce(Subquery(exposures, output_field=IntegerField()), 0))


def flag_dict(flag: Flag, *, stale: set[str] | None = None) -> dict[str, Any]:
    return {
        "flag_id": flag.name,
        "name": flag.title or flag.name,
        "description": flag.note,
        "enabled": flag.enabled,
        "everyone": flag.everyone,
        "strategy": flag.strategy,
        "percentage": float(flag.percentage),
        "effective_percentage": flags.effective_percentage(flag),
        "attributes": flag.attributes,
        "user_whitelist_count": len(flag.allow_users),
        "user_blacklist_count": len(flag.deny_users),
        "allow_users": flag.allow_users,
        "deny_users": flag.deny_users,
        "rollout_plan": flag.rollout_plan or None,
        "rollout_step": flag.rollout_step,
        "next_step": flags.next_step(flag),
        "auto_advance": flag.auto_advance,
        "hold_minutes": flag.hold_minutes,
        "guard_state": flag.guard_state or None,
        "guard_note": flag.guard_note,
        "exposures": getattr(flag, "exposures", None),
        "stale": flag.name in stale if stale is not None else None,
        "created_at": flag.created,
        "updated_at": flag.modified,
    }


class FlagWriteSerializer(StrictSerializer):
    flag_id = serializers.CharField(max_length=100, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="display name")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    everyone = serializers.BooleanField(required=False, allow_null=True, help_text="waffle's override")
    strategy = serializers.ChoiceField(choices=Flag.Strategy.choices, required=False)
    percentage = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False)
    attributes = serializers.DictField(required=False)
    allow_users = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    deny_users = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    auto_advance = serializers.BooleanField(required=False)
    hold_minutes = serializers.IntegerField(min_value=1, max_value=10080, required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def changes(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data.pop("flag_id", None)
        data.pop("reason", None)
        renames = {"name": "title", "description": "note"}
        return {renames.get(k, k): v for k, v in data.items()}


class FlagListView(generics.GenericAPIView):
    permission_classes = [IsFlagReaderOrAdminWrites]
    pagination_class = Pagination

    @extend_schema(
        operation_id="v1_flags_list",
        parameters=[OpenApiParameter("enabled_only", bool)],
        responses={200: OpenApiTypes.OBJECT},
        summary="All flags with rollout, exposures and guardrail state (staff)",
    )
    def get(self, request: Request) -> Response:
        qs = flags_with_exposures().order_by("name")
        if request.query_params.get("enabled_only", "").lower() in ("1", "true", "yes"):
            qs = qs.filter(enabled=True).exclude(everyone=False)
        page = self.paginate_queryset(qs)
        stale = flags.stale_names(page)
        return self.get_paginated_response([flag_dict(f, stale=stale) for f in page])

    @extend_schema(request=FlagWriteSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Create a flag (admin)")
    def post(self, request: Request) -> Response:
        serializer = FlagWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data.get("flag_id", "")
        if name in RESERVED:
            raise serializers.ValidationError({"flag_id": ["This name is reserved."]})
        if not name:
            raise serializers.ValidationError({"flag_id": ["This field is required."]})
        flag = flags.flag_create(
            name=name,
            actor=request.user,
            source=FlagChange.Source.API,
            reason=serializer.validated_data.get("reason", ""),
            **serializer.changes(),
        )
        return Response(flag_dict(flag), status=status.HTTP_201_CREATED)


class FlagDetailView(APIView):
    permission_classes = [IsFlagReaderOrAdminWrites]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One flag (staff)")
    def get(self, request: Request, name: str) -> Response:
        flag = get_object_or_404(flags_with_exposures(), name=name)
        return Response(flag_dict(flag, stale=flags.stale_names([flag])))

    @extend_schema(request=FlagWriteSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Change a flag (admin)")
    def patch(self, request: Request, name: str) -> Response:
        flag = get_object_or_404(Flag, name=name)
        serializer = FlagWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag = flags.flag_update(
            flag=flag,
            actor=request.user,
            source=FlagChange.Source.API,
            reason=serializer.validated_data.get("reason", ""),
            **serializer.changes(),
        )
        return Response(flag_dict(flag))


class CheckSerializer(StrictSerializer):
    user_id = serializers.IntegerField(min_value=1)
    user_attributes = serializers.DictField(required=False, default=dict)


class FlagCheckView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(request=CheckSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Is it on for a user?")
    def post(self, request: Request, name: str) -> Response:
        serializer = CheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = get_object_or_404(User, pk=serializer.validated_data["user_id"])
        subject = flags.subject_for(user, serializer.validated_data["user_attributes"])
        flag = flags.snapshot().get(name)
        if flag is None:
            get_object_or_404(Flag, name=name)
        enabled, why = flags.evaluate(flag, subject)
        return Response({"flag_id": name, "user_id": user.pk, "enabled": enabled, "reason": why})


class UserFlagsView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Every flag for a user (staff)")
    def get(self, request: Request, user_id: int) -> Response:
        user = get_object_or_404(User, pk=user_id)
        return Response({"user_id": user.pk, "flags": flags.flags_for(flags.subject_for(user))})


class MyFlagsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Every flag for you")
    def get(self, request: Request) -> Response:
        names = sorted(flags.snapshot())
        return Response({"user_id": request.user.pk, "flags": {n: flags.flag_on(request._request, n) for n in names}})


class FlagStatsView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Totals by strategy, exposures per flag (staff)")
    def get(self, request: Request) -> Response:
        rows = list(flags_with_exposures().order_by("name"))
        enabled = [f for f in rows if f.enabled and f.everyone is not False]
        strategies = dict.fromkeys(Flag.Strategy.values, 0)
        for f in rows:
            strategies[f.strategy] += 1
        stale = flags.stale_names(rows)
        return Response(
            {
                "total_flags": len(rows),
                "enabled_flags": len(enabled),
                "disabled_flags": len(rows) - len(enabled),
                "strategies": strategies,
                "stale_flags": sorted(stale),
                "flags": [
                    {
                        "flag_id": f.name,
                        "strategy": f.strategy,
                        "effective_percentage": flags.effective_percentage(f),
                        "exposures": f.exposures,
                    }
                    for f in rows
                ],
            }
        )


class RolloutSerializer(StrictSerializer):
    target_percentage = serializers.FloatField(min_value=0.01, max_value=100, default=100.0)
    increment = serializers.FloatField(min_value=0.01, max_value=100, default=10.0)
    auto_advance = serializers.BooleanField(default=False)
    hold_minutes = serializers.IntegerField(min_value=1, max_value=10080, required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class FlagRolloutView(APIView):
    permission_classes = [IsFlagReaderOrAdminWrites]

    @extend_schema(
        request=RolloutSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Plan a gradual rollout (admin)"
    )
    def post(self, request: Request, name: str) -> Response:
        flag = get_object_or_404(Flag, name=name)
        serializer = RolloutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        flag = flags.flag_plan_rollout(
            flag=flag,
            actor=request.user,
            source=FlagChange.Source.API,
            target=data["target_percentage"],
            increment=data["increment"],
            auto_advance=data["auto_advance"],
            hold_minutes=data.get("hold_minutes"),
            reason=data["reason"],
        )
        return Response(flag.rollout_plan)


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class FlagAdvanceView(APIView):
    permission_classes = [IsFlagReaderOrAdminWrites]

    @extend_schema(request=ReasonSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Next rollout step (admin)")
    def post(self, request: Request, name: str) -> Response:
        flag = get_object_or_404(Flag, name=name)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag = flags.flag_advance(
            flag=flag, actor=request.user, source=FlagChange.Source.API, reason=serializer.validated_data["reason"]
        )
        return Response(flag_dict(flag))


class FlagHistoryView(generics.GenericAPIView):
    permission_classes = [IsAnalyticsViewer]
    pagination_class = Pagination

    @extend_schema(
        operation_id="v1_flags_history_list",
        responses={200: OpenApiTypes.OBJECT},
        summary="The flag's audit log, newest first (staff)",
    )
    def get(self, request: Request, name: str) -> Response:
        get_object_or_404(Flag, name=name)
        page = self.paginate_queryset(FlagChange.objects.filter(flag_name=name).select_related("actor"))
        return self.get_paginated_response([change_dict(c) for c in page])


def change_dict(change: FlagChange) -> dict[str, Any]:
    return {
        "at": change.at,
        "actor": change.actor.username if change.actor else None,
        "source": change.source,
        "reason": change.reason,
        "changed": {k: {"before": b, "after": a} for k, (b, a) in change.changed.items()},
    }
