"""`/api/v1/feedback/`: submit, your own history, everything for staff, triage."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import feedback
from analytics.access import IsAnalyticsViewer
from analytics.api import StrictSerializer
from analytics.models import Feedback
from lms.models import User
from lms.pagination import Pagination


def feedback_dict(f: Feedback, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.pk,
        "type": f.kind,
        "rating": f.rating,
        "message": f.message,
        "page_url": f.page_url,
        "status": f.status,
        "response": f.reply,
        "responded_at": f.replied_at,
        "created_at": f.created_at,
    }
    if staff:
        out.update(
            user=f.user.username,
            role=f.role,
            app_version=f.app_version,
            browser=f.browser,
            flags=f.flags,
            variants=f.variants,
            incidents=f.incidents,
            assignee=f.assignee.username if f.assignee_id else None,
            tags=f.tags,
        )
    return out


class FeedbackSubmitSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=Feedback.Kind.choices)
    message = serializers.CharField(max_length=feedback.MAX_MESSAGE)
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    page_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class FeedbackListView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    @extend_schema(operation_id="v1_feedback_mine", responses={200: OpenApiTypes.OBJECT}, summary="Your feedback")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(
            Feedback.objects.filter(user=request.user).select_related("user", "assignee").order_by("-created_at", "-id")
        )
        return self.get_paginated_response([feedback_dict(f, staff=False) for f in page])

    @extend_schema(request=FeedbackSubmitSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Send feedback")
    def post(self, request: Request) -> Response:
        serializer = FeedbackSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = feedback.feedback_submit(
            user=request.user,
            kind=data["type"],
            message=data["message"],
            rating=data.get("rating"),
            page_url=data["page_url"],
            browser=request.headers.get("User-Agent", ""),
        )
        return Response(feedback_dict(item, staff=False), status=status.HTTP_201_CREATED)


class FeedbackAllView(generics.GenericAPIView):
    permission_classes = [IsAnalyticsViewer]
    pagination_class = Pagination

    @extend_schema(
        parameters=[OpenApiParameter(p, str) for p in ("type", "status", "tag", "q")],
        responses={200: OpenApiTypes.OBJECT},
        summary="All feedback with context, filtered (staff)",
    )
    def get(self, request: Request) -> Response:
        params = {k: request.query_params.get(k, "") for k in ("type", "status", "tag", "q")}
        page = self.paginate_queryset(feedback.triage_queryset(params))
        return self.get_paginated_response([feedback_dict(f, staff=True) for f in page])


class FeedbackDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One message: yours, or any for staff")
    def get(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(Feedback.objects.visible_to(request.user), pk=pk)
        return Response(feedback_dict(item, staff=request.user.is_staff))


class FeedbackStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=Feedback.Status.choices, required=False)
    response = serializers.CharField(max_length=feedback.MAX_MESSAGE, required=False, allow_blank=True)
    assignee = serializers.CharField(max_length=150, required=False, allow_null=True, help_text="staff username")
    tags = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=10)


class FeedbackStatusView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(request=FeedbackStatusSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Triage (staff)")
    def put(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(Feedback, pk=pk)
        serializer = FeedbackStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        assignee: Any = "keep"
        if "assignee" in data:
            assignee = get_object_or_404(User, username=data["assignee"]) if data["assignee"] else None
        item = feedback.feedback_triage(
            feedback=item,
            actor=request.user,
            status=data.get("status"),
            assignee=assignee,
            tags=data.get("tags"),
            reply=data.get("response"),
        )
        return Response(feedback_dict(item, staff=True))

    patch = put


class NpsSerializer(StrictSerializer):
    score = serializers.IntegerField(min_value=0, max_value=10, allow_null=True)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class NpsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Is the NPS question due for you? (staff: by month)")
    def get(self, request: Request) -> Response:
        out: dict[str, Any] = {"due": feedback.nps_due(request.user)}
        if request.user.is_staff:
            out["by_month"] = feedback.nps_by_month()
        return Response(out)

    @extend_schema(request=NpsSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Answer (or null to dismiss)")
    def post(self, request: Request) -> Response:
        serializer = NpsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = feedback.nps_submit(user=request.user, **serializer.validated_data)
        return Response({"score": answer.score, "created_at": answer.created_at}, status=status.HTTP_201_CREATED)
