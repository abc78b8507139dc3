from __future__ import annotations

from celery import shared_task


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
