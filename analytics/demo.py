"""Demo analytics: a few weeks of plausible activity so the dashboards are not empty.

Idempotent: demo events carry `"demo": true` and are only created when none exist.
Extra demo students (`demo_student_01`...) give the charts some width.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from analytics import loop_demo, services
from analytics import timeutil as tu
from analytics.models import Event
from lms.models import User

DAYS = 42
EXTRA_STUDENTS = 24
ROUTES = ["/", "/decks/", "/decks/<int:pk>/", "/classes/", "/classes/<int:pk>/", "/study/<int:pk>/", "/progress/"]
MODES = ["learn", "review", "cram", "practice", "test"]


def _session(rng: random.Random, user: User, start: Any, rows: list[Event]) -> None:
    key = services.hash_session_key(f"demo-{user.pk}-{start.timestamp()}")
    t = start

    def add(name: str, **props: object) -> None:
        nonlocal t
        rows.append(Event(name=name, user=user, session_key=key, timestamp=t, properties={"demo": True, **props}))
        t += timedelta(seconds=rng.randint(5, 240))

    add("login", via="web")
    for _ in range(rng.randint(1, 4)):
        add("page_view", route=rng.choice(ROUTES), status=200)
    if rng.random() < 0.75:
        mode = rng.choice(MODES)
        cards = rng.randint(5, 30)
        add("study_session_started", mode=mode, cards=cards)
        for _ in range(rng.randint(3, 12)):
            add("card_flipped")
            add("review_submitted", mode=mode, quality=rng.randint(2, 5))
        if rng.random() < 0.7:
            add("study_session_completed", mode=mode, cards=cards, accuracy=round(rng.uniform(0.5, 1), 2))
            if mode == "test":
                add("test_completed", score=rng.randint(40, 100))
    if user.role == User.Role.TEACHER and rng.random() < 0.3:
        add("deck_created")
        for _ in range(rng.randint(2, 6)):
            add("card_created")
    if rng.random() < 0.03:
        add("error", type="OperationalError", message="demo: database is locked", route="/study/<int:pk>/", status=500)


def seed(users: Any) -> None:
    _seed_activity(users)
    loop_demo.seed(users)  # after the activity: the demo experiment is judged on its events


def _seed_activity(users: Any) -> None:
    if Event.objects.filter(properties__demo=True).exists():
        return
    rng = random.Random(42)
    now = timezone.now()
    students = [users.student]
    for i in range(1, EXTRA_STUDENTS + 1):
        student, created = User.objects.get_or_create(
            username=f"demo_student_{i:02d}",
            defaults={
                "role": User.Role.STUDENT,
                "email": f"demo_student_{i:02d}@example.com",
                "timezone": rng.choice(["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]),
            },
        )
        if created:
            student.set_unusable_password()
            student.save(update_fields=["password"])
        students.append(student)
    rows: list[Event] = []
    for person in [users.teacher, users.admin, *students]:
        joined = rng.randint(3, DAYS)
        User.objects.filter(pk=person.pk, date_joined__gt=now - timedelta(days=joined)).update(
            date_joined=now - timedelta(days=joined)
        )
        rows.append(
            Event(
                name="signup",
                user=person,
                timestamp=now - timedelta(days=joined),
                properties={"demo": True, "role": person.role},
            )
        )
        # Most students join a class within two days of signing up, so the
        # "sign-up to first study" funnel has a believable shape.
        follow_up = {User.Role.STUDENT: ("class_joined", 0.85), User.Role.TEACHER: ("class_created", 1.0)}
        if person.role in follow_up and rng.random() < follow_up[person.role][1]:
            rows.append(
                Event(
                    name=follow_up[person.role][0],
                    user=person,
                    timestamp=now - timedelta(days=joined) + timedelta(hours=rng.uniform(0.2, 48)),
                    properties={"demo": True},
                )
            )
        loyalty = rng.uniform(0.15, 0.9)
        for day in range(joined, -1, -1):
            if rng.random() > loyalty * (0.6 + 0.4 * (day < 14)):
                continue
            start = now - timedelta(days=day, hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
            if start > now:
                continue
            _session(rng, person, start, rows)
    rows = [r for r in rows if r.timestamp <= now]
    Event.objects.bulk_create(rows, batch_size=2000)
    today = tu.utc_day_of(now)
    services.rollup_range(today - DAYS - 1, today - 1)
