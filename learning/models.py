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
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

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


class CardQuerySet(models.QuerySet):
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
        return self.filter(
            Q(tags=tag) | Q(tags__startswith=f"{tag} ") | Q(tags__endswith=f" {tag}") | Q(tags__contains=f" {tag} ")
        )


class Card(models.Model):
    deck = models.ForeignKey(Deck, on_delete=models.CASCADE, related_name="cards")
    front = models.TextField(help_text="A small safe subset of HTML is kept; everything else is stripped.")
    back = models.TextField()
    image = models.FileField(upload_to=card_image_path, blank=True)
    audio = models.FileField(upload_to=card_audio_path, blank=True)
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

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()
