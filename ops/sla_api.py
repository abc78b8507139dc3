"""`/api/v1/sla/`: the monthly SLA reports (staff only)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lms.pagination import Pagination
from ops import sla
from ops.access import IsStaff


class SlaPagination(Pagination):
    page_size = 12


class SlaReportListView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="sla_list",
        responses=dict,
        summary="Monthly SLA reports, newest first (overall figures; open one for detail)",
    )
    def get(self, request: Request) -> Response:
        paginator = SlaPagination()
        months = paginator.paginate_queryset(sla.months_available(), request, view=self)
        rows = []
        for month in months or []:
            report = sla.monthly_report(month, performance=False)  # the list shows availability and incidents
            rows.append(
                {
                    "id": report["month"],
                    "month": report["month"],
                    "complete": report["complete"],
                    "target_percent": report["target_percent"],
                    "uptime_percent": report["overall"]["uptime_percent"],
                    "met": report["overall"]["met"],
                    "error_budget_left_minutes": report["overall"]["error_budget"]["left_minutes"],
                    "incidents": report["incidents"]["total"],
                    "breaches": len(report["breaches"]),
                    "url": request.build_absolute_uri(reverse("api-sla-month", args=[report["month"]])),
                }
            )
        return paginator.get_paginated_response(rows)


class SlaReportView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="sla_retrieve",
        responses=dict,
        summary="One month's SLA report: availability, budgets, incidents, backups",
    )
    def get(self, request: Request, month: str) -> Response:
        try:
            first = sla.parse_month(month)
        except Exception as exc:
            raise NotFound("No such month; give it as YYYY-MM.") from exc
        if first > sla.current_month():
            raise NotFound("That month has not begun.")
        return Response(sla.monthly_report(first))
