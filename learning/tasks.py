from __future__ import annotations

from typing import TYPE_CHECKING

from celery import shared_task

if TYPE_CHECKING:
    from learning.scheduler_evaluation import Evaluation


@shared_task
def expire_study_sessions() -> int:
    """Mark sessions with no answer for 30 minutes as abandoned, so reports and
    the teacher's view agree with what students see."""
    from learning.study import expire_idle_sessions

    return expire_idle_sessions()


@shared_task
def optimize_fsrs(classroom_id: int | None = None) -> int:
    """Fit FSRS parameters for one class (the teacher's "run now") or, weekly,
    for every class and personal-deck owner. Returns the number of fits kept."""
    from learning.fsrs_optimizer import optimize, optimize_all
    from learning.models import Classroom

    if classroom_id is not None:
        classroom = Classroom.objects.filter(pk=classroom_id).first()
        return int(classroom is not None and not optimize(classroom=classroom).skipped)
    return sum(not fit.skipped for fit in optimize_all())


@shared_task
def evaluate_schedulers(classroom_id: int | None = None) -> int:
    """Score the schedulers on a class's reviews (or the site's) and cache the
    result for the Scheduling pages; seconds to minutes on a big class, so
    never inside a request. Returns the number of reviews scored."""
    from learning import scheduling_queries
    from learning.scheduler_evaluation import evaluate_and_cache

    if classroom_id is None:
        return evaluate_and_cache("site", scheduling_queries.site_evaluation_reviews()).scored_reviews
    key = f"class:{classroom_id}"
    return evaluate_and_cache(key, scheduling_queries.class_evaluation_reviews(classroom_id)).scored_reviews


def evaluation_or_start(classroom_id: int | None = None) -> Evaluation | None:
    """The cached evaluation, or None after starting the job that computes it
    (once per five minutes; with eager Celery it is ready straight away)."""
    from django.core.cache import cache

    from learning import scheduling_queries

    def read() -> Evaluation | None:
        if classroom_id is None:
            return scheduling_queries.site_evaluation()
        return scheduling_queries.class_evaluation(classroom_id)

    found = read()
    if found is None and cache.add(f"scheduler-eval-running:{classroom_id}", 1, 300):
        evaluate_schedulers.delay(classroom_id)
        found = read()
    return found


@shared_task
def import_package(job_id: int) -> str | None:
    """A big deck import (learning/import_jobs.py); returns the job's status."""
    from learning.import_jobs import import_job_run

    job = import_job_run(job_id=job_id)
    return job.status if job else None


@shared_task
def sweep_import_jobs() -> int:
    """Fail background imports whose worker died (no progress for
    IMPORT_STALE_SECONDS) and remove what they left; returns how many."""
    from learning.import_jobs import import_jobs_sweep

    return import_jobs_sweep()
