"""Reads for the scheduling pages and API: fits, evaluations, leeches."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from learning.fsrs_optimizer import class_reviews
from learning.models import LEECH_LAPSES, CardState, Classroom, Deck, FsrsFit, Review
from learning.scheduler_evaluation import Evaluation, evaluate_cached

# The site-wide evaluation reads at most this many of the latest counted reviews.
SITE_REVIEWS = 200_000
LEECH_ROWS = 50


def fits_for(classroom: Classroom) -> QuerySet[FsrsFit]:
    return FsrsFit.objects.filter(classroom=classroom).order_by("-fitted_at", "-id")


def class_evaluation(classroom: Classroom) -> Evaluation:
    return evaluate_cached(class_reviews(classroom), f"class:{classroom.pk}")


def site_evaluation() -> Evaluation:
    counted = Review.objects.filter(changed_schedule=True)
    edge = counted.order_by("-id").values_list("id", flat=True)[SITE_REVIEWS : SITE_REVIEWS + 1]
    reviews = counted.filter(id__gt=edge[0]) if edge else counted
    return evaluate_cached(reviews, "site")


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
