"""The operations API: monitoring, incidents, maintenance mode, public status."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lms.models import User
from ops import queries, services, status_page, system
from ops.access import IsAdmin, IsStaff
from ops.forms import TEXT_MAX
from ops.models import HealthProbe, Incident, IncidentUpdate, MaintenanceWindow, Severity

MAX_MINUTES = 7 * 24 * 60  # the rows of a longer window take too long to fold per request


class WindowSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=MAX_MINUTES, default=60)
    endpoint = serializers.CharField(required=False, max_length=255)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=10)
    sort_by = serializers.ChoiceField(
        choices=["request_count", "error_rate", "avg_duration_ms"], default="request_count"
    )
    threshold_ms = serializers.FloatField(min_value=0, default=1000)


def _params(request: Request) -> dict[str, Any]:
    serializer = WindowSerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


WINDOW = OpenApiParameter("minutes", int, description="Window in minutes (default 60)")


class PerformanceView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[WINDOW, OpenApiParameter("endpoint", str, description="One route pattern, e.g. /decks/<int:pk>/")],
        responses=dict,
        summary="Per-route request metrics over the window",
    )
    def get(self, request: Request) -> Response:
        p = _params(request)
        return Response(queries.performance(p["minutes"], endpoint=p.get("endpoint")))


class PerformanceSummaryView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(parameters=[WINDOW], responses=dict, summary="Totals, percentiles and system resources")
    def get(self, request: Request) -> Response:
        p = _params(request)
        snap = system.snapshot(cpu_interval=0.1)
        return Response(
            {
                "window_minutes": p["minutes"],
                "uptime_seconds": snap["process_uptime_seconds"],
                **queries.totals(p["minutes"]),
                "system": {k: snap[k] for k in ("cpu", "memory", "disk")},
            }
        )


class PerformanceTopView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[
            WINDOW,
            OpenApiParameter("sort_by", str, enum=["request_count", "error_rate", "avg_duration_ms"]),
            OpenApiParameter("limit", int),
        ],
        responses=dict,
        summary="Top routes by volume, error rate or latency",
    )
    def get(self, request: Request) -> Response:
        p = _params(request)
        rows = list(queries.performance(p["minutes"]).values())
        key = {
            "request_count": lambda r: r["request_count"],
            "error_rate": lambda r: (r["error_rate"], r["error_count"]),
            "avg_duration_ms": lambda r: r["duration_ms"]["avg"] or 0,
        }[p["sort_by"]]
        rows.sort(key=key, reverse=True)
        return Response({"sort_by": p["sort_by"], "window_minutes": p["minutes"], "endpoints": rows[: p["limit"]]})


class PerformanceSlowView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[WINDOW, OpenApiParameter("threshold_ms", float), OpenApiParameter("limit", int)],
        responses=dict,
        summary="Routes whose p95 is above the threshold",
    )
    def get(self, request: Request) -> Response:
        p = _params(request)
        rows = [
            r for r in queries.performance(p["minutes"]).values() if (r["duration_ms"]["p95"] or 0) > p["threshold_ms"]
        ]
        rows.sort(key=lambda r: r["duration_ms"]["p95"], reverse=True)
        return Response(
            {"threshold_ms": p["threshold_ms"], "window_minutes": p["minutes"], "endpoints": rows[: p["limit"]]}
        )


class SystemView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=dict, summary="CPU, memory, disk and uptime (psutil)")
    def get(self, request: Request) -> Response:
        return Response(system.snapshot(cpu_interval=0.1))


# --- Incidents ---------------------------------------------------------------------------


class UpdateSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", default=None, read_only=True, allow_null=True)

    class Meta:
        model = IncidentUpdate
        fields = ["id", "created_at", "author", "message", "public", "status", "severity", "data"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    commander = serializers.CharField(source="commander.username", default=None, read_only=True, allow_null=True)
    rule = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    respond_by = serializers.DateTimeField(read_only=True)
    resolve_by = serializers.DateTimeField(read_only=True)
    postmortem = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "description",
            "severity",
            "status",
            "components",
            "commander",
            "source",
            "rule",
            "triggered_at",
            "acknowledged_at",
            "resolved_at",
            "time_to_acknowledge_s",
            "time_to_resolve_s",
            "respond_by",
            "resolve_by",
            "response_breached",
            "resolution_breached",
            "escalated_at",
            "postmortem",
        ]
        read_only_fields = fields

    def get_postmortem(self, incident: Incident) -> dict[str, Any] | None:
        if not incident.has_postmortem:
            return None
        out = {name: getattr(incident, f"postmortem_{name}") for name in services.POSTMORTEM_FIELDS}
        out["written_at"] = incident.postmortem_at
        return out


class IncidentDetailSerializer(IncidentSerializer):
    updates = UpdateSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "updates"]
        read_only_fields = fields


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices)
    description = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    components = serializers.ListField(
        child=serializers.ChoiceField(choices=HealthProbe.Component.choices), required=False, default=list
    )
    commander = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_staff=True), required=False, allow_null=True
    )
    public_message = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class IncidentUpdateSerializer(serializers.Serializer):
    message = serializers.CharField(
        max_length=TEXT_MAX,
    )
    public = serializers.BooleanField(default=False)
    status = serializers.ChoiceField(choices=Incident.Status.choices, required=False, allow_blank=True, default="")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, allow_null=True, default=None)


class SeveritySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    message = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class ResolveSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    public = serializers.BooleanField(default=True)


class PostmortemSerializer(serializers.Serializer):
    summary = serializers.CharField(
        max_length=TEXT_MAX,
    )
    impact = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    root_cause = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    resolution = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    action_items = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents: list (open first; ?status=open|<status>, ?severity=, ?component=), declare, act."""

    permission_classes = [IsStaff]

    def get_queryset(self) -> Any:
        qs = Incident.objects.for_list()
        params = self.request.query_params
        status = params.get("status")
        if status == "open":
            qs = qs.open()
        elif status in Incident.Status.values:
            qs = qs.filter(status=status)
        elif status:
            raise serializers.ValidationError({"status": [f"Unknown status {status!r}."]})
        if params.get("severity"):
            if params["severity"] not in {"1", "2", "3", "4"}:
                raise serializers.ValidationError({"severity": ["Severity must be 1, 2, 3 or 4."]})
            qs = qs.filter(severity=int(params["severity"]))
        if params.get("component"):
            if params["component"] not in HealthProbe.Component.values:
                raise serializers.ValidationError({"component": ["Unknown component."]})
            qs = qs.filter(components__icontains=f'"{params["component"]}"')
        if self.action == "retrieve":
            qs = qs.prefetch_related("updates__author")
        return qs

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return IncidentDetailSerializer if self.action == "retrieve" else IncidentSerializer

    def _detail(self, incident: Incident, status: int = 200) -> Response:
        incident = self.get_queryset().model.objects.prefetch_related("updates__author").get(pk=incident.pk)
        return Response(IncidentDetailSerializer(incident).data, status=status)

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentDetailSerializer})
    def create(self, request: Request) -> Response:
        s = IncidentCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        incident = services.incident_open(author=request.user, **s.validated_data)
        return self._detail(incident, 201)

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        services.incident_acknowledge(incident=incident, user=request.user)
        return self._detail(incident)

    @extend_schema(request=IncidentUpdateSerializer, responses={201: IncidentDetailSerializer})
    @action(detail=True, methods=["post"])
    def updates(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        s = IncidentUpdateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        services.incident_post_update(incident=incident, user=request.user, **s.validated_data)
        return self._detail(incident, 201)

    @extend_schema(request=SeveritySerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def severity(self, request: Request, pk: str | None = None) -> Response:
        """Change the severity (a timeline entry; raising it notifies as an escalation)."""
        incident = self.get_object()
        s = SeveritySerializer(data=request.data)
        s.is_valid(raise_exception=True)
        message = s.validated_data["message"] or f"Severity changed to SEV{s.validated_data['severity']}."
        services.incident_post_update(
            incident=incident, user=request.user, message=message, severity=s.validated_data["severity"]
        )
        return self._detail(incident)

    @extend_schema(request=ResolveSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        s = ResolveSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        services.incident_resolve(incident=incident, user=request.user, **s.validated_data)
        return self._detail(incident)

    @extend_schema(request=PostmortemSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post", "put"])
    def postmortem(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        s = PostmortemSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        services.incident_write_postmortem(incident=incident, user=request.user, **s.validated_data)
        return self._detail(incident)


# --- Maintenance windows, maintenance mode and status ----------------------------------------


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    components = serializers.ListField(
        child=serializers.ChoiceField(choices=HealthProbe.Component.choices), required=False, default=list
    )
    state = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "title",
            "message",
            "starts_at",
            "ends_at",
            "components",
            "maintenance_mode",
            "state",
            "cancelled_at",
            "started_at",
            "ended_at",
            "timeline",
        ]
        read_only_fields = ["cancelled_at", "started_at", "ended_at", "timeline"]

    def get_state(self, window: MaintenanceWindow) -> str:
        from django.utils import timezone

        return window.state(timezone.now())

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        starts = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["The window must end after it starts."]})
        return attrs


class MaintenanceWindowViewSet(viewsets.ModelViewSet):
    """Scheduled maintenance, announced on the status page (staff; `?upcoming=1`
    lists only windows in progress or to come). DELETE cancels a window: the row
    is kept, marked cancelled, and leaves the status page."""

    permission_classes = [IsStaff]
    serializer_class = MaintenanceWindowSerializer

    def get_queryset(self) -> Any:
        from django.utils import timezone

        qs = MaintenanceWindow.objects.order_by("starts_at")
        if self.request.query_params.get("upcoming"):
            qs = qs.upcoming(timezone.now())
        return qs

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = services.maintenance_window_create(**serializer.validated_data, user=self.request.user)

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = services.maintenance_window_update(
            window=serializer.instance, user=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: MaintenanceWindow) -> None:
        services.maintenance_window_cancel(window=instance, user=self.request.user)


class MaintenanceModeSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class MaintenanceModeView(APIView):
    def get_permissions(self) -> list:
        return [IsStaff()] if self.request.method == "GET" else [IsAdmin()]

    def _state(self) -> dict[str, Any]:
        return {
            "enabled": services.maintenance_mode_on(),
            "message": services.maintenance_message(),
            "retry_after": settings.OPS_MAINTENANCE_RETRY_AFTER,
        }

    @extend_schema(responses=MaintenanceModeSerializer, summary="Is maintenance mode on?")
    def get(self, request: Request) -> Response:
        return Response(self._state())

    @extend_schema(request=MaintenanceModeSerializer, responses=MaintenanceModeSerializer, summary="Switch it (admins)")
    def post(self, request: Request) -> Response:
        s = MaintenanceModeSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        services.maintenance_mode_set(
            on=s.validated_data["enabled"], message=s.validated_data["message"], user=request.user
        )
        return Response(self._state())


class StatusView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=dict, summary="Public service status, uptime and incidents")
    def get(self, request: Request) -> HttpResponse:
        """The live status; while the database is down, the last good copy
        (`"stale": true`) or a 503 in the error shape; never an HTML 500.
        `outages` is what the watchdog reports from outside."""
        try:
            data = status_page.data()
        except DatabaseError:
            return status_page.fallback_response(api=True)
        response = Response(status_page.overlay(data, status_page.outage_state()))
        response["Cache-Control"] = f"public, max-age={settings.OPS_STATUS_HTTP_MAX_AGE}"
        return response
