"""The FSRS optimiser on a class's pooled reviews, and the scheduler evaluation."""

from __future__ import annotations

import math
from collections import defaultdict
from io import StringIO

import fsrs_rs_python
import pytest
from django.core.management import call_command

from learning import scheduler_evaluation
from learning.fsrs_history import histories, training_items
from learning.fsrs_optimizer import class_reviews, optimize
from learning.models import Deck, FsrsFit, Review
from learning.schedulers.fsrs import DEFAULT_PARAMETERS
from learning.schedulers.metrics import Prediction, log_loss, rmse_bins
from tests.factories import UserFactory
from tests.learning.fsrs_synthetic import simulate
from tests.learning.study_setup import make_class


@pytest.fixture
def synthetic_class(teacher):
    students = [UserFactory(username=f"pupil{i}") for i in range(24)]
    setup = make_class(teacher, students, cards_per_deck=25, scheduler="fsrs")
    simulate(students, setup.cards)
    return setup


def test_the_optimiser_fits_the_class_log_better_than_the_defaults_and_applies_it(synthetic_class):
    fit = optimize(classroom=synthetic_class.classroom)
    assert fit.skipped == "" and fit.improved
    assert fit.review_count > 2000
    assert tuple(fit.parameters) != DEFAULT_PARAMETERS and len(fit.parameters) == 21
    assert fit.log_loss_after < fit.log_loss_before and fit.rmse_after is not None
    assert Deck.objects.get().fsrs_parameters == fit.parameters
    assert fit.decks_updated == 1


def test_fitted_parameters_predict_held_out_reviews_better_than_the_defaults(synthetic_class):
    evaluation = scheduler_evaluation.evaluate(class_reviews(synthetic_class.classroom))
    scores = {s.key: s for s in evaluation.scores}
    assert scores["fsrs-fitted"].count > 500
    assert scores["fsrs-fitted"].log_loss < scores["fsrs-default"].log_loss
    assert evaluation.best.key == "fsrs-fitted"
    # Scored reviews all come after the split; the fit saw only earlier ones.
    assert evaluation.train_reviews < evaluation.reviews
    assert set(scores) == {"fsrs-fitted", "fsrs-default", "sm2", "sm2-published"}
    assert all(s.count == scores["fsrs-default"].count for s in scores.values())


def test_fsrs_scores_equal_the_library_evaluating_the_same_reviews(synthetic_class):
    """An independent computation: fsrs-rs's own evaluate() of each scored
    review alone (an item whose last review is that one) gives its predicted
    recall; their mean log loss is the page's. (One call per item: over many
    items the library weights recent ones more.)"""
    reviews = class_reviews(synthetic_class.classroom)
    evaluation = scheduler_evaluation.evaluate(reviews)
    split_at = evaluation.split_at
    items = [item for h in histories(reviews).values() for at, item in training_items(h) if at >= split_at]
    fsrs = fsrs_rs_python.FSRS(list(DEFAULT_PARAMETERS))
    library = math.fsum(fsrs.evaluate([item]).log_loss for item in items) / len(items)
    ours = next(s for s in evaluation.scores if s.key == "fsrs-default")
    assert ours.count == len(items)
    assert ours.log_loss == pytest.approx(library, rel=1e-5)


def reference_rmse(rows):
    """srs-benchmark's binned RMSE written out again, from its definition."""

    def binned(x, a, b, digits):
        return round(a * math.pow(b, math.floor(math.log(x, b))), digits)

    groups = defaultdict(list)
    for r in rows:
        key = (
            binned(r.delta_t, 2.48, 3.62, 2),
            binned(r.i, 1.99, 1.89, 0),
            binned(r.lapses, 1.65, 1.73, 0) if r.lapses else 0,
        )
        groups[key].append(r)
    num = math.fsum(
        len(g) * (sum(x.y for x in g) / len(g) - sum(x.p for x in g) / len(g)) ** 2 for g in groups.values()
    )
    return math.sqrt(num / len(rows))


def test_metrics_equal_an_independent_computation():
    import random

    rng = random.Random(5)
    rows = [
        Prediction(
            y=rng.random() < 0.8,
            p=rng.uniform(0.3, 0.99),
            delta_t=rng.randint(1, 200),
            i=rng.randint(2, 30),
            lapses=rng.randint(0, 5),
        )
        for _ in range(3000)
    ]
    expected_loss = -math.fsum(math.log(r.p) if r.y else math.log(1 - r.p) for r in rows) / len(rows)
    assert log_loss(rows) == pytest.approx(expected_loss, rel=1e-12)
    assert rmse_bins(rows) == pytest.approx(reference_rmse(rows), rel=1e-12)


def test_too_few_reviews_are_recorded_as_skipped_and_change_nothing(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2, scheduler="fsrs")
    simulate([student], setup.cards, reviews_per_card=3)
    fit = optimize(classroom=setup.classroom)
    assert fit.skipped.startswith("Not enough reviews") and fit.parameters == []
    assert Deck.objects.get().fsrs_parameters == []


def test_command_fits_every_class_with_reviews(synthetic_class):
    out = StringIO()
    call_command("optimize_fsrs", stdout=out)
    assert "1 applied" in out.getvalue() and "log loss" in out.getvalue()
    assert FsrsFit.objects.filter(classroom=synthetic_class.classroom, skipped="").count() == 1


def test_weekly_job_is_seeded():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="learning.tasks.optimize_fsrs")
    assert task.crontab.day_of_week == "1" and task.enabled


def test_a_new_fsrs_deck_of_the_class_starts_with_the_fitted_parameters(synthetic_class, teacher):
    from learning import services

    fit = optimize(classroom=synthetic_class.classroom)
    deck = services.deck_create(user=teacher, title="More", lesson=synthetic_class.lesson, scheduler="fsrs")
    assert deck.fsrs_parameters == fit.parameters
    assert Review.objects.count() > 0


def test_weekly_job_also_fits_each_owner_of_personal_decks(student):
    from learning import services
    from learning.fsrs_optimizer import optimize_all
    from learning.models import Card

    deck = services.deck_create(user=student, title="Mine")
    cards = Card.objects.bulk_create([Card(deck=deck, front=f"q{i}", back="a") for i in range(2)])
    simulate([student], cards, reviews_per_card=3)
    fits = optimize_all()
    assert [(f.owner_id, f.classroom_id) for f in fits] == [(student.pk, None)]
