"""`/api/v1/experiments/`: staff read results; admins create, start and stop."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import experiments
from analytics.access import IsAnalyticsViewer
from analytics.api import StrictSerializer
from analytics.flags_api import IsFlagReaderOrAdminWrites
from analytics.models import Experiment, Flag
from lms.pagination import Pagination


def experiment_dict(e: Experiment) -> dict[str, Any]:
    return {
        "id": e.pk,
        "name": e.name,
        "title": e.title,
        "hypothesis": e.hypothesis,
        "variants": e.variants,
        "flag": e.flag.name if e.flag_id else None,
        "primary_metric": e.primary_metric,
        "guardrail_metrics": e.guardrail_metrics,
        "planned_sample": e.planned_sample,
        "mde": e.mde,
        "status": e.status,
        "created_at": e.created_at,
        "started_at": e.started_at,
        "stopped_at": e.stopped_at,
    }


class ExperimentWriteSerializer(StrictSerializer):
    name = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    hypothesis = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    variants = serializers.ListField(child=serializers.DictField(), max_length=5)
    flag = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)
    primary_metric = serializers.DictField()
    guardrail_metrics = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    planned_sample = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    mde = serializers.FloatField(min_value=0.001, max_value=5, default=0.1)


class ExperimentListView(generics.GenericAPIView):
    permission_classes = [IsFlagReaderOrAdminWrites]
    pagination_class = Pagination

    @extend_schema(operation_id="v1_experiments_list", responses={200: OpenApiTypes.OBJECT}, summary="Experiments")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(Experiment.objects.select_related("flag").order_by("-created_at", "-id"))
        return self.get_paginated_response([experiment_dict(e) for e in page])

    @extend_schema(request=ExperimentWriteSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Create (admin)")
    def post(self, request: Request) -> Response:
        serializer = ExperimentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        flag_name = data.pop("flag")
        flag = get_object_or_404(Flag, name=flag_name) if flag_name else None
        experiment = experiments.experiment_create(actor=request.user, flag=flag, **data)
        return Response(experiment_dict(experiment), status=status.HTTP_201_CREATED)


class ExperimentDetailView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="One experiment (staff)")
    def get(self, request: Request, name: str) -> Response:
        return Response(experiment_dict(get_object_or_404(Experiment.objects.select_related("flag"), name=name)))


class ExperimentStartView(APIView):
    permission_classes = [IsFlagReaderOrAdminWrites]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Start (admin)")
    def post(self, request: Request, name: str) -> Response:
        experiment = experiments.experiment_start(experiment=get_object_or_404(Experiment, name=name))
        return Response(experiment_dict(experiment))


class ExperimentStopView(APIView):
    permission_classes = [IsFlagReaderOrAdminWrites]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Stop (admin)")
    def post(self, request: Request, name: str) -> Response:
        experiment = experiments.experiment_stop(experiment=get_object_or_404(Experiment, name=name))
        return Response(experiment_dict(experiment))


class ExperimentResultsView(APIView):
    permission_classes = [IsAnalyticsViewer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Results per variant, SRM, sample, cumulative lift")
    def get(self, request: Request, name: str) -> Response:
        return Response(experiments.results(get_object_or_404(Experiment, name=name)))


class MyAssignmentView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Your variant (POST: you are meeting the change now)")
    def get(self, request: Request, name: str) -> Response:
        get_object_or_404(Experiment, name=name)
        return Response({"experiment": name, "variant": experiments.variant_for(request.user, name)})

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Record your exposure")
    def post(self, request: Request, name: str) -> Response:
        get_object_or_404(Experiment, name=name)
        return Response({"experiment": name, "variant": experiments.expose(request.user, name)})
