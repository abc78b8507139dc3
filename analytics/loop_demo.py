"""Demo data for the improvement loop, so its staff pages show something real
after `seed_demo`: flag exposures and audited changes, an experiment judged on
the demo events, feedback in every state with NPS answers over four months,
and feature requests with votes, comments and a roadmap.

Idempotent: it runs only while no feature request exists. Everything goes
through the same services the pages and API use.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from analytics import experiments, feature_requests, feedback, flags
from analytics.models import (
    Experiment,
    ExperimentExposure,
    FeatureRequest,
    Feedback,
    Flag,
    FlagChange,
    FlagExposure,
    NpsResponse,
)
from lms.models import User

FEEDBACK = [
    ("bug", 2, "The Good button hides behind the keyboard on my phone.", "/study/", "triaged", ["study", "mobile"], ""),
    ("idea", 5, "Let me pick a colour per deck.", "/decks/", "planned", ["decks"], "Good idea, it is planned."),
    ("content", 3, "Card 12 in Cells says mitochondria is a city.", "/decks/", "done", ["biology"], "Fixed, thanks!"),
    ("idea", 4, "A streak reminder in the evening would help me.", "/dashboard/", "new", [], ""),
    ("bug", 1, "The import of my .apkg stopped at 80%.", "/decks/import/", "new", ["import"], ""),
    ("other", None, "Thanks, this made my exam week easier.", "/dashboard/", "wont_do", [], ""),
]
REQUESTS = [
    # title, status, impact, alignment, complexity, voters (share of demo students)
    ("Dark mode", "planned", 6, 5, 3, 0.8),
    ("Audio recording on cards", "in_progress", 8, 8, 7, 0.5),
    ("Cloze deletion cards", "under_review", 9, 9, 5, 0.6),
    ("Export progress as PDF", "under_review", 4, 3, 4, 0.2),
    ("Keyboard shortcuts on the deck page", "shipped", 3, 6, 2, 0.3),
    ("Night theme", "under_review", None, None, None, 0.1),  # merged into Dark mode below
    ("Sync with Google Calendar", "declined", 2, 2, 8, 0.15),
]


def _students() -> list[User]:
    return list(User.objects.filter(role=User.Role.STUDENT).order_by("pk"))


def seed(users: Any) -> None:
    if FeatureRequest.objects.exists():
        return
    rng = random.Random(12)
    now = timezone.now()
    students = _students()
    _flags(users, students, now)
    _experiment(users, students, now, rng)
    _feedback(users, students, now, rng)
    _requests(users, students, rng)


def _flags(users: Any, students: list[User], now: Any) -> None:
    nps = Flag.objects.filter(name="nps-survey").first()
    if nps is not None and not FlagChange.objects.filter(flag_name=nps.name).exclude(source="seed").exists():
        for percentage, reason in ((10, "start small while the survey copy is reviewed"), (25, "copy reviewed")):
            nps = flags.flag_update(
                flag=nps, actor=users.admin, source=FlagChange.Source.STAFF, reason=reason, percentage=percentage
            )
    people = [*students, users.teacher, users.admin]
    rows = []
    for flag in Flag.objects.all():
        for person in people:
            if flags.evaluate(flag, flags.subject_for(person))[0]:
                rows.append(FlagExposure(flag_name=flag.name, user=person, first_seen=now - timedelta(days=3)))
    FlagExposure.objects.bulk_create(rows, ignore_conflicts=True)
    flags.flag_guard_report(name="fsrs-new-personal-decks", healthy=True, note="", now=now - timedelta(hours=5))


def _experiment(users: Any, students: list[User], now: Any, rng: random.Random) -> None:
    if Experiment.objects.filter(name="dashboard-study-button").exists():
        return
    experiment = experiments.experiment_create(
        name="dashboard-study-button",
        title="A bigger 'Study now' button on the dashboard",
        hypothesis="More students start a study session within a day of seeing the dashboard.",
        variants=[{"key": "control", "weight": 50}, {"key": "big-button", "weight": 50}],
        primary_metric={"kind": "conversion", "event": "study_session_started", "window_hours": 24},
        guardrail_metrics=[{"kind": "session_length"}],
        actor=users.admin,
        mde=0.2,
    )
    experiments.experiment_start(experiment=experiment, now=now - timedelta(days=21))
    ExperimentExposure.objects.bulk_create(
        ExperimentExposure(
            experiment=experiment,
            user=student,
            variant=experiments.assign(experiment, student.pk),
            exposed_at=now - timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 23)),
        )
        for student in students
    )


def _feedback(users: Any, students: list[User], now: Any, rng: random.Random) -> None:
    if Feedback.objects.exists():
        return
    for i, (kind, rating, message, url, status, tags, reply) in enumerate(FEEDBACK):
        author = students[i % len(students)]
        item = feedback.feedback_submit(
            user=author,
            kind=kind,
            rating=rating,
            message=message,
            page_url=url,
            browser="Mozilla/5.0 (demo)",
        )
        Feedback.objects.filter(pk=item.pk).update(created_at=now - timedelta(days=2 * (len(FEEDBACK) - i)))
        if status != "new" or reply:
            feedback.feedback_triage(
                feedback=item, actor=users.admin, status=status, assignee=users.admin, tags=tags, reply=reply or None
            )
    answers = []
    for month in range(4):
        for student in rng.sample(students, k=min(len(students), 6 + 2 * month)):
            score = min(10, max(0, round(rng.gauss(8 + 0.3 * month, 1.5))))
            answers.append(
                NpsResponse(user=student, score=score, created_at=now - timedelta(days=30 * (3 - month) + 2))
            )
    NpsResponse.objects.bulk_create(answers)


def _requests(users: Any, students: list[User], rng: random.Random) -> None:
    made: dict[str, FeatureRequest] = {}
    for i, (title, status, impact, alignment, complexity, share) in enumerate(REQUESTS):
        item = feature_requests.request_submit(user=students[i % len(students)], title=title)
        for student in students:
            if rng.random() < share:
                feature_requests.vote(user=student, request=item)
        changes: dict[str, Any] = {}
        if impact is not None:
            changes.update(business_impact=impact, strategic_alignment=alignment, complexity=complexity)
        if status not in ("under_review", "shipped"):
            changes["status"] = status
        if changes:
            item = feature_requests.request_update(request=item, actor=users.admin, **changes)
        if status == "shipped":  # shipped weeks ago: its voters were told then, not by the demo
            FeatureRequest.objects.filter(pk=item.pk).update(
                status=status, shipped_at=timezone.now() - timedelta(days=12)
            )
        made[title] = item
    feature_requests.comment(user=students[1], request=made["Cloze deletion cards"], body="Yes, for anatomy labels.")
    feature_requests.comment(user=users.teacher, request=made["Cloze deletion cards"], body="My class would use it.")
    feature_requests.request_merge(duplicate=made["Night theme"], into=made["Dark mode"], actor=users.admin)
