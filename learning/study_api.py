"""API for studying: sessions (start/next/answer/end), the review log and progress.

Views parse input and shape output; `learning.study` and `learning.progress`
do the work, with the same permission checks as the pages.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from learning import gradebook, study, visibility
from learning import progress as progress_queries
from learning.access import get_class_student_for, get_classroom_for
from learning.models import Card, Review, StudySession
from learning.templatetags.study_tags import card_media_url
from learning.visibility import VisibleDecks
from lms.pagination import Pagination


class CountsSerializer(serializers.Serializer):
    new = serializers.IntegerField(help_text="New cards left in the session")
    learning = serializers.IntegerField(help_text="Cards in learning steps, coming back when their step is due")
    due = serializers.IntegerField(help_text="Review cards left")


class CardStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["new", "learning", "review", "relearning"], allow_null=True)
    step = serializers.IntegerField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    interval = serializers.IntegerField(help_text="Days")
    ease = serializers.FloatField()
    stability = serializers.FloatField(allow_null=True, help_text="FSRS stability in days (FSRS decks)")
    difficulty = serializers.FloatField(allow_null=True, help_text="FSRS difficulty, 1-10 (FSRS decks)")
    recall = serializers.FloatField(allow_null=True, help_text="FSRS's predicted recall (FSRS decks)")


class StudySessionSerializer(serializers.ModelSerializer):
    cards_studied = serializers.IntegerField(read_only=True)
    accuracy = serializers.FloatField(read_only=True, allow_null=True)
    remaining = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    can_undo = serializers.SerializerMethodField()

    class Meta:
        model = StudySession
        fields = [
            "id",
            "mode",
            "scope_type",
            "scope_id",
            "scope_title",
            "classroom",
            "status",
            "shuffle",
            "cards_total",
            "cards_studied",
            "answers_count",
            "correct_count",
            "redrill_count",
            "accuracy",
            "score",
            "duration_seconds",
            "remaining",
            "counts",
            "can_undo",
            "started_at",
            "last_activity_at",
            "ended_at",
        ]
        read_only_fields = fields

    def get_remaining(self, obj: StudySession) -> int:
        return len(obj.queue) + len(obj.learning_ids)

    @extend_schema_field(CountsSerializer(allow_null=True))
    def get_counts(self, obj: StudySession) -> dict[str, int] | None:
        counts = study.session_counts(obj)
        return counts.as_dict() if counts else None

    def get_can_undo(self, obj: StudySession) -> bool:
        return obj.undo_review_id is not None


# One serializer, its fields built once: DRF builds a serializer's fields
# again for every instance, which cost next/ more than the rest of its output.
# Only to_representation is called on it (no state kept between calls).
_SESSION_SERIALIZER = StudySessionSerializer()


def session_data(session: StudySession) -> dict[str, Any]:
    """`StudySessionSerializer(session).data`, without building the serializer anew."""
    return _SESSION_SERIALIZER.to_representation(session)


SCOPE_ALIASES = {"class": "classroom"}


def normalise_start(data: Any) -> dict[str, Any]:
    """Accept the documented shape ({"scope_type", "scope_id", "mode"}) and the
    obvious variations: {"scope": "deck", ...}, {"scope": {"type", "id"}},
    {"deck": 3, "mode": ...} and "class" for "classroom"."""
    body = dict(data.items()) if hasattr(data, "items") else {}
    scope = body.pop("scope", None)
    if isinstance(scope, dict):
        body.setdefault("scope_type", scope.get("type"))
        body.setdefault("scope_id", scope.get("id"))
    elif isinstance(scope, str):
        body.setdefault("scope_type", scope)
    for kind in ("deck", "lesson", "course", "classroom", "class"):
        if kind in body and "scope_type" not in body:
            body["scope_type"], body["scope_id"] = kind, body.pop(kind)
    scope_type = body.get("scope_type")
    if isinstance(scope_type, str) and scope_type in SCOPE_ALIASES:  # not a dict or list: unhashable
        body["scope_type"] = SCOPE_ALIASES[scope_type]
    return body


def normalise_answer(data: Any, request: Request) -> dict[str, Any]:
    body = dict(data.items()) if hasattr(data, "items") else {}
    for alias, name in (("card_id", "card"), ("typed_answer", "answer"), ("response_time_ms", "response_ms")):
        if alias in body and name not in body:
            body[name] = body.pop(alias)
    header_key = request.headers.get("Idempotency-Key")
    if header_key and not body.get("idempotency_key"):
        body["idempotency_key"] = header_key
    return body


class StartSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=StudySession.Mode.choices)
    scope_type = serializers.ChoiceField(choices=StudySession.Scope.choices)
    scope_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    size = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=study.MAX_SESSION_SIZE)
    shuffle = serializers.BooleanField(required=False, default=False)


class AnswerSerializer(serializers.Serializer):
    card = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    quality = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=5)
    answer = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=500)
    response_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1)
    idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


def _is_int(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _plain_text(value: str) -> bool:
    """Nothing a CharField would change or refuse: no surrounding blanks to
    trim, no NUL or surrogate characters (isprintable is False for both)."""
    return value == value.strip() and value.isprintable()


def answer_values(body: dict[str, Any]) -> dict[str, Any]:
    """`AnswerSerializer`'s validated data. The body an app sends (whole
    numbers as JSON numbers, the key a short string) is checked here directly:
    building and running the serializer cost more worker CPU than the rest of
    the answer's input handling. Anything else (strings for numbers, unknown
    types, a value out of range) goes through the serializer, so what is
    accepted and every error are the serializer's own."""
    card, quality, typed = body.get("card"), body.get("quality"), body.get("answer")
    response_ms, key = body.get("response_ms"), body.get("idempotency_key", "")
    if (
        _is_int(card, 1, 2**63 - 1)
        and (quality is None or _is_int(quality, 0, 5))
        and (typed is None or (type(typed) is str and len(typed) <= 500))
        and (response_ms is None or _is_int(response_ms, 0, 2**31 - 1))
        and type(key) is str
        and len(key) <= 64
        and _plain_text(key)
        and (typed is None or _plain_text(typed))
    ):
        values = {"card": card, "idempotency_key": key}
        for name, value in (("quality", quality), ("answer", typed), ("response_ms", response_ms)):
            if name in body:
                values[name] = value
        return values
    data = AnswerSerializer(data=body)
    data.is_valid(raise_exception=True)
    return data.validated_data


def card_payload(card: Card, request: Request) -> dict[str, Any]:
    return {
        "id": card.pk,
        "deck": card.deck_id,
        "front": card.front,
        "back": card.back,
        "image": request.build_absolute_uri(card_media_url(card, "image")) if card.image else None,
        "audio": request.build_absolute_uri(card_media_url(card, "audio")) if card.audio else None,
        "tags": card.tag_list,
    }


DONE: dict[str, Any] = {
    "done": True,
    "card": None,
    "previews": {},
    "preview_seconds": {},
    "counts": None,
    "state": None,
    "scheduler": None,
    "first_answer": None,
    "is_leech": None,
    "can_edit": None,
    "edit_url": None,
    "idempotency_key": None,
    "position": None,
    "remaining": 0,
}


def next_data(request: Request, session: StudySession, nxt: study.NextCard | None) -> dict[str, Any]:
    """The body of `next/`: the card to show (`done` when the session is over)."""
    if nxt is None:
        return {**DONE, "session": session_data(session)}
    memory = nxt.memory
    return {
        "done": False,
        "card": card_payload(nxt.card, request),
        "scheduler": nxt.card.deck.scheduler,
        "first_answer": nxt.first_answer,
        "is_leech": nxt.is_leech,
        "can_edit": nxt.can_edit,
        "edit_url": reverse("learning:card_edit", args=[nxt.card.pk]) if nxt.can_edit else None,
        "previews": {str(q): label for q, label in nxt.previews.items()},
        "preview_seconds": {str(q): round(d.total_seconds()) for q, d in nxt.delays.items()},
        "counts": nxt.counts.as_dict() if nxt.counts else None,
        "state": {
            "status": memory.state,
            "step": memory.step,
            "due_at": memory.due.isoformat() if memory.due else None,
            "interval": memory.interval,
            "ease": memory.ease,
            "stability": memory.stability,
            "difficulty": memory.difficulty,
            "recall": nxt.recall,
        },
        "idempotency_key": nxt.idempotency_key,
        "position": nxt.position,
        "remaining": nxt.remaining,
        "session": session_data(session),
    }


def wants_next(request: Request) -> bool:
    """`answer/?next=1`: the answer's body carries the next card as well."""
    return request.query_params.get("next", "").lower() in ("1", "true", "yes")


class StudySessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The signed-in student's own study sessions."""

    serializer_class = StudySessionSerializer
    pagination_class = Pagination

    def get_queryset(self):  # noqa: ANN201 - DRF hook
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return StudySession.objects.none()
        qs = StudySession.objects.filter(student=self.request.user).order_by("-started_at", "-id")
        for name in ("mode", "status"):
            value = self.request.query_params.get(name)
            if value:
                qs = qs.filter(**{name: value})
        return qs

    def get_object(self) -> StudySession:
        return study.get_session_for(self.request.user, self.kwargs["pk"])

    # The study loop reads the student's visible decks on every card: the
    # throttle reads their cache keys in its own Redis round trip (lms.throttling).
    cache_read_ahead: dict[str, Any] | None = None

    def cache_read_ahead_keys(self) -> list[str]:
        return visibility.cache_keys(self.request.user) if self.action in ("next", "answer") else []

    def visible_decks(self) -> VisibleDecks:
        return visibility.visible_decks(self.request.user, read_ahead=self.cache_read_ahead)

    @extend_schema(request=StartSerializer, responses={201: StudySessionSerializer}, summary="Start a study session")
    def create(self, request: Request) -> Response:
        data = StartSerializer(data=normalise_start(request.data))
        data.is_valid(raise_exception=True)
        session = study.session_start(student=request.user, **data.validated_data)
        return Response(StudySessionSerializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=inline_serializer(
            "NextCard",
            {
                "done": serializers.BooleanField(),
                "card": serializers.DictField(allow_null=True),
                "previews": serializers.DictField(
                    child=serializers.CharField(),
                    help_text='Answer quality → what the button says ("<10m", "4d"); 1, 3, 4, 5 are Again, Hard, '
                    "Good, Easy",
                ),
                "preview_seconds": serializers.DictField(
                    child=serializers.IntegerField(), help_text="Answer quality → seconds until the card is due again"
                ),
                "counts": CountsSerializer(allow_null=True),
                "state": CardStateSerializer(allow_null=True),
                "scheduler": serializers.CharField(allow_null=True),
                "first_answer": serializers.BooleanField(allow_null=True),
                "is_leech": serializers.BooleanField(allow_null=True),
                "can_edit": serializers.BooleanField(allow_null=True),
                "edit_url": serializers.CharField(allow_null=True),
                "idempotency_key": serializers.CharField(allow_null=True),
                "position": serializers.IntegerField(allow_null=True),
                "remaining": serializers.IntegerField(),
                "session": StudySessionSerializer(),
            },
        ),
        summary="The next card of the session (`done` and every card field null when it is over)",
    )
    @action(detail=True, methods=["get"])
    def next(self, request: Request, pk: str) -> Response:
        session = self.get_object()
        nxt = study.session_next(student=request.user, session=session, decks=self.visible_decks())
        return Response(next_data(request, session, nxt))

    @extend_schema(
        request=AnswerSerializer,
        responses=inline_serializer(
            "AnswerResult",
            {
                "review": serializers.IntegerField(),
                "card": serializers.IntegerField(),
                "quality": serializers.IntegerField(),
                "correct": serializers.BooleanField(),
                "expected": serializers.CharField(),
                "changed_schedule": serializers.BooleanField(),
                "schedule": serializers.DictField(help_text="SM-2's repetitions, interval (days) and ease"),
                "state": CardStateSerializer(help_text="The card's state after the answer"),
                "counts": CountsSerializer(allow_null=True),
                "redrill": serializers.BooleanField(),
                "session_done": serializers.BooleanField(),
                "replayed": serializers.BooleanField(),
                "next": serializers.DictField(
                    required=False, help_text="With ?next=1: the next card, as `next/` answers it (NextCard)"
                ),
            },
        ),
        parameters=[
            OpenApiParameter(
                "next", bool, description="1: the body also carries the next card (`next`), as `next/` would"
            )
        ],
        summary="Answer a card (send the same idempotency_key to retry safely)",
    )
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, pk: str) -> Response:
        values = answer_values(normalise_answer(request.data, request))
        result = study.session_answer(
            student=request.user,
            session_id=pk,
            card_id=values["card"],
            quality=values.get("quality"),
            answer=values.get("answer"),
            response_ms=values.get("response_ms"),
            idempotency_key=values.get("idempotency_key", ""),
            decks=self.visible_decks(),
        )
        body = result.as_dict()
        if wants_next(request):
            # What the client asks next anyway, computed after the answer's
            # commit: a study loop is then one request per card, not two.
            session = result.session
            nxt = study.session_next(student=request.user, session=session, decks=result.decks)
            body["next"] = next_data(request, session, nxt)
        return Response(body, status=status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "UndoResult",
                {
                    "undone": serializers.BooleanField(),
                    "card": serializers.IntegerField(allow_null=True),
                    "quality": serializers.IntegerField(),
                    "counts": CountsSerializer(allow_null=True),
                    "session_status": serializers.CharField(),
                },
            ),
            409: OpenApiTypes.OBJECT,
        },
        summary="Undo the session's last answer (once per answer; 409 nothing_to_undo otherwise)",
    )
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str) -> Response:
        return Response(study.session_undo(student=request.user, session_id=pk).as_dict())

    @extend_schema(
        request=inline_serializer("OverrideRequest", {"review": serializers.IntegerField()}),
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT, 422: OpenApiTypes.OBJECT},
        summary='"I was right": count a wrong test answer as right (the teacher sees it)',
    )
    @action(detail=True, methods=["post"])
    def override(self, request: Request, pk: str) -> Response:
        body = request.data if hasattr(request.data, "get") else {}  # a JSON list or string: no review named
        review = study.review_override(student=request.user, session_id=pk, review_id=body.get("review"))
        session = review.session
        return Response(
            {
                "review": review.pk,
                "correct": review.correct,
                "overridden_at": review.overridden_at,
                "score": session.score,
            }
        )

    @extend_schema(request=None, responses=StudySessionSerializer, summary="End the session")
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        session = study.session_end(student=request.user, session_id=pk)
        return Response(StudySessionSerializer(session).data)


class ReviewSerializer(serializers.ModelSerializer):
    deck = serializers.IntegerField(source="card.deck_id", read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "card",
            "deck",
            "session",
            "mode",
            "quality",
            "typed_answer",
            "correct",
            "response_ms",
            "reviewed_at",
            "status_before",
            "repetitions_before",
            "interval_before",
            "ease_before",
            "repetitions_after",
            "interval_after",
            "ease_after",
            "status_after",
            "due_after",
            "stability_after",
            "difficulty_after",
            "changed_schedule",
        ]
        read_only_fields = fields


@extend_schema(
    parameters=[
        OpenApiParameter("card", int),
        OpenApiParameter("deck", int),
        OpenApiParameter("session", int),
        OpenApiParameter("mode", str),
        OpenApiParameter("since", str, description="ISO date-time"),
    ]
)
class ReviewViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The signed-in user's own review log, newest first."""

    serializer_class = ReviewSerializer
    pagination_class = Pagination

    def get_queryset(self):  # noqa: ANN201 - DRF hook
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Review.objects.none()
        qs = Review.objects.filter(student=self.request.user).select_related("card").order_by("-reviewed_at", "-id")
        params = self.request.query_params
        for name, lookup in (("card", "card_id"), ("deck", "card__deck_id"), ("session", "session_id")):
            if params.get(name):
                try:
                    qs = qs.filter(**{lookup: int(params[name])})
                except ValueError:
                    raise ValidationError({name: "Must be a whole number."}) from None
        if params.get("mode"):
            if params["mode"] not in StudySession.Mode.values:
                raise ValidationError({"mode": f"One of {', '.join(StudySession.Mode.values)}."})
            qs = qs.filter(mode=params["mode"])
        if params.get("since"):
            since = parse_datetime(params["since"])
            if since is None:
                raise ValidationError({"since": "An ISO 8601 date-time."})
            qs = qs.filter(reviewed_at__gte=since)
        return qs


class ClassProgressQuery(serializers.Serializer):
    """A class's progress table: an unknown column or direction is a 400, not silently the default."""

    sort = serializers.ChoiceField(choices=sorted(progress_queries.SORT_KEYS), default="name")
    dir = serializers.ChoiceField(choices=["asc", "desc"], default="asc")


class ProgressView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The signed-in student's progress (the dashboard's figures)")
    def get(self, request: Request) -> Response:
        return Response(progress_queries.cached_student_dashboard(request.user).as_dict())


class ClassroomProgressView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("sort", str, enum=sorted(progress_queries.SORT_KEYS)),
            OpenApiParameter("dir", str, enum=["asc", "desc"]),
        ],
        responses=OpenApiTypes.OBJECT,
        summary="Progress of a class (its teacher only)",
    )
    def get(self, request: Request, pk: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        query = ClassProgressQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = progress_queries.cached_class_progress(
            classroom, sort=query.validated_data["sort"], descending=query.validated_data["dir"] == "desc"
        )
        return Response(progress_queries.class_progress_dict(data))


class ClassroomStudentProgressView(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="One student's progress in a class (its teacher, or that student)",
    )
    def get(self, request: Request, pk: int, student_id: int) -> Response:
        classroom, student = get_class_student_for(request.user, pk, student_id)
        data = progress_queries.class_student_progress(classroom, student)
        return Response(progress_queries.class_student_progress_dict(data))


class ClassroomGradebookView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("sort", str), OpenApiParameter("dir", str, enum=["asc", "desc"])],
        responses=OpenApiTypes.OBJECT,
        summary="A class's students × decks: mastery, due, last studied, test score (its teacher only)",
    )
    def get(self, request: Request, pk: int) -> Response:
        classroom = get_classroom_for(request.user, pk, write=True)
        book = gradebook.gradebook(
            classroom,
            sort=request.query_params.get("sort", "name"),
            descending=request.query_params.get("dir") == "desc",
        )
        return Response(gradebook.gradebook_dict(book))
