"""The analytics API: staff-only reads, plus posting one's own browser events."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import dashboard_figures, queries, services
from analytics import timeutil as tu
from analytics.access import IsAnalyticsViewer, can_view_analytics
from analytics.funnel import DEFAULT_DAYS, DEFAULT_WINDOW_HOURS, MAX_DAYS, FunnelError, FunnelSpec
from analytics.models import Event
from lms.models import User
from lms.throttling import ScopedRateThrottle


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validate_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone.") from exc
    return value


class DaysQuery(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=30)
    tz = serializers.CharField(
        required=False, validators=[validate_zone], help_text="IANA time zone for days; defaults to the viewer's"
    )


class EventRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "name", "user", "session_key", "properties", "timestamp"]


class FunnelStepSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    event = serializers.CharField()
    users = serializers.IntegerField()
    conversion_rate = serializers.FloatField(help_text="share of the previous step's users")
    dropoff_rate = serializers.FloatField()
    overall_conversion = serializers.FloatField(help_text="share of step 1's users")
    median_seconds_from_previous = serializers.FloatField(allow_null=True)


class FunnelResponseSerializer(serializers.Serializer):
    steps = FunnelStepSerializer(many=True)
    overall_conversion = serializers.FloatField()
    days = serializers.IntegerField()
    window_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    breakdown = serializers.DictField(allow_null=True, help_text='{"property", "values": {value: [users per step]}}')


class EngagementDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    dau = serializers.IntegerField()
    wau = serializers.IntegerField()
    mau = serializers.IntegerField()
    stickiness = serializers.FloatField()
    new = serializers.IntegerField()
    returning = serializers.IntegerField()


class EngagementResponseSerializer(serializers.Serializer):
    timezone = serializers.CharField()
    days = serializers.IntegerField()
    dau = serializers.IntegerField(help_text="today")
    wau = serializers.IntegerField()
    mau = serializers.IntegerField()
    stickiness = serializers.FloatField(help_text="average DAU/MAU over the range")
    active_users = serializers.IntegerField()
    new_users = serializers.IntegerField()
    returning_users = serializers.IntegerField()
    series = EngagementDaySerializer(many=True)
    sessions = serializers.DictField()
    study = serializers.DictField(allow_null=True)


# --- Reads ------------------------------------------------------------------------


class EngagementView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(
        parameters=[DaysQuery],
        responses={200: EngagementResponseSerializer},
        summary="DAU series, WAU, MAU, stickiness, new vs returning and sessions (viewer's time zone)",
    )
    def get(self, request: Request) -> Response:
        params = _query(DaysQuery, request)
        tz = tu.zone(params.get("tz") or request.user.timezone)
        result = dashboard_figures.engagement(tz, days=params["days"])
        today = tu.utc_day_of(timezone.now())
        sessions = queries.sessions_summary(today - params["days"] + 1, today)
        return Response(
            {
                "timezone": str(tz),
                "days": params["days"],
                "dau": result.dau[-1] if result.dau else 0,
                "wau": result.wau[-1] if result.wau else 0,
                "mau": result.mau[-1] if result.mau else 0,
                "stickiness": result.avg_stickiness,
                "active_users": result.active_users,
                "new_users": result.new_users,
                "returning_users": result.active_users - result.new_users,
                "series": result.rows(),
                "sessions": {
                    "count": sessions.sessions,
                    "avg_duration_seconds": sessions.avg_duration_seconds,
                    "events_per_session": sessions.events_per_session,
                },
                "study": queries.study_metrics(params["days"]),
            }
        )


class RetentionQuery(StrictSerializer):
    cohorts = serializers.IntegerField(min_value=1, max_value=52, default=8)
    tz = serializers.CharField(required=False, validators=[validate_zone])


class RetentionView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(
        parameters=[RetentionQuery],
        responses={200: OpenApiTypes.OBJECT},
        summary="Weekly cohorts by first activity: share active in weeks 1-8",
    )
    def get(self, request: Request) -> Response:
        params = _query(RetentionQuery, request)
        tz = tu.zone(params.get("tz") or request.user.timezone)
        cohorts = dashboard_figures.retention(tz, cohorts=params["cohorts"])
        return Response(
            {
                "timezone": str(tz),
                "cohorts": [
                    {"week_start": c.week_start, "size": c.size, "weeks": c.shares, "counts": c.counts} for c in cohorts
                ],
            }
        )


class FeaturesQuery(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=30)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=20)


class FeaturesView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(
        parameters=[FeaturesQuery],
        responses={200: OpenApiTypes.OBJECT},
        summary="Events by name with counts and distinct users; most and least used",
    )
    def get(self, request: Request) -> Response:
        params = _query(FeaturesQuery, request)
        today = tu.utc_day_of(timezone.now())
        rows = dashboard_figures.feature_usage(today - params["days"] + 1, today)
        as_dicts = [{"name": r.name, "events": r.events, "users": r.users, "share": r.share} for r in rows]
        limit = params["limit"]
        return Response(
            {
                "days": params["days"],
                "most_used": as_dicts[:limit],
                "least_used": list(reversed(as_dicts[-limit:])),
                "total_features": len(as_dicts),
            }
        )


class ActiveUsersQuery(StrictSerializer):
    minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, default=60)


class ActiveUsersView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(
        parameters=[ActiveUsersQuery],
        responses={200: OpenApiTypes.OBJECT},
        summary="Distinct users and sessions active in the last N minutes",
    )
    def get(self, request: Request) -> Response:
        params = _query(ActiveUsersQuery, request)
        data = queries.active_users(params["minutes"])
        return Response(
            {
                "minutes": data["minutes"],
                "active_users": data["users"],
                "sessions": data["sessions"],
                "events": data["events"],
            }
        )


class UserAnalyticsView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One user's events, sessions and activity")
    def get(self, request: Request, user_id: int) -> Response:
        user = get_object_or_404(User, pk=user_id)
        data = queries.user_analytics(user.pk, tu.zone(request.user.timezone))
        data["by_day"] = {day.isoformat(): n for day, n in sorted(data["by_day"].items())}
        return Response({"username": user.username, **data})


class SessionView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The events of one browser session")
    def get(self, request: Request, session_key: str) -> Response:
        data = queries.session_detail(session_key)
        if data is None:
            raise NotFound("No events for this session.")
        events = data.pop("events")
        return Response(
            {
                **data,
                "events": [
                    {"name": e.name, "timestamp": e.timestamp, "route": e.properties.get("route", "")} for e in events
                ],
            }
        )


class ErrorsQuery(StrictSerializer):
    hours = serializers.IntegerField(min_value=1, max_value=24 * 90, default=24)


class ErrorsView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(parameters=[ErrorsQuery], responses={200: OpenApiTypes.OBJECT}, summary="Errors in the last N hours")
    def get(self, request: Request) -> Response:
        params = _query(ErrorsQuery, request)
        data = queries.errors_summary(params["hours"])
        data["recent"] = [
            {
                "timestamp": e.timestamp,
                "type": e.properties.get("type", ""),
                "message": e.properties.get("message", ""),
                "route": e.properties.get("route", ""),
                "status": e.properties.get("status"),
                "user": e.user.username if e.user else None,
            }
            for e in data["recent"]
        ]
        return Response(data)


class FunnelRequestSerializer(StrictSerializer):
    steps = serializers.ListField(child=serializers.CharField(max_length=64), min_length=2, max_length=10)
    days = serializers.IntegerField(default=DEFAULT_DAYS)
    window_hours = serializers.IntegerField(default=DEFAULT_WINDOW_HOURS)
    breakdown = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["spec"] = FunnelSpec(
                tuple(attrs["steps"]),
                days=attrs["days"],
                window_hours=attrs["window_hours"],
                breakdown=attrs["breakdown"],
            )
        except FunnelError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        return attrs


def funnel_payload(result: queries.FunnelResult) -> dict[str, Any]:
    return {
        "steps": [
            {
                "step": i + 1,
                "event": s.name,
                "users": s.users,
                "conversion_rate": s.conversion,
                "dropoff_rate": s.drop_off,
                "overall_conversion": s.overall,
                "median_seconds_from_previous": s.median_seconds,
            }
            for i, s in enumerate(result.steps)
        ],
        "overall_conversion": result.overall_conversion,
        "days": result.spec.days,
        "window_hours": result.spec.window_hours,
        "since": result.since,
        "until": result.until,
        "breakdown": {"property": result.spec.breakdown, "values": result.breakdown} if result.spec.breakdown else None,
    }


class FunnelView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(
        request=FunnelRequestSerializer,
        responses={200: FunnelResponseSerializer},
        summary="Conversion funnel: users per step, conversion, drop-off, median time between steps",
        description=(
            "A user reaches step k with events for steps 1..k at t1 <= ... <= tk (each a different event), all in "
            "the last `days` days, with tk - t1 <= `window_hours` (default 336). 2-10 steps."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = FunnelRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(funnel_payload(queries.cached_funnel(serializer.validated_data["spec"])))


# --- Events: staff list, and browser events from anyone signed in ----------------------------


class BrowserEventSerializer(StrictSerializer):
    name = serializers.CharField(max_length=64)
    properties = serializers.DictField(required=False, default=dict)
    timestamp = serializers.DateTimeField(required=False)


class BrowserBatchSerializer(StrictSerializer):
    events = BrowserEventSerializer(many=True, allow_empty=False)


class EventsView(generics.ListAPIView):
    """GET: staff browse raw events. POST: the signed-in user's browser sends a batch of its own events."""

    serializer_class = EventRowSerializer
    throttle_scope = "events"

    def get_permissions(self) -> list:
        return [IsAuthenticated()] if self.request.method == "POST" else [IsAnalyticsViewer()]

    def get_throttles(self) -> list:
        return [ScopedRateThrottle()] if self.request.method == "POST" else super().get_throttles()

    def get_queryset(self) -> Any:
        events = Event.objects.order_by("-timestamp", "-id")
        params = self.request.query_params
        if params.get("user"):
            if not params["user"].isdigit():
                raise ValidationError({"user": ["A user id."]})
            events = events.filter(user_id=int(params["user"]))
        if params.get("name"):
            events = events.filter(name=params["name"])
        if params.get("session"):
            events = events.filter(session_key=params["session"])
        return events

    @extend_schema(
        parameters=[
            OpenApiParameter("user", int, description="only this user's events"),
            OpenApiParameter("name", str),
            OpenApiParameter("session", str, description="session key"),
        ],
        summary="Raw events, newest first (staff)",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=BrowserBatchSerializer,
        responses={201: inline_serializer("EventsAccepted", {"accepted": serializers.IntegerField()})},
        summary="Send up to 100 of your own browser events (e.g. card_flipped); rate-limited",
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, dict) and isinstance(data.get("events"), list) and len(data["events"]) > 100:
            raise ValidationError({"events": ["Send at most 100 events per request."]})
        serializer = BrowserBatchSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        accepted = services.record_browser_events(
            user=request.user,
            session_key=services.request_session_key(request._request),
            events=[
                services.BrowserEvent(e["name"], e.get("properties") or {}, e.get("timestamp"))
                for e in serializer.validated_data["events"]
            ],
        )
        return Response({"accepted": accepted}, status=status.HTTP_201_CREATED)


class MyEventsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Export every event recorded about you")
    def get(self, request: Request) -> Response:
        return Response({"user": request.user.username, "events": list(services.export_user_events(request.user.pk))})


__all__ = ["can_view_analytics"]
