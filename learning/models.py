"""Learning content: classes -> courses -> lessons -> decks -> cards.

Study state (per-student card schedules, reviews, sessions) lives further down
this module once the studying feature lands. Reads are named QuerySet methods
that carry their own select_related/annotations and permission scoping, so the
pages and the API share them.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models, router, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal

from learning import schedulers
from learning.schedulers.base import DESIRED_RETENTION_RANGE

if TYPE_CHECKING:
    from lms.models import User

# No 0/O, 1/I/L: a code read aloud or copied off a board is typed right.
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def _media_path(kind: str, filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower()[:8]
    return f"cards/{kind}/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}{suffix}"


def count_of(queryset: models.QuerySet, link: str) -> Coalesce:
    """A correlated COUNT(*) subquery: `queryset` rows whose `link` is the outer
    row. Unlike Count() over joins it cannot multiply with other annotations or
    with the DISTINCT that visibility filters add, and it stays one query."""
    counted = queryset.filter(**{link: OuterRef("pk")}).order_by().values(link).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def card_image_path(instance: Card, filename: str) -> str:
    return _media_path("images", filename)


def card_audio_path(instance: Card, filename: str) -> str:
    return _media_path("audio", filename)


class ClassroomQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> ClassroomQuerySet:
        """Classes a user may see: all for admins, taught ones for teachers,
        enrolled ones for students."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser or getattr(user, "role", None) == "admin":
            return self.all()
        return self.filter(Q(teacher=user) | Q(enrollments__student=user)).distinct()

    def taught_by(self, user: User) -> ClassroomQuerySet:
        return self.filter(teacher=user)

    def active(self) -> ClassroomQuerySet:
        return self.filter(archived=False)

    def with_counts(self) -> ClassroomQuerySet:
        """Students and courses per class, for list pages (no per-row queries)."""
        return self.select_related("teacher").annotate(
            student_count=count_of(Enrollment.objects.all(), "classroom"),
            course_count=count_of(Course.objects.all(), "classroom"),
        )


class Classroom(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    teacher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="classrooms_taught")
    join_code = models.CharField(max_length=JOIN_CODE_LENGTH, unique=True, default=new_join_code)
    archived = models.BooleanField(default=False)
    # The scheduler new decks of this class start with (each deck may change it).
    default_scheduler = models.CharField(max_length=16, choices=schedulers.CHOICES, default=schedulers.DEFAULT)
    students = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Enrollment", related_name="classrooms_joined", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClassroomQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["teacher", "archived"])]

    def __str__(self) -> str:
        return self.name


class Enrollment(models.Model):
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="enrollments")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [models.UniqueConstraint(fields=["classroom", "student"], name="unique_enrollment")]
        indexes = [models.Index(fields=["student", "classroom"])]

    def __str__(self) -> str:
        return f"{self.student} in {self.classroom}"


def _is_admin(user: User) -> bool:
    return bool(user.is_superuser or getattr(user, "role", None) == "admin")


class CourseQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> CourseQuerySet:
        if not user.is_authenticated:
            return self.none()
        qs = self.select_related("classroom")
        if _is_admin(user):
            return qs
        return qs.filter(
            Q(classroom__teacher=user) | Q(classroom__in=Enrollment.objects.filter(student=user).values("classroom"))
        )


class Course(models.Model):
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="courses")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CourseQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["classroom", "position"])]

    def __str__(self) -> str:
        return self.title


class LessonQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> LessonQuerySet:
        """Teachers see every lesson of their classes; students only published
        lessons of the classes they are enrolled in."""
        if not user.is_authenticated:
            return self.none()
        qs = self.select_related("course__classroom")
        if _is_admin(user):
            return qs
        enrolled = Enrollment.objects.filter(student=user).values("classroom")
        return qs.filter(Q(course__classroom__teacher=user) | Q(published=True, course__classroom__in=enrolled))

    def with_deck_count(self) -> LessonQuerySet:
        return self.annotate(deck_count=count_of(Deck.objects.all(), "lesson"))


class Lesson(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown; rendered and sanitized on display.")
    position = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LessonQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["course", "position"])]

    def __str__(self) -> str:
        return self.title


def _deck_visibility(user: User, prefix: str = "") -> Q:
    """Who may read a deck: its owner when it is personal, the teacher of its
    class, and students enrolled in that class once its lesson is published."""
    enrolled = Enrollment.objects.filter(student=user).values("classroom")
    return (
        Q(**{f"{prefix}lesson__isnull": True, f"{prefix}owner": user})
        | Q(**{f"{prefix}lesson__course__classroom__teacher": user})
        | Q(**{f"{prefix}lesson__published": True, f"{prefix}lesson__course__classroom__in": enrolled})
    )


class DeckQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> DeckQuerySet:
        if not user.is_authenticated:
            return self.none()
        qs = self.select_related("owner", "lesson__course__classroom")
        if _is_admin(user):
            return qs
        return qs.filter(_deck_visibility(user))

    def personal_for(self, user: User) -> DeckQuerySet:
        return self.filter(owner=user, lesson__isnull=True)

    def with_card_count(self) -> DeckQuerySet:
        return self.annotate(card_count=count_of(Card.objects.all(), "deck"))


class Deck(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="decks")
    # No lesson: a personal deck, visible to its owner only.
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="decks", null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    new_cards_per_day = models.PositiveIntegerField(default=20)
    reviews_per_day = models.PositiveIntegerField(default=200)
    # Scheduling options (learning.schedulers.base.Options has the same defaults).
    scheduler = models.CharField(max_length=16, choices=schedulers.CHOICES, default=schedulers.DEFAULT)
    desired_retention = models.FloatField(
        default=0.9,
        validators=[MinValueValidator(DESIRED_RETENTION_RANGE[0]), MaxValueValidator(DESIRED_RETENTION_RANGE[1])],
    )
    learning_steps = models.CharField(max_length=100, default="1m 10m", blank=True)
    relearning_steps = models.CharField(max_length=100, default="10m", blank=True)
    graduating_interval = models.PositiveIntegerField(default=1)
    easy_interval = models.PositiveIntegerField(default=4)
    starting_ease = models.FloatField(default=2.5)
    hard_multiplier = models.FloatField(default=1.2)
    easy_bonus = models.FloatField(default=1.3)
    lapse_multiplier = models.FloatField(default=0.0)
    maximum_interval = models.PositiveIntegerField(default=36500)
    fuzz = models.BooleanField(default=True)

    class LeechAction(models.TextChoices):
        TAG = "tag", "Tag only"
        SUSPEND = "suspend", "Tag and suspend"

    leech_action = models.CharField(max_length=10, choices=LeechAction.choices, default=LeechAction.TAG)
    # FSRS parameters fitted on this deck's class (or owner) by optimize_fsrs;
    # empty means FSRS's defaults. Kept on the deck so answering reads them
    # with the card, without another query.
    fsrs_parameters = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeckQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["lesson", "position"]),
            models.Index(fields=["owner", "lesson"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_personal(self) -> bool:
        return self.lesson_id is None


class MediaBlob(models.Model):
    """One stored media file, named by the SHA-256 of its content: fifty cards
    showing one picture share one file. Cards embed it in their HTML (an
    imported Anki note keeps every image and sound where it was) and list it in
    `Card.media`, so a file is deleted only once no card uses it."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.CharField(max_length=200)  # name in default_storage
    kind = models.CharField(max_length=8)  # "image" or "audio"
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file


class ImportJob(models.Model):
    """A big package imported in the background (learning/import_jobs.py):
    the uploaded file waits in storage until the Celery task reads it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs")
    # Into an existing deck, or new decks (in `lesson`, or personal).
    deck = models.ForeignKey("Deck", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    skip_invalid = models.BooleanField(default=False)
    with_scheduling = models.BooleanField(default=False)
    filename = models.CharField(max_length=255)
    file = models.CharField(max_length=200)  # name in default_storage, removed when the job ends
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"


# Sent (no arguments beyond the sender) when cards are deleted by themselves
# (a card, a selection in the admin); a deck's deletion, whose cascade takes
# its cards, is told by the deck's own post_delete. Card has no per-row
# delete receiver on purpose: one would make Django load every card a deck's
# deletion cascades to, whole, and call it once per card (a 20,000-card deck
# took seconds).
cards_deleted = Signal()


class CardQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        """The selected cards and what hangs on them, one statement per table
        whatever their number: the rows pointing at a card go first, by
        subquery (media links and schedules deleted, reviews kept as history
        without their card), then the cards. Django's own delete loads every
        card's id and sends them back in lists; a 20,000-card deck took
        seconds of Python. A relation that protects its card falls back to it."""
        relations = [
            field
            for field in self.model._meta.get_fields(include_hidden=True)
            if field.auto_created and not field.concrete and (field.one_to_one or field.one_to_many)
        ]
        simple = (models.CASCADE, models.SET_NULL, models.DO_NOTHING)
        if self.query.is_sliced or self.query.combinator or any(r.on_delete not in simple for r in relations):
            with transaction.atomic(using=self.db):
                deleted = super().delete()
                cards_deleted.send(sender=self.model)
            return deleted
        counts: dict[str, int] = {}
        with transaction.atomic(using=self.db):
            ids = self.order_by().values("pk")
            query, params = ids.query.sql_with_params()
            if any(r.related_model._meta.db_table in query for r in relations):
                # The selection reads a table emptied below: it is read once, first.
                ids = self.model._base_manager.using(self.db).filter(pk__in=list(ids.values_list("pk", flat=True)))
                ids = ids.values("pk")
                query, params = ids.query.sql_with_params()
            for relation in relations:
                # (Django's own deletion, as its cascade from a card would run it:
                # one statement for rows nothing else hangs on.)
                manager = relation.related_model._base_manager.using(self.db)
                rows = manager.filter(**{f"{relation.field.name}__in": ids})
                if relation.on_delete is models.CASCADE:
                    for label, count in rows.delete()[1].items():
                        counts[label] = counts.get(label, 0) + count
                elif relation.on_delete is models.SET_NULL:
                    rows.update(**{relation.field.name: None})
            table, pk = self.model._meta.db_table, self.model._meta.pk.column
            with connections[self.db].cursor() as cursor:
                quote = connections[self.db].ops.quote_name
                cursor.execute(f"DELETE FROM {quote(table)} WHERE {quote(pk)} IN ({query})", params)  # noqa: S608 - names are ours
                counts[self.model._meta.label] = cursor.rowcount
            cards_deleted.send(sender=self.model)
        return sum(counts.values()), counts

    def visible_to(self, user: User) -> CardQuerySet:
        if not user.is_authenticated:
            return self.none()
        qs = self.select_related("deck__owner", "deck__lesson__course__classroom")
        if _is_admin(user):
            return qs
        return qs.filter(_deck_visibility(user, prefix="deck__"))

    def search(self, text: str) -> CardQuerySet:
        """Cards whose front or back contains `text` (case-insensitive)."""
        text = (text or "").strip()
        if not text:
            return self
        return self.filter(Q(front__icontains=text) | Q(back__icontains=text))

    def tagged(self, tag: str) -> CardQuerySet:
        """Cards carrying `tag` as a whole word of their space-separated tags."""
        tag = (tag or "").strip().lower()
        if not tag:
            return self
        # Anki's hierarchical tags: "animals" also finds "animals::pets".
        return self.filter(
            Q(tags=tag)
            | Q(tags__startswith=f"{tag} ")
            | Q(tags__endswith=f" {tag}")
            | Q(tags__contains=f" {tag} ")
            | Q(tags__startswith=f"{tag}::")
            | Q(tags__contains=f" {tag}::")
        )


class Card(models.Model):
    # No index of its own: the (deck, position) index below serves every
    # lookup by deck, and one index fewer is one less to fill per imported card.
    deck = models.ForeignKey(Deck, on_delete=models.CASCADE, related_name="cards", db_index=False)
    front = models.TextField(help_text="A small safe subset of HTML is kept; everything else is stripped.")
    back = models.TextField()
    image = models.FileField(upload_to=card_image_path, blank=True)
    audio = models.FileField(upload_to=card_audio_path, blank=True)
    # Media embedded in the text (imported packages); shared, content-addressed.
    media = models.ManyToManyField(MediaBlob, related_name="cards", blank=True)
    # Space-separated, lower-case tags ("cells mitosis"); see learning.services.
    tags = models.CharField(max_length=500, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CardQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["deck", "position"])]

    def __str__(self) -> str:
        return self.front[:60]

    def delete(self, using: str | None = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=using or router.db_for_write(type(self), instance=self)):
            deleted = super().delete(using=using, keep_parents=keep_parents)
            cards_deleted.send(sender=type(self))
        return deleted

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()


# --- Studying: per-student card state, the review log, study sessions -------------


# Sent with `rows` (a QuerySet of CardState, StudySession or Review) just
# before they are deleted by themselves (Undo, the admin, the weekly clean-up),
# while they still exist. These models have no per-row delete signal
# receivers on purpose: one would make Django load every row an account's or
# a card's deletion cascades to (`learning.progress.connect` says how those
# are covered).
study_rows_deleting = Signal()


class StudyRowQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db):
            study_rows_deleting.send(sender=self.model, rows=self)
            self._unlink()
            return super().delete()

    def _unlink(self) -> None:
        """Clear what points at these rows (the foreign keys to them are
        DO_NOTHING), in one UPDATE, before they go."""


class StudyRowModel(models.Model):
    class Meta:
        abstract = True

    def delete(self, using: str | None = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        deleted = type(self)._default_manager.using(using).filter(pk=self.pk).delete()
        self.pk = None
        return deleted


class CardStateQuerySet(StudyRowQuerySet):
    def for_student(self, user: User) -> CardStateQuerySet:
        return self.filter(student=user)

    def due_for(self, user: User, until: object) -> CardStateQuerySet:
        """This student's cards due by `until`, most overdue first: one scan of
        the (student, due_at) index (suspended leeches are left out)."""
        return self.filter(student=user, due_at__lte=until, suspended=False).order_by("due_at", "id")

    def leeches(self) -> CardStateQuerySet:
        return self.filter(lapses__gte=LEECH_LAPSES)


# A card failed this many times after it was first learnt is a leech: it needs
# rewriting or splitting rather than more drilling.
LEECH_LAPSES = 8
# Interval from which a card counts as "mastered" on progress pages.
MASTERED_INTERVAL = 21


class CardState(StudyRowModel):
    """One student's SM-2 schedule for one card; created at their first answer."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        LEARNING = "learning", "Learning"
        REVIEW = "review", "Review"
        RELEARNING = "relearning", "Relearning"

    # No single-column indexes: (student, card), (student, due_at, id) and
    # (card, lapses) lead with these columns already, and every answer writes
    # each index of the row.
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="card_states", db_index=False
    )
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="states", db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    # Index into the deck's (re)learning steps while status is learning/relearning.
    step = models.PositiveSmallIntegerField(default=0)
    repetitions = models.PositiveIntegerField(default=0)
    interval = models.PositiveIntegerField(default=0)  # days
    # A double, not a decimal: SM-2 is float arithmetic and a reloaded ease must
    # give exactly the interval the pure function gives.
    ease = models.FloatField(default=2.5)
    due_at = models.DateTimeField()
    lapses = models.PositiveIntegerField(default=0)
    reviews_count = models.PositiveIntegerField(default=0)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    # FSRS memory; None until an FSRS deck has scheduled the card.
    stability = models.FloatField(null=True, blank=True)
    difficulty = models.FloatField(null=True, blank=True)
    # A leech in a deck set to suspend them: left out of sessions until the
    # teacher (or the student) unsuspends it.
    suspended = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CardStateQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["student", "card"], name="unique_card_state")]
        indexes = [
            # "This student's due cards" is a range scan of this index.
            models.Index(fields=["student", "due_at", "id"], name="cardstate_student_due"),
            models.Index(fields=["card", "lapses"], name="cardstate_card_lapses"),
            # Leech lists (worst first) walk this small partial index and stop
            # after a page instead of sorting every schedule of the class.
            models.Index(
                F("lapses").desc(),
                "card",
                name="cardstate_leeches",
                condition=Q(lapses__gte=LEECH_LAPSES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · card {self.card_id} · {self.interval}d"

    @property
    def is_leech(self) -> bool:
        return self.lapses >= LEECH_LAPSES


class StudySessionQuerySet(StudyRowQuerySet):
    def _unlink(self) -> None:
        Review.objects.filter(session__in=self.values("pk")).update(session=None)

    def for_student(self, user: User) -> StudySessionQuerySet:
        return self.filter(student=user)


class StudySession(StudyRowModel):
    class Mode(models.TextChoices):
        LEARN = "learn", "Learn"
        REVIEW = "review", "Review"
        CRAM = "cram", "Cram"
        PRACTICE = "practice", "Practice"
        TEST = "test", "Test"

    class Scope(models.TextChoices):
        ALL = "all", "All my cards"
        DECK = "deck", "Deck"
        LESSON = "lesson", "Lesson"
        COURSE = "course", "Course"
        CLASSROOM = "classroom", "Class"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        ABANDONED = "abandoned", "Abandoned"

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_sessions")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    scope_type = models.CharField(max_length=10, choices=Scope.choices)
    scope_id = models.PositiveBigIntegerField(null=True, blank=True)
    scope_title = models.CharField(max_length=200, blank=True)
    # The class the scope belongs to (none for personal decks and "all"), so a
    # teacher's progress page finds its students' tests with one indexed filter.
    classroom = models.ForeignKey(
        Classroom, on_delete=models.SET_NULL, null=True, blank=True, related_name="study_sessions"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    shuffle = models.BooleanField(default=False)
    # The session's plan of card ids, head first (re-drills are appended); the
    # first `queue_head` of them are done. Answering the head only moves this
    # cursor, so an answer does not rewrite an array of thousands of ids; use
    # the `queue` property for what is still waiting.
    planned = models.JSONField(default=list, blank=True, db_column="queue")
    queue_head = models.PositiveIntegerField(default=0)
    # Card ids whose first answer in this session has been given (only that one
    # may change the schedule).
    answered_ids = models.JSONField(default=list, blank=True)
    # Card ids in (re)learning steps, shown again when their step is due.
    learning_ids = models.JSONField(default=list, blank=True)
    # The answer that Undo would take back, and the card's state and these
    # counters before it, so Undo puts both back exactly. One per session,
    # replaced by each answer and cleared once undone: kept here rather than
    # on every review row, where it would only take space.
    # DO_NOTHING (the constraint stays, checked at commit): Undo clears this
    # before it deletes the review, and otherwise reviews go only with their
    # student, sessions included. SET_NULL made Django load every review of
    # an account it deleted, one object each, just to null this column.
    undo_review = models.ForeignKey("Review", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+")
    undo_snapshot = models.JSONField(null=True, blank=True)
    cards_total = models.PositiveIntegerField(default=0)
    answers_count = models.PositiveIntegerField(default=0)
    correct_count = models.PositiveIntegerField(default=0)
    first_correct_count = models.PositiveIntegerField(default=0)
    redrill_count = models.PositiveIntegerField(default=0)
    score = models.FloatField(null=True, blank=True)  # test mode: percent correct
    duration_seconds = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = StudySessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["student", "status", "last_activity_at"], name="session_student_status"),
            models.Index(fields=["classroom", "mode", "status", "ended_at"], name="session_class_tests"),
        ]
        constraints = [
            # At most one active session per student, mode and scope, whatever
            # races the service loses (20 simultaneous starts once left two
            # learn sessions handing out the same new cards). scope_id is NULL
            # for "all", and NULLs never collide in a unique index: hence Coalesce.
            models.UniqueConstraint(
                "student",
                "mode",
                "scope_type",
                Coalesce("scope_id", Value(0)),
                condition=Q(status="active"),
                name="one_active_session_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} · {self.scope_title or self.scope_type} · {self.student}"

    @property
    def queue(self) -> list[int]:
        """Card ids still to show, head first."""
        return self.planned[self.queue_head :]

    @queue.setter
    def queue(self, ids: list[int]) -> None:
        self.planned = list(ids)
        self.queue_head = 0

    @property
    def cards_studied(self) -> int:
        return len(self.answered_ids)

    @property
    def accuracy(self) -> float | None:
        """Share of first answers that were right (quality >= 3, or correct typed)."""
        if not self.answered_ids:
            return None
        return self.first_correct_count / len(self.answered_ids)

    @property
    def changes_schedules(self) -> bool:
        return self.mode in (self.Mode.LEARN, self.Mode.REVIEW)


class ReviewQuerySet(StudyRowQuerySet):
    def _unlink(self) -> None:
        # Undo of an answer that is gone is impossible: forget it.
        StudySession.objects.filter(undo_review__in=self.values("pk")).update(undo_review=None, undo_snapshot=None)

    def for_student(self, user: User) -> ReviewQuerySet:
        return self.filter(student=user)


class Review(StudyRowModel):
    """Every answer ever given: the learning history. Never edited, except a
    test answer the student marks "I was right" (correct, quality and
    overridden_at; what was typed stays); the only deletion is a student's
    Undo of their last answer in a session."""

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    # SET_NULL: deleting a card must not erase the student's history.
    card = models.ForeignKey(Card, on_delete=models.SET_NULL, null=True, related_name="reviews")
    # DO_NOTHING (the constraint stays, checked at commit): a session is
    # deleted only with its student (and their reviews), or by the weekly
    # maintenance when it has no review. SET_NULL made deleting an account
    # rewrite each of its reviews before deleting them.
    session = models.ForeignKey(
        StudySession, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="reviews"
    )
    mode = models.CharField(max_length=10, choices=StudySession.Mode.choices)
    quality = models.PositiveSmallIntegerField()
    typed_answer = models.CharField(max_length=500, blank=True)
    correct = models.BooleanField()
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    reviewed_at = models.DateTimeField()
    status_before = models.CharField(max_length=10, choices=CardState.Status.choices)
    repetitions_before = models.PositiveIntegerField()
    interval_before = models.PositiveIntegerField()
    ease_before = models.FloatField()
    repetitions_after = models.PositiveIntegerField()
    interval_after = models.PositiveIntegerField()
    ease_after = models.FloatField()
    status_after = models.CharField(max_length=10, choices=CardState.Status.choices, blank=True, default="")
    step_after = models.PositiveSmallIntegerField(null=True, blank=True)
    due_after = models.DateTimeField(null=True, blank=True)
    stability_after = models.FloatField(null=True, blank=True)
    difficulty_after = models.FloatField(null=True, blank=True)
    changed_schedule = models.BooleanField()
    # Sent by the client so a retried answer is recorded once.
    idempotency_key = models.CharField(max_length=64, blank=True, default="")
    # Test mode: the typed answer was marked wrong and the student said "I was
    # right" (correct is then True); the teacher sees every override.
    overridden_at = models.DateTimeField(null=True, blank=True)
    # Test mode: marked right although not an exact match (a small typo).
    near_miss = models.BooleanField(default=False)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_review_idempotency_key",
            ),
        ]
        indexes = [
            # With the card in the index, "this student's latest answer / answers
            # this week on the class's cards" are index-only range scans.
            models.Index(fields=["student", "reviewed_at", "card"], name="review_student_time_card"),
            models.Index(fields=["card", "reviewed_at"], name="review_card_time"),
            # Per-card difficulty over the answers that counted: an index-only
            # scan instead of a pass over the wide review rows.
            models.Index(fields=["card", "quality"], name="review_card_quality", condition=Q(changed_schedule=True)),
            models.Index(fields=["session", "card"], name="review_session_card"),
        ]

    def __str__(self) -> str:
        return f"{self.student} · card {self.card_id} · q{self.quality}"


class FsrsFit(models.Model):
    """One run of the FSRS optimiser on a class's pooled reviews (or a
    personal-deck owner's): what it fitted, on how much, and how much better
    it predicts than the parameters before (log loss on the same reviews)."""

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, null=True, blank=True, related_name="fsrs_fits")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="fsrs_fits"
    )
    fitted_at = models.DateTimeField()
    review_count = models.PositiveIntegerField(default=0)
    parameters = models.JSONField(default=list, blank=True)
    # Empty when the fit was kept; otherwise why not (e.g. too few reviews).
    skipped = models.CharField(max_length=200, blank=True, default="")
    log_loss_before = models.FloatField(null=True, blank=True)
    log_loss_after = models.FloatField(null=True, blank=True)
    rmse_before = models.FloatField(null=True, blank=True)
    rmse_after = models.FloatField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    decks_updated = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-fitted_at", "-id"]
        indexes = [
            models.Index(fields=["classroom", "fitted_at"], name="fsrsfit_class_time"),
            models.Index(fields=["owner", "fitted_at"], name="fsrsfit_owner_time"),
        ]

    def __str__(self) -> str:
        return f"FSRS fit · {self.classroom or self.owner} · {self.fitted_at:%Y-%m-%d}"

    @property
    def improved(self) -> bool:
        return bool(
            not self.skipped
            and self.log_loss_before is not None
            and self.log_loss_after is not None
            and self.log_loss_after < self.log_loss_before
        )


class GraceWindow(models.Model):
    """Time the service itself lost (an outage or maintenance of studying,
    recorded by whoever runs the service through learning.grace): streaks and
    "days without a review" do not count the local days it covers."""

    key = models.CharField(max_length=80, unique=True)  # who recorded it: "ops:incident:12"
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["ends_at"], name="learning_grace_ends")]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="learning_grace_order")
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.starts_at:%Y-%m-%d %H:%M} – {self.ends_at:%H:%M}"
