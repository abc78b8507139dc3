"""`/api/v1/feature-requests/`: list, submit, vote (once; DELETE withdraws), comment; staff triage and merge."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import feature_requests as fr
from analytics.access import IsAnalyticsViewer, can_view_analytics
from analytics.api import StrictSerializer
from analytics.models import FeatureRequest, Flag
from lms.pagination import Pagination


def request_dict(r: FeatureRequest, *, voted: bool | None = None) -> dict[str, Any]:
    score = fr.priority_score(r.votes, r.business_impact, r.strategic_alignment, r.complexity)
    return {
        "id": r.pk,
        "title": r.title,
        "description": r.description,
        "status": r.status,
        "votes": r.votes,
        "voted": voted,
        "business_impact": r.business_impact,
        "strategic_alignment": r.strategic_alignment,
        "complexity": r.complexity,
        "score": score,
        "priority": fr.priority_level(score),
        "flag": r.flag.name if r.flag_id else None,
        "merged_into": r.merged_into_id,
        "shipped_at": r.shipped_at,
        "created_at": r.created_at,
    }


class RequestSubmitSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class RequestListView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    @extend_schema(
        operation_id="v1_feature_requests_list",
        parameters=[OpenApiParameter("status", str), OpenApiParameter("q", str), OpenApiParameter("sort", str)],
        responses={200: OpenApiTypes.OBJECT},
        summary="Requests (merged duplicates left out)",
    )
    def get(self, request: Request) -> Response:
        params = {k: request.query_params.get(k, "") for k in ("status", "q", "sort")}
        page = self.paginate_queryset(fr.public_list(params).select_related("flag"))
        voted = fr.voted_ids(request.user, [r.pk for r in page])
        return self.get_paginated_response([request_dict(r, voted=r.pk in voted) for r in page])

    @extend_schema(request=RequestSubmitSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Ask for a feature")
    def post(self, request: Request) -> Response:
        serializer = RequestSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = fr.request_submit(user=request.user, **serializer.validated_data)
        return Response(request_dict(created, voted=True), status=status.HTTP_201_CREATED)


class TopView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Top ten open requests by priority score (staff)")
    def get(self, request: Request) -> Response:
        top = fr.top_ten()
        return Response({"results": [request_dict(r) for r in top]})


class StaffWrites(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return bool(request.user and request.user.is_authenticated)
        return can_view_analytics(request.user)


class RequestUpdateSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=FeatureRequest.Status.choices, required=False)
    business_impact = serializers.IntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    strategic_alignment = serializers.IntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    complexity = serializers.IntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    flag = serializers.CharField(max_length=100, required=False, allow_null=True)


class RequestDetailView(APIView):
    permission_classes = [StaffWrites]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One request")
    def get(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(FeatureRequest.objects.select_related("flag"), pk=pk)
        return Response(request_dict(item, voted=pk in fr.voted_ids(request.user, [pk])))

    @extend_schema(
        request=RequestUpdateSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Status and scores (staff)"
    )
    def patch(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(FeatureRequest, pk=pk)
        serializer = RequestUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        flag: Any = "keep"
        if "flag" in data:
            name = data.pop("flag")
            flag = get_object_or_404(Flag, name=name) if name else None
        item = fr.request_update(request=item, actor=request.user, flag=flag, **data)
        return Response(request_dict(item))


class VoteView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None, responses={200: OpenApiTypes.OBJECT}, summary="Vote (once; a second vote changes nothing)"
    )
    def post(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(FeatureRequest.objects.select_related("merged_into"), pk=pk)
        counted = fr.vote(user=request.user, request=item)
        item = item.merged_into or item
        item.refresh_from_db(fields=["votes"])
        return Response({"counted": counted, "votes": item.votes}, status=201 if counted else 200)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Withdraw your vote")
    def delete(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(FeatureRequest.objects.select_related("merged_into"), pk=pk)
        withdrawn = fr.unvote(user=request.user, request=item)
        item = item.merged_into or item
        item.refresh_from_db(fields=["votes"])
        return Response({"withdrawn": withdrawn, "votes": item.votes})


class RequestCommentSerializer(StrictSerializer):
    body = serializers.CharField(max_length=5000)


class CommentsView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    @extend_schema(operation_id="v1_feature_request_comments", responses={200: OpenApiTypes.OBJECT}, summary="Comments")
    def get(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(FeatureRequest, pk=pk)
        page = self.paginate_queryset(item.comments.select_related("author"))
        return self.get_paginated_response(
            [
                {"id": c.pk, "author": c.author.username if c.author_id else None, "body": c.body, "at": c.created_at}
                for c in page
            ]
        )

    @extend_schema(request=RequestCommentSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Comment")
    def post(self, request: Request, pk: int) -> Response:
        item = get_object_or_404(FeatureRequest, pk=pk)
        serializer = RequestCommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        c = fr.comment(user=request.user, request=item, body=serializer.validated_data["body"])
        return Response({"id": c.pk, "body": c.body, "at": c.created_at}, status=status.HTTP_201_CREATED)


class RequestMergeSerializer(StrictSerializer):
    into = serializers.IntegerField(min_value=1)


class MergeView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(
        request=RequestMergeSerializer, responses={200: OpenApiTypes.OBJECT}, summary="Merge a duplicate (staff)"
    )
    def post(self, request: Request, pk: int) -> Response:
        duplicate = get_object_or_404(FeatureRequest, pk=pk)
        serializer = RequestMergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        into = get_object_or_404(FeatureRequest, pk=serializer.validated_data["into"])
        return Response(request_dict(fr.request_merge(duplicate=duplicate, into=into, actor=request.user)))
