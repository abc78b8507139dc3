from __future__ import annotations

from celery import shared_task


@shared_task
def expire_study_sessions() -> int:
    """Mark sessions with no answer for 30 minutes as abandoned, so reports and
    the teacher's view agree with what students see."""
    from learning.study import expire_idle_sessions

    return expire_idle_sessions()
