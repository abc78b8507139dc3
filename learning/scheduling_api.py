"""API for a class's scheduling: FSRS fits and the scheduler evaluation."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from learning import scheduling_queries, services
from learning.access import get_classroom_for, is_admin
from learning.models import Card, FsrsFit
from learning.tasks import evaluation_or_start, optimize_fsrs
from lms.errors import Unavailable
from lms.pagination import Pagination
from lms.queueing import enqueue


class FsrsFitSerializer(serializers.ModelSerializer):
    applied = serializers.SerializerMethodField()

    class Meta:
        model = FsrsFit
        fields = [
            "id",
            "classroom",
            "fitted_at",
            "review_count",
            "parameters",
            "applied",
            "skipped",
            "log_loss_before",
            "log_loss_after",
            "rmse_before",
            "rmse_after",
            "duration_ms",
            "decks_updated",
        ]
        read_only_fields = fields

    def get_applied(self, obj: FsrsFit) -> bool:
        return not obj.skipped


class ClassroomFsrsFitsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int, description="Rows per page, 1 to 200 (more is served as 200)."),
        ],
        responses=inline_serializer(
            "PaginatedFsrsFitList",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": FsrsFitSerializer(many=True),
            },
        ),
        summary="The class's FSRS fits, newest first, paginated (its teacher)",
    )
    def get(self, request: Request, pk: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        paginator = Pagination()
        page = paginator.paginate_queryset(scheduling_queries.fits_for(classroom), request, view=self)
        return paginator.get_paginated_response(FsrsFitSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={202: inline_serializer("OptimizeQueued", {"status": serializers.CharField()})},
        summary="Run the FSRS optimiser for the class now (admins)",
    )
    def post(self, request: Request, pk: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        if not is_admin(request.user):
            raise PermissionDenied("Only an admin can run the optimiser by hand; it runs every week by itself.")
        if not enqueue(optimize_fsrs, classroom.pk):
            raise Unavailable("The optimiser could not be started: the task queue is unavailable. Try again shortly.")
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)


class LeechSerializer(serializers.Serializer):
    card = serializers.IntegerField(source="card_id")
    front = serializers.CharField(source="card__front")
    deck = serializers.CharField(source="card__deck__title")
    students = serializers.IntegerField(help_text="Students for whom the card is a leech (8+ lapses)")
    suspended = serializers.IntegerField(help_text="Of those, how many have it suspended")


class ClassroomLeechesView(APIView):
    @extend_schema(responses=LeechSerializer(many=True), summary="The class's leeches, worst first (its teacher)")
    def get(self, request: Request, pk: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        return Response(LeechSerializer(scheduling_queries.class_leeches(classroom), many=True).data)


class ClassroomUnsuspendView(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer("Unsuspended", {"unsuspended": serializers.IntegerField()}),
        summary="Unsuspend a leech for every student of the class (its teacher)",
    )
    def post(self, request: Request, pk: int, card_id: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        card = Card.objects.filter(pk=card_id, deck__lesson__course__classroom=classroom).first()
        if card is None:
            raise NotFound("No such card in this class.")
        return Response({"unsuspended": services.card_unsuspend(card=card)})


class ClassroomSchedulerEvaluationView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
        summary="Each scheduler's log loss, binned RMSE and calibration on the class's reviews (its teacher); "
        "202 while it is being computed",
    )
    def get(self, request: Request, pk: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        return _evaluation_response(evaluation_or_start(classroom.pk))


class SiteSchedulerEvaluationView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The scheduler evaluation over the latest reviews (staff)")
    def get(self, request: Request) -> Response:
        if not is_admin(request.user):
            raise PermissionDenied("Staff only.")
        return _evaluation_response(evaluation_or_start(None))


def _evaluation_response(evaluation: object) -> Response:
    """200 with the figures, or 202 while the background job computes them."""
    if evaluation is None:
        return Response({"status": "computing"}, status=status.HTTP_202_ACCEPTED)
    return Response({"status": "ready", **evaluation.as_dict()})
