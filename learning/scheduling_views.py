"""Pages for a class's scheduling: the FSRS fits (teacher sees them, an admin
can run one now), which scheduler predicts the class best, and its leeches
(the teacher can unsuspend them). Staff also get the site-wide evaluation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from learning import scheduling_queries, services
from learning.access import get_classroom_for, is_admin
from learning.models import Card
from learning.scheduler_evaluation import Evaluation
from learning.tasks import evaluation_or_start, optimize_fsrs
from lms.charts import Series, line_chart
from lms.queueing import enqueue


def calibration_chart(evaluation: Evaluation | None) -> str:
    """Predicted vs actual recall per bin of prediction, one line per
    scheduler, with the diagonal a perfect predictor would follow."""
    scored = [s for s in evaluation.scores if s.calibration] if evaluation else []
    if not scored:
        return ""
    bins = scored[0].calibration
    labels = [f"{b.low:.0%}–{b.high:.0%}" for b in bins]
    series = [Series("Perfect calibration", [(b.low + b.high) / 2 for b in bins], "#9aa3b5")]
    series += [Series(s.label, [b.actual for b in s.calibration]) for s in scored]
    return line_chart(
        labels,
        series,
        title="Actual recall by predicted recall",
        y_max=1.0,
        value_format=lambda v: f"{v:.0%}",
        height=240,
    )


@login_required
@require_GET
def class_scheduling(request: HttpRequest, pk: int) -> HttpResponse:
    """The class's teacher and admins; 404 for others' classes, 403 for its students."""
    classroom = get_classroom_for(request.user, pk, write=True)
    evaluation = evaluation_or_start(classroom.pk)
    return render(
        request,
        "learning/scheduling/class.html",
        {
            "classroom": classroom,
            "fits": scheduling_queries.fits_for(classroom)[:10],
            "evaluation": evaluation,
            "chart": calibration_chart(evaluation),
            "leeches": scheduling_queries.class_leeches(classroom),
            "decks": scheduling_queries.class_decks(classroom),
            "can_run": is_admin(request.user),
        },
    )


@login_required
@require_POST
def class_optimize_now(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = get_classroom_for(request.user, pk, write=True)
    if not is_admin(request.user):
        raise PermissionDenied("Only an admin can run the optimiser by hand; it runs every week by itself.")
    if enqueue(optimize_fsrs, classroom.pk):
        messages.success(request, "The FSRS optimiser is running for this class; its result appears below when done.")
    else:
        messages.error(request, "The optimiser could not be started: the task queue is unavailable. Try again shortly.")
    return redirect("learning:class_scheduling", pk=pk)


@login_required
@require_POST
def class_unsuspend(request: HttpRequest, pk: int, card_id: int) -> HttpResponse:
    classroom = get_classroom_for(request.user, pk, write=True)
    card = Card.objects.filter(pk=card_id, deck__lesson__course__classroom=classroom).first()
    if card is None:
        messages.error(request, "That card is not in this class.")
    else:
        count = services.card_unsuspend(card=card)
        messages.success(request, f"Unsuspended for {count} student{'s' if count != 1 else ''}.")
    return redirect("learning:class_scheduling", pk=pk)


@login_required
@require_GET
def site_evaluation(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied("Staff only.")
    evaluation = evaluation_or_start(None)
    return render(
        request,
        "learning/scheduling/site.html",
        {"evaluation": evaluation, "chart": calibration_chart(evaluation)},
    )
