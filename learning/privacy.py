"""Learning's part of a person's data export: their classes, personal decks
(JSON and Anki .apkg, through the deck exporters), reviews and study sessions."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from learning.models import Deck, Enrollment, Review, StudySession
from learning.transfer import export_deck
from lms.models import User

REVIEW_COLUMNS = [
    "reviewed_at",
    "card_id",
    "deck",
    "mode",
    "quality",
    "correct",
    "typed_answer",
    "response_ms",
    "interval_before",
    "interval_after",
    "due_after",
]
# The header names the deck; the row reads its title.
REVIEW_FIELDS = ["card__deck__title" if column == "deck" else column for column in REVIEW_COLUMNS]
SESSION_COLUMNS = [
    "id",
    "mode",
    "scope_type",
    "scope_title",
    "status",
    "started_at",
    "ended_at",
    "cards_total",
    "answers_count",
    "correct_count",
    "duration_seconds",
]


def _csv(columns: list[str], rows: Any) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode()


def personal_data(user: User) -> list[tuple[str, bytes]]:
    enrolments = [
        {"class": e.classroom.name, "teacher": e.classroom.teacher.display_name, "joined_at": e.joined_at.isoformat()}
        for e in Enrollment.objects.filter(student=user).select_related("classroom__teacher")
    ]
    parts: list[tuple[str, bytes]] = [("enrolments.json", json.dumps(enrolments, indent=2).encode())]
    for deck in Deck.objects.filter(owner=user, lesson__isnull=True).order_by("id"):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", deck.title).strip("-").lower() or "deck"
        for fmt in ("json", "apkg"):
            content, _content_type, _name = export_deck(deck, fmt)
            parts.append((f"decks/{deck.pk}-{slug}.{fmt}", content))
    reviews = Review.objects.filter(student=user).order_by("reviewed_at", "id")
    parts.append(
        (
            "reviews.csv",
            _csv(
                REVIEW_COLUMNS,
                reviews.values_list(*REVIEW_FIELDS).iterator(),
            ),
        )
    )
    sessions = StudySession.objects.filter(student=user).order_by("started_at", "id")
    parts.append(("study_sessions.csv", _csv(SESSION_COLUMNS, sessions.values_list(*SESSION_COLUMNS).iterator())))
    return parts
