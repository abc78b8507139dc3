"""The gradebook: a class's students × its decks (mastery, due, last studied,
test score), as a page, a CSV download and an API read.

Four grouped queries whatever the size of the class (students; decks with
their card counts; schedules per student and deck; tests per session and
deck). Tests count by the class of the cards they asked, so a test taken from
"All my cards" shows up here too (learning.progress.class_tests).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Q
from django.utils import timezone

from learning.models import MASTERED_INTERVAL, Card, CardState, Classroom, Deck, Enrollment
from learning.progress import ClassTest, class_tests
from lms.models import User
from lms.spreadsheet import spreadsheet_safe


@dataclass
class GradeCell:
    deck: Deck
    total: int
    studied: int = 0
    mastered: int = 0
    due: int = 0
    last_studied: datetime | None = None
    test_score: float | None = None  # the latest test's score on this deck's cards

    @property
    def mastery_percent(self) -> int:
        return round(100 * self.mastered / self.total) if self.total else 0


@dataclass
class GradebookRow:
    student: User
    cells: list[GradeCell] = field(default_factory=list)
    latest_test: ClassTest | None = None

    @property
    def total(self) -> int:
        return sum(c.total for c in self.cells)

    @property
    def mastered(self) -> int:
        return sum(c.mastered for c in self.cells)

    @property
    def due(self) -> int:
        return sum(c.due for c in self.cells)

    @property
    def mastery_percent(self) -> int:
        return round(100 * self.mastered / self.total) if self.total else 0

    @property
    def last_studied(self) -> datetime | None:
        return max((c.last_studied for c in self.cells if c.last_studied), default=None)


@dataclass
class Gradebook:
    classroom: Classroom
    decks: list[Deck]
    rows: list[GradebookRow]
    sort: str
    descending: bool


def _name_key(row: GradebookRow) -> tuple[str, str]:
    return ((row.student.get_full_name() or row.student.username).lower(), row.student.username.lower())


def sort_key(sort: str):  # noqa: ANN201 — a key function for list.sort
    """Columns: name, username, mastery, due, last, test, and d<deck id> (that deck's mastery)."""
    if sort.startswith("d") and sort[1:].isdigit():
        deck_id = int(sort[1:])
        return lambda r: next((c.mastery_percent for c in r.cells if c.deck.pk == deck_id), -1)
    return {
        "username": lambda r: r.student.username.lower(),
        "mastery": lambda r: r.mastery_percent,
        "due": lambda r: r.due,
        "last": lambda r: r.last_studied.timestamp() if r.last_studied else 0.0,
        "test": lambda r: r.latest_test.score if r.latest_test else -1.0,
    }.get(sort, _name_key)


def gradebook(
    classroom: Classroom, *, sort: str = "name", descending: bool = False, now: datetime | None = None
) -> Gradebook:
    now = now or timezone.now()
    enrolled = Enrollment.objects.filter(classroom=classroom).values("student_id")
    # 1. Students.
    students = list(User.objects.filter(pk__in=enrolled).order_by("username"))
    # 2. Decks students can study (published lessons), with their sizes.
    decks = list(
        Deck.objects.filter(lesson__course__classroom=classroom, lesson__published=True)
        .select_related("lesson")
        .annotate(total=Count("cards"))
        .order_by("lesson__course__position", "lesson__position", "position", "id")
    )
    rows = {s.pk: GradebookRow(student=s, cells=[GradeCell(deck=d, total=d.total) for d in decks]) for s in students}
    column = {d.pk: i for i, d in enumerate(decks)}

    # 3. Schedules per student and deck.
    for row in (
        CardState.objects.filter(card__deck__in=[d.pk for d in decks], student_id__in=enrolled)
        .values("student_id", "card__deck_id")
        .annotate(
            studied=Count("id"),
            mastered=Count("id", filter=Q(interval__gte=MASTERED_INTERVAL)),
            due=Count("id", filter=Q(due_at__lte=now)),
            last=Max("last_reviewed_at"),
        )
        .order_by()
    ):
        student_row = rows.get(row["student_id"])
        if student_row is None or row["card__deck_id"] not in column:
            continue
        cell = student_row.cells[column[row["card__deck_id"]]]
        cell.studied, cell.mastered, cell.due, cell.last_studied = (
            row["studied"],
            row["mastered"],
            row["due"],
            row["last"],
        )

    # 4. Tests, newest first: the first one seen per student (and per deck) is the latest.
    class_cards = Card.objects.filter(deck__lesson__course__classroom=classroom).order_by()
    for test in class_tests(class_cards, enrolled):
        student_row = rows.get(test.student_id)
        if student_row is None:
            continue
        if student_row.latest_test is None:
            student_row.latest_test = test
        for cell in student_row.cells:
            if cell.test_score is None:
                cell.test_score = test.deck_score(cell.deck.pk)

    ordered = sorted(rows.values(), key=_name_key)
    ordered.sort(key=sort_key(sort), reverse=descending)
    return Gradebook(classroom=classroom, decks=decks, rows=ordered, sort=sort, descending=descending)


def _iso(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def gradebook_csv(book: Gradebook) -> str:
    """One row per student: names, overall figures, then four columns per
    deck. Every text cell goes through spreadsheet_safe (names and deck titles
    are typed by users)."""
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["username", "full name", "mastery %", "due", "last studied", "latest test %", "latest test cards"]
    for deck in book.decks:
        header += [
            f"{deck.title}: mastery %",
            f"{deck.title}: due",
            f"{deck.title}: last studied",
            f"{deck.title}: test %",
        ]
    writer.writerow([spreadsheet_safe(h) for h in header])
    for row in book.rows:
        test = row.latest_test
        line: list[object] = [
            row.student.username,
            row.student.get_full_name(),
            row.mastery_percent,
            row.due,
            _iso(row.last_studied),
            test.score if test else "",
            test.cards_studied if test else "",
        ]
        for cell in row.cells:
            line += [
                cell.mastery_percent,
                cell.due,
                _iso(cell.last_studied),
                cell.test_score if cell.test_score is not None else "",
            ]
        writer.writerow([spreadsheet_safe(v) for v in line])
    return out.getvalue()


def gradebook_dict(book: Gradebook) -> dict:
    return {
        "classroom": {"id": book.classroom.pk, "name": book.classroom.name},
        "decks": [{"id": d.pk, "title": d.title, "cards": d.total} for d in book.decks],
        "students": [
            {
                "id": r.student.pk,
                "username": r.student.username,
                "name": r.student.get_full_name(),
                "mastery_percent": r.mastery_percent,
                "due": r.due,
                "last_studied": r.last_studied,
                "latest_test": (
                    {"session": r.latest_test.pk, "score": r.latest_test.score, "cards": r.latest_test.cards_studied}
                    if r.latest_test
                    else None
                ),
                "decks": [
                    {
                        "deck": c.deck.pk,
                        "studied": c.studied,
                        "mastered": c.mastered,
                        "mastery_percent": c.mastery_percent,
                        "due": c.due,
                        "last_studied": c.last_studied,
                        "test_score": c.test_score,
                    }
                    for c in r.cells
                ],
            }
            for r in book.rows
        ],
    }
