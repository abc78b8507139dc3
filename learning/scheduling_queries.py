"""Reads for the scheduling pages and API: fits, evaluations, leeches."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from learning.fsrs_history import latest_reviews
from learning.models import LEECH_LAPSES, CardState, Classroom, Deck, FsrsFit, Review
from learning.scheduler_evaluation import Evaluation, cached

LEECH_ROWS = 50


def fits_for(classroom: Classroom) -> QuerySet[FsrsFit]:
    return FsrsFit.objects.filter(classroom=classroom).order_by("-fitted_at", "-id")


def class_evaluation_reviews(classroom_id: int) -> QuerySet[Review]:
    return latest_reviews(Review.objects.filter(card__deck__lesson__course__classroom_id=classroom_id))


def site_evaluation_reviews() -> QuerySet[Review]:
    return latest_reviews(Review.objects.all())


def class_evaluation(classroom_id: int) -> Evaluation | None:
    """The class's evaluation if it has been computed since its last review
    (None: a background job is computing it; see learning.tasks)."""
    return cached(f"class:{classroom_id}", class_evaluation_reviews(classroom_id))


def site_evaluation() -> Evaluation | None:
    return cached("site", site_evaluation_reviews())


def class_decks(classroom: Classroom) -> QuerySet[Deck]:
    return (
        Deck.objects.filter(lesson__course__classroom=classroom)
        .select_related("lesson")
        .order_by("lesson__course__position", "lesson__position", "position", "id")
    )


def class_leeches(classroom: Classroom) -> list[dict]:
    """Cards of the class with leeches, worst first: how many students have
    them as leeches and how many have them suspended."""
    rows = (
        CardState.objects.filter(card__deck__lesson__course__classroom=classroom, lapses__gte=LEECH_LAPSES)
        .values("card_id", "card__front", "card__deck__title")
        .annotate(students=Count("id"), suspended=Count("id", filter=Q(suspended=True)))
        .order_by("-students", "card_id")[:LEECH_ROWS]
    )
    return list(rows)
