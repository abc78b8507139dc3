"""The content API: classrooms, courses, lessons, decks and cards.

Lists are scoped by the same `visible_to` QuerySets as the pages and objects
are loaded through `learning.access`, so the API cannot allow what the pages
refuse: hidden objects are 404, visible but not editable ones 403. Writes go
through `learning.services`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from learning import access, import_jobs, services, transfer
from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from learning.sanitize import render_markdown
from lms.parsers import JSONParser

# --- serializers ---------------------------------------------------------------------

# Ids beyond a 64-bit integer cannot exist; refusing them up front keeps SQLite
# from raising OverflowError (a 500) on the lookup.
MAX_ID = 2**63 - 1
ID_BOUNDS: dict[str, int] = {"min_value": 1, "max_value": MAX_ID}


def _annotated(obj: Any, name: str, compute: Callable[[], int]) -> int:
    """List querysets annotate counts; a single object fetched for a write does
    not, so count it then (one query, for one object)."""
    value = getattr(obj, name, None)
    return compute() if value is None else value


class ClassroomSerializer(serializers.ModelSerializer):
    teacher_name = serializers.CharField(source="teacher.display_name", read_only=True)
    join_code = serializers.SerializerMethodField(help_text="Only for the class's teacher and admins.")
    student_count = serializers.SerializerMethodField()
    course_count = serializers.SerializerMethodField()

    class Meta:
        model = Classroom
        fields = [
            "id",
            "name",
            "description",
            "teacher",
            "teacher_name",
            "join_code",
            "archived",
            "default_scheduler",
            "student_count",
            "course_count",
            "created_at",
        ]
        read_only_fields = ["id", "teacher", "created_at"]

    def get_join_code(self, obj: Classroom) -> str | None:
        user = self.context["request"].user
        return obj.join_code if access.can_edit_classroom(user, obj) else None

    def get_student_count(self, obj: Classroom) -> int:
        return _annotated(obj, "student_count", obj.enrollments.count)

    def get_course_count(self, obj: Classroom) -> int:
        return _annotated(obj, "course_count", obj.courses.count)


class JoinSerializer(serializers.Serializer):
    join_code = serializers.CharField(max_length=32)


class StudentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="student.id")
    username = serializers.CharField(source="student.username")
    name = serializers.CharField(source="student.display_name")

    class Meta:
        model = Enrollment
        fields = ["id", "username", "name", "joined_at"]


class CourseSerializer(serializers.ModelSerializer):
    classroom = serializers.IntegerField(source="classroom_id", **ID_BOUNDS)

    class Meta:
        model = Course
        fields = ["id", "classroom", "title", "description", "position", "created_at", "updated_at"]
        read_only_fields = ["id", "position", "created_at", "updated_at"]


class LessonSerializer(serializers.ModelSerializer):
    course = serializers.IntegerField(source="course_id", **ID_BOUNDS)
    body_html = serializers.SerializerMethodField(help_text="The Markdown body rendered and sanitized.")
    deck_count = serializers.SerializerMethodField()

    class Meta:
        model = Lesson
        fields = [
            "id",
            "course",
            "title",
            "body",
            "body_html",
            "position",
            "published",
            "deck_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "position", "created_at", "updated_at"]

    def get_body_html(self, obj: Lesson) -> str:
        return render_markdown(obj.body)

    def get_deck_count(self, obj: Lesson) -> int:
        return _annotated(obj, "deck_count", obj.decks.count)


class DeckSerializer(serializers.ModelSerializer):
    lesson = serializers.IntegerField(source="lesson_id", required=False, allow_null=True, **ID_BOUNDS)
    card_count = serializers.SerializerMethodField()
    can_edit = serializers.SerializerMethodField()

    class Meta:
        model = Deck
        fields = [
            "id",
            "title",
            "description",
            "owner",
            "lesson",
            "is_personal",
            "new_cards_per_day",
            "reviews_per_day",
            *services.SCHEDULING_FIELDS,
            "fsrs_parameters",
            "position",
            "card_count",
            "can_edit",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "is_personal", "position", "fsrs_parameters", "created_at", "updated_at"]
        extra_kwargs: ClassVar = {
            "new_cards_per_day": {"min_value": 0, "max_value": 1000},
            "reviews_per_day": {"min_value": 0, "max_value": 10000},
            "scheduler": {
                "help_text": '"sm2" (SM-2 with learning steps), "fsrs" (FSRS-6) or "sm2-published"; '
                "new decks get their class's default"
            },
            "desired_retention": {"min_value": 0.70, "max_value": 0.97, "help_text": "FSRS: 0.70-0.97"},
            "learning_steps": {"help_text": 'Steps for new cards, e.g. "1m 10m 1h" (units s, m, h, d)'},
            "relearning_steps": {"help_text": 'Steps after a lapse, e.g. "10m"'},
            "graduating_interval": {"min_value": 1, "max_value": 36500},
            "easy_interval": {"min_value": 1, "max_value": 36500},
            "starting_ease": {"min_value": 1.3, "max_value": 5.0},
            "hard_multiplier": {"min_value": 1.0, "max_value": 3.0},
            "easy_bonus": {"min_value": 1.0, "max_value": 5.0},
            "lapse_multiplier": {"min_value": 0.0, "max_value": 1.0},
            "maximum_interval": {"min_value": 1, "max_value": 36500},
        }

    def get_card_count(self, obj: Deck) -> int:
        return _annotated(obj, "card_count", obj.cards.count)

    def get_can_edit(self, obj: Deck) -> bool:
        return access.can_edit_deck(self.context["request"].user, obj)


class CardSerializer(serializers.ModelSerializer):
    deck = serializers.IntegerField(source="deck_id", **ID_BOUNDS)
    front = serializers.CharField(
        max_length=10_000, help_text="Sanitized HTML: b, i, u, lists, br, code, sub, sup, links."
    )
    back = serializers.CharField(max_length=10_000)
    tags = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Space- or comma-separated tags."
    )
    image = serializers.FileField(write_only=True, required=False, help_text="PNG, JPEG, GIF or WebP, at most 10 MB.")
    audio = serializers.FileField(write_only=True, required=False, help_text="MP3, OGG, WAV or M4A, at most 10 MB.")
    clear_image = serializers.BooleanField(write_only=True, required=False, default=False)
    clear_audio = serializers.BooleanField(write_only=True, required=False, default=False)
    image_url = serializers.SerializerMethodField()
    audio_url = serializers.SerializerMethodField()
    tag_list = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Card
        fields = [
            "id",
            "deck",
            "front",
            "back",
            "tags",
            "tag_list",
            "image",
            "audio",
            "clear_image",
            "clear_audio",
            "image_url",
            "audio_url",
            "position",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "position", "created_at", "updated_at"]

    def _url(self, obj: Card, kind: str) -> str | None:
        if not getattr(obj, kind):
            return None
        return self.context["request"].build_absolute_uri(reverse(f"learning:card_{kind}", args=[obj.pk]))

    def get_image_url(self, obj: Card) -> str | None:
        return self._url(obj, "image")

    def get_audio_url(self, obj: Card) -> str | None:
        return self._url(obj, "audio")


class FileFormatNegotiation(DefaultContentNegotiation):
    """On the export action `?format=` names the file format (csv, json, apkg),
    not one of DRF's renderers; errors still render as JSON."""

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=transfer.FORMATS, required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="New decks only")
    lesson = serializers.IntegerField(required=False, allow_null=True, help_text="New decks only; none: personal")
    skip_invalid = serializers.BooleanField(default=False)
    scheduling = serializers.BooleanField(
        default=False, help_text="Anki packages: their card states and review log become your own history"
    )


class ImportResultSerializer(serializers.Serializer):
    deck = serializers.IntegerField()
    decks = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="Every deck created")
    imported = serializers.IntegerField()
    skipped = serializers.ListField(child=serializers.DictField())


def _parse_import(request: Request) -> tuple[dict, transfer.ParseResult, IO[bytes]]:
    serializer = ImportSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    upload = data["file"]
    content = transfer.read_upload(upload)
    parsed = transfer.parse_upload(upload.name, content, data.get("format"), with_scheduling=data["scheduling"])
    return data, parsed, content


def _in_background(
    request: Request, data: dict, parsed: transfer.ParseResult, content: IO[bytes], **target: Any
) -> Response | None:
    """202 with the status URL when the file is big enough to import in the
    background (a file with unreadable rows is still refused at once)."""
    if not import_jobs.goes_to_background(parsed, skip_invalid=data["skip_invalid"]):
        return None
    parsed.discard_media()  # the worker reads the package again
    name = data["file"].name
    if data.get("format"):
        name = f"{name.rsplit('.', 1)[0]}.{data['format']}"
    job = import_jobs.import_job_create(
        user=request.user,
        filename=name,
        data=content,
        total=len(parsed.rows),
        skip_invalid=data["skip_invalid"],
        with_scheduling=data["scheduling"],
        **target,
    )
    url = request.build_absolute_uri(reverse("api-import-job", args=[job.pk]))
    return Response({"id": job.pk, "status": job.status, "status_url": url}, status=202)


class ImportJobView(APIView):
    """A background import's state: `queued`, `running` (with `done` of
    `total` cards), `done` (with the `result`) or `failed` (with the `error`)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Status of a background deck import")
    def get(self, request: Request, pk: int) -> Response:
        return Response(import_jobs.status_of(import_jobs.get_import_job_for(request.user, pk)))


class ReorderSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(**ID_BOUNDS), allow_empty=False, max_length=5000)


class BulkSerializer(serializers.Serializer):
    deck = serializers.IntegerField(**ID_BOUNDS)
    text = serializers.CharField(max_length=500_000, trim_whitespace=False)
    dry_run = serializers.BooleanField(default=False, help_text="Only parse and report; create nothing.")


# --- viewsets ------------------------------------------------------------------------------


def _scheduling(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in services.SCHEDULING_FIELDS if name in data}


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise serializers.ValidationError({name: ["A whole number is expected."]}) from None
    if not 1 <= value <= MAX_ID:
        raise serializers.ValidationError({name: ["No such id."]})
    return value


def _filter_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, description=description)


_REORDERED = inline_serializer("Reordered", {"ids": serializers.ListField(child=serializers.IntegerField())})


class ContentViewSet(viewsets.ModelViewSet):
    """Shared plumbing: objects through the access helper, no PUT (PATCH edits)."""

    http_method_names: ClassVar = ["get", "post", "patch", "delete", "head", "options"]
    getter: ClassVar[Callable[..., Any]]

    def get_object(self) -> Any:
        write = self.request.method not in SAFE_METHODS
        return type(self).getter(self.request.user, self.kwargs["pk"], write=write)

    def _reorder(self, request: Request, parent_field: str, siblings: Callable[[Any], QuerySet]) -> Response:
        serializer = ReorderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent = siblings(request.data.get(parent_field))
        ids = services.reorder(siblings=parent, ordered_ids=serializer.validated_data["ids"])
        return Response({"ids": ids})

    def perform_destroy(self, instance: Any) -> None:
        self.destroy_service(instance)

    def destroy_service(self, instance: Any) -> None:
        raise NotImplementedError


@extend_schema_view(
    list=extend_schema(summary="Classes I teach or am enrolled in (all, for admins)"),
    create=extend_schema(summary="Create a class (teachers and admins)"),
)
class ClassroomViewSet(ContentViewSet):
    serializer_class = ClassroomSerializer
    getter = staticmethod(access.get_classroom_for)

    def get_queryset(self) -> QuerySet:
        return Classroom.objects.visible_to(self.request.user).with_counts().order_by("name", "id")

    def perform_create(self, serializer: ClassroomSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.classroom_create(
            user=self.request.user, name=data["name"], description=data.get("description", "")
        )

    def perform_update(self, serializer: ClassroomSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.classroom_update(
            classroom=serializer.instance,
            name=data.get("name"),
            description=data.get("description"),
            archived=data.get("archived"),
            default_scheduler=data.get("default_scheduler"),
        )

    def destroy_service(self, instance: Classroom) -> None:
        services.classroom_delete(classroom=instance)

    @extend_schema(
        request=JoinSerializer,
        responses={
            201: ClassroomSerializer,
            200: OpenApiResponse(ClassroomSerializer, description="Already enrolled: nothing changed"),
            404: OpenApiResponse(description="Unknown join code"),
            409: OpenApiResponse(description="The class is archived"),
        },
        summary="Join a class by its code (idempotent)",
    )
    @action(detail=False, methods=["post"])
    def join(self, request: Request) -> Response:
        serializer = JoinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrollment, created = services.classroom_join(
            user=request.user, join_code=serializer.validated_data["join_code"]
        )
        classroom = Classroom.objects.with_counts().get(pk=enrollment.classroom_id)
        body = ClassroomSerializer(classroom, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        request=None,
        responses=inline_serializer("JoinCode", {"join_code": serializers.CharField()}),
        summary="Issue a new join code (the old one stops working)",
    )
    @action(detail=True, methods=["post"], url_path="regenerate-code")
    def regenerate_code(self, request: Request, pk: str) -> Response:
        classroom = access.get_classroom_for(request.user, pk, write=True)
        return Response({"join_code": services.classroom_regenerate_code(classroom=classroom)})

    @extend_schema(responses=StudentSerializer(many=True), summary="The class roster (its teacher and admins)")
    @action(detail=True, methods=["get"])
    def students(self, request: Request, pk: str) -> Response:
        classroom = access.get_classroom_for(request.user, pk, write=True)
        roster = classroom.enrollments.select_related("student").order_by("student__username", "id")
        page = self.paginate_queryset(roster)
        return self.get_paginated_response(StudentSerializer(page, many=True).data)

    @extend_schema(request=None, responses={204: None}, summary="Remove a student from the class")
    @action(detail=True, methods=["delete"], url_path=r"students/(?P<student_id>\d+)")
    def remove_student(self, request: Request, pk: str, student_id: str) -> Response:
        classroom = access.get_classroom_for(request.user, pk, write=True)
        services.enrollment_remove(classroom=classroom, student_id=int(student_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(list=extend_schema(parameters=[_filter_param("classroom", "Only courses of this class")]))
class CourseViewSet(ContentViewSet):
    serializer_class = CourseSerializer
    getter = staticmethod(access.get_course_for)

    def get_queryset(self) -> QuerySet:
        qs = Course.objects.visible_to(self.request.user)
        classroom = _int_param(self.request, "classroom")
        if classroom is not None:
            qs = qs.filter(classroom_id=classroom)
        return qs.order_by("classroom_id", "position", "id")

    def perform_create(self, serializer: CourseSerializer) -> None:
        data = serializer.validated_data
        classroom = access.get_classroom_for(self.request.user, data["classroom_id"], write=True)
        serializer.instance = services.course_create(
            classroom=classroom, title=data["title"], description=data.get("description", "")
        )

    def perform_update(self, serializer: CourseSerializer) -> None:
        data = serializer.validated_data
        if "classroom_id" in data and data["classroom_id"] != serializer.instance.classroom_id:
            raise serializers.ValidationError({"classroom": ["A course cannot move to another class."]})
        serializer.instance = services.course_update(
            course=serializer.instance, title=data.get("title"), description=data.get("description")
        )

    def destroy_service(self, instance: Course) -> None:
        services.course_delete(course=instance)

    @extend_schema(
        request=inline_serializer(
            "CourseReorder",
            {"classroom": serializers.IntegerField(), "ids": serializers.ListField(child=serializers.IntegerField())},
        ),
        responses=_REORDERED,
        summary="Put a class's courses in this order",
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request: Request) -> Response:
        def siblings(pk: Any) -> QuerySet:
            return access.get_classroom_for(request.user, pk, write=True).courses.all()

        return self._reorder(request, "classroom", siblings)


@extend_schema_view(list=extend_schema(parameters=[_filter_param("course", "Only lessons of this course")]))
class LessonViewSet(ContentViewSet):
    serializer_class = LessonSerializer
    getter = staticmethod(access.get_lesson_for)

    def get_queryset(self) -> QuerySet:
        qs = Lesson.objects.visible_to(self.request.user).with_deck_count()
        course = _int_param(self.request, "course")
        if course is not None:
            qs = qs.filter(course_id=course)
        return qs.order_by("course_id", "position", "id")

    def perform_create(self, serializer: LessonSerializer) -> None:
        data = serializer.validated_data
        course = access.get_course_for(self.request.user, data["course_id"], write=True)
        serializer.instance = services.lesson_create(
            course=course, title=data["title"], body=data.get("body", ""), published=data.get("published", False)
        )

    def perform_update(self, serializer: LessonSerializer) -> None:
        data = serializer.validated_data
        if "course_id" in data and data["course_id"] != serializer.instance.course_id:
            raise serializers.ValidationError({"course": ["A lesson cannot move to another course."]})
        serializer.instance = services.lesson_update(
            lesson=serializer.instance, title=data.get("title"), body=data.get("body"), published=data.get("published")
        )

    def destroy_service(self, instance: Lesson) -> None:
        services.lesson_delete(lesson=instance)

    @extend_schema(
        request=inline_serializer(
            "LessonReorder",
            {"course": serializers.IntegerField(), "ids": serializers.ListField(child=serializers.IntegerField())},
        ),
        responses=_REORDERED,
        summary="Put a course's lessons in this order",
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request: Request) -> Response:
        def siblings(pk: Any) -> QuerySet:
            return access.get_course_for(request.user, pk, write=True).lessons.all()

        return self._reorder(request, "course", siblings)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            _filter_param("lesson", "Only decks of this lesson"),
            OpenApiParameter("personal", OpenApiTypes.BOOL, description="Only my personal decks"),
        ]
    )
)
class DeckViewSet(ContentViewSet):
    serializer_class = DeckSerializer
    getter = staticmethod(access.get_deck_for)

    def get_queryset(self) -> QuerySet:
        qs = Deck.objects.visible_to(self.request.user).with_card_count()
        lesson = _int_param(self.request, "lesson")
        if lesson is not None:
            qs = qs.filter(lesson_id=lesson)
        if self.request.query_params.get("personal") in {"1", "true", "yes"}:
            qs = qs.filter(owner=self.request.user, lesson__isnull=True)
        return qs.order_by("lesson_id", "position", "id")

    def perform_create(self, serializer: DeckSerializer) -> None:
        data = serializer.validated_data
        lesson_id = data.get("lesson_id")
        lesson = access.get_lesson_for(self.request.user, lesson_id, write=True) if lesson_id is not None else None
        serializer.instance = services.deck_create(
            user=self.request.user,
            lesson=lesson,
            title=data["title"],
            description=data.get("description", ""),
            new_cards_per_day=data.get("new_cards_per_day", 20),
            reviews_per_day=data.get("reviews_per_day", 200),
            **_scheduling(data),
        )

    def perform_update(self, serializer: DeckSerializer) -> None:
        data = serializer.validated_data
        if "lesson_id" in data and data["lesson_id"] != serializer.instance.lesson_id:
            raise serializers.ValidationError({"lesson": ["A deck cannot move to another lesson."]})
        serializer.instance = services.deck_update(
            deck=serializer.instance,
            title=data.get("title"),
            description=data.get("description"),
            new_cards_per_day=data.get("new_cards_per_day"),
            reviews_per_day=data.get("reviews_per_day"),
            **_scheduling(data),
        )

    def destroy_service(self, instance: Deck) -> None:
        services.deck_delete(deck=instance)

    @extend_schema(
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=list(transfer.FORMATS), default="csv")],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="format=csv: front;back;tags rows"),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="format=json"),
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="format=apkg"),
        },
        summary="Download the deck as CSV, JSON or an Anki package",
    )
    @action(detail=True, methods=["get"], content_negotiation_class=FileFormatNegotiation)
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        deck = self.get_object()
        fmt = request.query_params.get("format", "csv")
        if fmt not in transfer.FORMATS:
            raise serializers.ValidationError({"format": [f"Use one of {', '.join(transfer.FORMATS)}."]})
        scheduling = request.query_params.get("scheduling") in ("1", "true")
        content, content_type, filename = transfer.export_deck(deck, fmt, student=request.user if scheduling else None)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @extend_schema(
        request={"multipart/form-data": ImportSerializer},
        responses={201: ImportResultSerializer, 202: OpenApiTypes.OBJECT},
        summary="Add the cards of a CSV, JSON or Anki file to this deck (all or nothing)",
        operation_id="decks_import_cards",
    )
    @action(detail=True, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_cards(self, request: Request, pk: str | None = None) -> Response:
        deck = access.get_deck_for(request.user, pk, write=True)
        data, parsed, content = _parse_import(request)
        queued = _in_background(request, data, parsed, content, deck=deck)
        if queued is not None:
            return queued
        cards = transfer.deck_import(user=request.user, deck=deck, parsed=parsed, skip_invalid=data["skip_invalid"])
        return Response(
            {"deck": deck.pk, "imported": len(cards), "skipped": parsed.errors if data["skip_invalid"] else []},
            status=201,
        )

    @extend_schema(
        request={"multipart/form-data": ImportSerializer},
        responses={201: ImportResultSerializer, 202: OpenApiTypes.OBJECT},
        summary="Create a deck (personal, or in a lesson you teach) from a CSV, JSON or Anki file",
        operation_id="decks_import_new",
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_deck(self, request: Request) -> Response:
        data, parsed, content = _parse_import(request)
        lesson = access.get_lesson_for(request.user, data["lesson"], write=True) if data.get("lesson") else None
        title = data.get("title") or ""
        queued = _in_background(request, data, parsed, content, lesson=lesson, title=title)
        if queued is not None:
            return queued
        deck, cards = transfer.deck_import_new(
            user=request.user,
            parsed=parsed,
            title=data.get("title") or parsed.title or data["file"].name.rsplit(".", 1)[0],
            lesson=lesson,
            skip_invalid=data["skip_invalid"],
        )
        return Response(
            {
                "deck": deck.pk,
                "decks": sorted({card.deck_id for card in cards}),
                "imported": len(cards),
                "skipped": parsed.errors if data["skip_invalid"] else [],
            },
            status=201,
        )

    @extend_schema(
        request=inline_serializer(
            "DeckReorder",
            {
                "lesson": serializers.IntegerField(allow_null=True, help_text="null: my personal decks"),
                "ids": serializers.ListField(child=serializers.IntegerField()),
            },
        ),
        responses=_REORDERED,
        summary="Put a lesson's decks (or my personal decks) in this order",
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request: Request) -> Response:
        def siblings(pk: Any) -> QuerySet:
            if pk in (None, ""):
                return Deck.objects.personal_for(request.user)
            return access.get_lesson_for(request.user, pk, write=True).decks.all()

        return self._reorder(request, "lesson", siblings)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            _filter_param("deck", "Only cards of this deck"),
            OpenApiParameter("q", OpenApiTypes.STR, description="Text on the front or back"),
            OpenApiParameter("tag", OpenApiTypes.STR, description="Cards with this tag"),
        ]
    )
)
class CardViewSet(ContentViewSet):
    serializer_class = CardSerializer
    getter = staticmethod(access.get_card_for)
    parser_classes: ClassVar = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet:
        qs = Card.objects.visible_to(self.request.user)
        deck = _int_param(self.request, "deck")
        if deck is not None:
            qs = qs.filter(deck_id=deck)
        qs = qs.search(self.request.query_params.get("q", "")[:200]).tagged(
            self.request.query_params.get("tag", "")[:40]
        )
        return qs.order_by("deck_id", "position", "id")

    def perform_create(self, serializer: CardSerializer) -> None:
        data = serializer.validated_data
        deck = access.get_deck_for(self.request.user, data["deck_id"], write=True)
        serializer.instance = services.card_create(
            deck=deck,
            user=self.request.user,
            front=data["front"],
            back=data["back"],
            tags=data.get("tags", ""),
            image=data.get("image"),
            audio=data.get("audio"),
        )

    def perform_update(self, serializer: CardSerializer) -> None:
        data = serializer.validated_data
        if "deck_id" in data and data["deck_id"] != serializer.instance.deck_id:
            raise serializers.ValidationError({"deck": ["A card cannot move to another deck."]})
        serializer.instance = services.card_update(
            card=serializer.instance,
            front=data.get("front"),
            back=data.get("back"),
            tags=data.get("tags"),
            image=data.get("image"),
            audio=data.get("audio"),
            clear_image=data.get("clear_image", False),
            clear_audio=data.get("clear_audio", False),
        )

    def destroy_service(self, instance: Card) -> None:
        services.card_delete(card=instance)

    @extend_schema(
        request=inline_serializer(
            "CardReorder",
            {"deck": serializers.IntegerField(), "ids": serializers.ListField(child=serializers.IntegerField())},
        ),
        responses=_REORDERED,
        summary="Put a deck's cards in this order",
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request: Request) -> Response:
        def siblings(pk: Any) -> QuerySet:
            return access.get_deck_for(request.user, pk, write=True).cards.all()

        return self._reorder(request, "deck", siblings)

    @extend_schema(
        request=BulkSerializer,
        responses={
            201: inline_serializer(
                "BulkCreated",
                {
                    "created": serializers.IntegerField(),
                    "ids": serializers.ListField(child=serializers.IntegerField()),
                    "errors": serializers.ListField(child=serializers.DictField()),
                },
            ),
            200: OpenApiResponse(description="dry_run: the cards that would be created and the unreadable lines"),
            422: OpenApiResponse(description="No line could be read"),
        },
        summary="Add many cards from pasted lines `front<TAB>back[<TAB>tags]` or `front;back`",
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        serializer = BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        deck = access.get_deck_for(request.user, data["deck"], write=True)
        if data["dry_run"]:
            return Response(services.parse_bulk_cards(data["text"]).as_dict())
        cards, preview = services.cards_bulk_add(deck=deck, text=data["text"], user=request.user)
        body = {"created": len(cards), "ids": [c.pk for c in cards], "errors": preview.as_dict()["errors"]}
        return Response(body, status=status.HTTP_201_CREATED)
