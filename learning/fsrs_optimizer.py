"""Fit FSRS-6 parameters on a class's pooled review log (or a personal-deck
owner's), with fsrs-rs's optimiser, and use them for that class's decks.

Anki fits one person's reviews; a class has thirty people learning the same
cards, so its log gets to a useful size weeks sooner. Each run is recorded
(`FsrsFit`): when, on how many reviews, the parameters, and the log loss and
binned RMSE of the parameters before and after on the same reviews. A fit is
kept only when it predicts better than what the class had.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import fsrs_rs_python
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from learning.fsrs_history import all_training_items, histories, latest_reviews
from learning.models import Classroom, Deck, FsrsFit, Review
from learning.schedulers.fsrs import DEFAULT_PARAMETERS, model, valid_parameters
from lms.models import User


@dataclass(frozen=True)
class Scores:
    log_loss: float
    rmse: float


def score(parameters: Sequence[float], items: Sequence[fsrs_rs_python.FSRSItem]) -> Scores:
    evaluation = model(valid_parameters(parameters)).evaluate(list(items))
    return Scores(log_loss=evaluation.log_loss, rmse=evaluation.rmse_bins)


def fit_parameters(items: Sequence[fsrs_rs_python.FSRSItem]) -> tuple[float, ...] | None:
    """The optimiser's parameters, or None when the library kept its defaults
    (it does below a couple of hundred usable reviews)."""
    fitted = tuple(fsrs_rs_python.FSRS([]).compute_parameters(list(items)))
    if fitted == DEFAULT_PARAMETERS:
        return None
    return fitted


def class_reviews(classroom: Classroom) -> QuerySet[Review]:
    return Review.objects.filter(card__deck__lesson__course__classroom=classroom)


def owner_reviews(owner: User) -> QuerySet[Review]:
    """A personal-deck owner's own reviews of their personal decks."""
    return Review.objects.filter(student=owner, card__deck__owner=owner, card__deck__lesson__isnull=True)


def _decks_for(classroom: Classroom | None, owner: User | None) -> QuerySet[Deck]:
    if classroom is not None:
        return Deck.objects.filter(lesson__course__classroom=classroom)
    return Deck.objects.filter(owner=owner, lesson__isnull=True)


def latest_fit(classroom: Classroom | None = None, owner: User | None = None) -> FsrsFit | None:
    fits = FsrsFit.objects.filter(classroom=classroom) if classroom else FsrsFit.objects.filter(owner=owner)
    return fits.order_by("-fitted_at", "-id").first()


def current_parameters(classroom: Classroom | None = None, owner: User | None = None) -> tuple[float, ...]:
    fits = FsrsFit.objects.filter(skipped="")
    fits = fits.filter(classroom=classroom) if classroom else fits.filter(owner=owner)
    fit = fits.order_by("-fitted_at", "-id").only("parameters").first()
    return valid_parameters(fit.parameters) if fit else DEFAULT_PARAMETERS


def optimize(*, classroom: Classroom | None = None, owner: User | None = None) -> FsrsFit:
    """Fit, record and (when better) apply parameters for one class or owner."""
    if (classroom is None) == (owner is None):
        raise ValueError("Optimise one class or one owner.")
    started = time.monotonic()
    reviews = latest_reviews(class_reviews(classroom) if classroom else owner_reviews(owner))
    items = [item for _, item in all_training_items(histories(reviews).values())]
    fit = FsrsFit(classroom=classroom, owner=owner, fitted_at=timezone.now(), review_count=len(items))
    before = current_parameters(classroom, owner)
    if items:
        old = score(before, items)
        fit.log_loss_before, fit.rmse_before = old.log_loss, old.rmse
    fitted = fit_parameters(items) if items else None
    if fitted is None:
        fit.skipped = f"Not enough reviews yet: {len(items)} usable; the optimiser kept FSRS's defaults."
    else:
        new = score(fitted, items)
        fit.log_loss_after, fit.rmse_after = new.log_loss, new.rmse
        fit.parameters = list(fitted)
        if fit.log_loss_before is not None and new.log_loss >= fit.log_loss_before:
            fit.skipped = "The fitted parameters predicted no better than the current ones; kept those."
    with transaction.atomic():
        if not fit.skipped:
            fit.decks_updated = _decks_for(classroom, owner).update(fsrs_parameters=fit.parameters)
        fit.duration_ms = int((time.monotonic() - started) * 1000)
        fit.save()
    return fit


def optimize_all() -> list[FsrsFit]:
    """Every active class with reviews, and every owner of personal decks
    with reviews of them (the weekly job)."""
    fits = []
    with_reviews = Review.objects.filter(changed_schedule=True)
    class_ids = (
        with_reviews.filter(card__deck__lesson__isnull=False)
        .values_list("card__deck__lesson__course__classroom", flat=True)
        .distinct()
        .order_by()
    )
    for classroom in Classroom.objects.active().filter(pk__in=class_ids):
        fits.append(optimize(classroom=classroom))
    owner_ids = (
        with_reviews.filter(card__deck__lesson__isnull=True, card__deck__owner=F("student"))
        .values_list("student", flat=True)
        .distinct()
        .order_by()
    )
    for owner in User.objects.filter(pk__in=owner_ids):
        fits.append(optimize(owner=owner))
    return fits
