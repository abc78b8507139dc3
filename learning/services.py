"""Writes to learning content. Views, the API, the admin actions and the demo
seeder all call these; none of them saves a content model by itself.

Callers load objects through `learning.access` first (that is where "may this
user do this?" is answered); services check what the data must satisfy and run
in a transaction so a refused request writes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html.entities import html5 as html5_entities
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.dispatch import Signal

from learning import schedulers
from learning.access import can_create_classroom
from learning.fsrs_history import memory_states_from_history
from learning.media import rename_for, validate_media
from learning.models import (
    JOIN_CODE_ALPHABET,
    JOIN_CODE_LENGTH,
    Card,
    CardState,
    Classroom,
    Course,
    Deck,
    Enrollment,
    FsrsFit,
    Lesson,
    MediaBlob,
    new_join_code,
)
from learning.sanitize import clean_card_html, has_text
from learning.schedulers.base import DESIRED_RETENTION_RANGE, format_steps, parse_steps
from lms import audit
from lms.errors import Conflict, ServiceError, Unprocessable
from lms.models import User
from lms.tracking import track

logger = logging.getLogger(__name__)

MAX_CARD_TEXT = 10_000
MAX_BULK_LINES = 1_000
MAX_TAG_LENGTH = 40
MAX_ID = 2**63 - 1  # larger ids cannot exist (and overflow SQLite's integers)


class UnknownJoinCode(ServiceError):
    status = 404
    code = "unknown_join_code"


class ClassArchived(Conflict):
    code = "class_archived"


# --- helpers -------------------------------------------------------------------


def _next_position(queryset: models.QuerySet) -> int:
    highest = queryset.aggregate(m=Max("position"))["m"]
    return 0 if highest is None else highest + 1


def _required(value: str, field_name: str, *, max_length: int = 200) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field_name: ["This field is required."]})
    if len(value) > max_length:
        raise ValidationError({field_name: [f"At most {max_length} characters."]})
    return value


def _delete_files_later(names: Iterable[str]) -> None:
    """Remove stored media once the rows pointing at it are really gone."""
    names = [n for n in names if n]
    if names:

        def remove() -> None:
            for name in names:
                default_storage.delete(name)

        transaction.on_commit(remove)


def _delete_with_shared_media(cards: models.QuerySet, delete: Callable[[], object]) -> None:
    """Run `delete` (which removes `cards`), then drop the shared media files
    no remaining card uses. Fifty cards may show one stored picture: deleting
    one deck must not take it from another deck."""
    blob_ids = list(MediaBlob.objects.filter(cards__in=cards.values("pk")).values_list("pk", flat=True).distinct())
    _delete_files_later(_media_of(cards))
    delete()
    if blob_ids:
        orphans = MediaBlob.objects.filter(pk__in=blob_ids, cards__isnull=True)
        _delete_files_later(list(orphans.values_list("file", flat=True)))
        orphans.delete()


def _media_of(cards: models.QuerySet) -> list[str]:
    rows = cards.exclude(image="", audio="").values_list("image", "audio")
    return [name for pair in rows for name in pair if name]


def normalize_tags(raw: str | Sequence[str] | None) -> str:
    """ "Cells, Mitosis cells" -> "cells mitosis": lower case, unique, in order."""
    if raw is None:
        return ""
    words = raw if not isinstance(raw, str) else re.split(r"[\s,]+", raw)
    seen: list[str] = []
    for word in words:
        tag = re.sub(r"[^\w:-]", "", str(word).strip().lower().lstrip("#"))[:MAX_TAG_LENGTH]
        if tag and tag not in seen:
            seen.append(tag)
    joined = " ".join(seen)
    if len(joined) > 500:
        raise ValidationError({"tags": ["Too many tags (at most 500 characters in all)."]})
    return joined


def clean_card_text(value: str, field_name: str) -> str:
    if value is not None and len(value) > MAX_CARD_TEXT:
        raise ValidationError({field_name: [f"At most {MAX_CARD_TEXT} characters."]})
    cleaned = clean_card_html(value or "")
    if "<img" not in cleaned and "<audio" not in cleaned and not has_text(cleaned):
        raise ValidationError({field_name: ["This side of the card needs some text."]})
    return cleaned


# --- classes and enrolment -------------------------------------------------------


@transaction.atomic
def classroom_create(*, user: User, name: str, description: str = "") -> Classroom:
    if not can_create_classroom(user):
        raise PermissionDenied("Only teachers can create classes.")
    classroom = Classroom(
        name=_required(name, "name"), description=(description or "").strip(), teacher=user, join_code=_free_code()
    )
    classroom.save()
    track("class_created", user=user, classroom_id=classroom.pk)
    return classroom


@transaction.atomic
def classroom_update(
    *,
    classroom: Classroom,
    name: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
    default_scheduler: str | None = None,
) -> Classroom:
    changed = []
    if default_scheduler:
        if default_scheduler not in dict(schedulers.CHOICES):
            raise ValidationError({"default_scheduler": [f"One of {', '.join(dict(schedulers.CHOICES))}."]})
        classroom.default_scheduler = default_scheduler
        changed.append("default_scheduler")
    if name is not None:
        classroom.name = _required(name, "name")
        changed.append("name")
    if description is not None:
        classroom.description = description.strip()
        changed.append("description")
    if archived is not None:
        classroom.archived = bool(archived)
        changed.append("archived")
    if changed:
        classroom.save(update_fields=[*changed, "updated_at"])
    return classroom


@transaction.atomic
def classroom_delete(*, classroom: Classroom) -> None:
    cards = Card.objects.filter(deck__lesson__course__classroom=classroom)
    # The cards first, by the statement per table of CardQuerySet.delete;
    # the cascade from the class then finds none to load.
    _delete_with_shared_media(cards, lambda: (cards.delete(), classroom.delete()))


FORMER_TEACHER_USERNAME = "former teacher"  # a space: no one can sign up with it


def former_teacher() -> User:
    """The placeholder owner of classes whose teacher's account was deleted."""
    user, created = User.objects.get_or_create(
        username=FORMER_TEACHER_USERNAME,
        defaults={"role": User.Role.TEACHER, "is_active": False, "first_name": "Former", "last_name": "teacher"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def classrooms_hand_over(*, teachers: Sequence[User]) -> int:
    """Before teachers' accounts go: archive their classes under the placeholder
    owner, with the class decks they own, so every student's cards, reviews and
    schedules stay. An admin can give a class to another teacher later (there is
    no "school" to pick one from automatically). Returns the classes moved."""
    pks = [t.pk for t in teachers if t.pk is not None and t.username != FORMER_TEACHER_USERNAME]
    if not pks or not (
        Classroom.objects.filter(teacher__in=pks).exists()
        or Deck.objects.filter(owner__in=pks, lesson__isnull=False).exists()
    ):
        return 0
    placeholder = former_teacher()
    moved = Classroom.objects.filter(teacher__in=pks).update(teacher=placeholder, archived=True)
    decks = Deck.objects.filter(owner__in=pks, lesson__isnull=False).update(owner=placeholder)
    for teacher in teachers:
        audit.record("user.classes_hand_over", target=teacher, to=placeholder.username, classes=moved, decks=decks)
    return moved


def normalize_join_code(raw: str) -> str:
    """People type codes in lower case, with spaces or dashes: forgive that."""
    return re.sub(r"[\s-]+", "", (raw or "")).upper()


def _free_code() -> str:
    for _ in range(20):
        code = new_join_code()
        if not Classroom.objects.filter(join_code=code).exists():
            return code
    raise Conflict("Could not find a free join code; try again.")  # 31^8 codes: practically never


@transaction.atomic
def classroom_join(*, user: User, join_code: str) -> tuple[Enrollment, bool]:
    """Enrol `user` in the class with this code. Joining twice is harmless and
    returns the existing enrolment with created=False."""
    code = normalize_join_code(join_code)
    if len(code) != JOIN_CODE_LENGTH or any(c not in JOIN_CODE_ALPHABET for c in code):
        raise UnknownJoinCode(
            f"“{join_code}” is not a class code: codes are {JOIN_CODE_LENGTH} letters and digits.",
            details={"join_code": ["Check the code with your teacher."]},
        )
    classroom = Classroom.objects.filter(join_code=code).select_related("teacher").first()
    if classroom is None:
        raise UnknownJoinCode(
            "No class has that code. Check it with your teacher.", details={"join_code": ["Unknown code."]}
        )
    if classroom.teacher_id == user.pk:
        raise ServiceError("You teach this class; you do not need to join it.", code="own_class")
    existing = Enrollment.objects.filter(classroom=classroom, student=user).first()
    if existing is not None:
        return existing, False
    if classroom.archived:
        raise ClassArchived(
            f"“{classroom.name}” is archived and no longer accepts students.",
            details={"join_code": ["This class is archived."]},
        )
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(classroom=classroom, student=user)
    except IntegrityError:
        # Two tabs joined at once: the other request already enrolled us.
        return Enrollment.objects.get(classroom=classroom, student=user), False
    track("class_joined", user=user, classroom_id=classroom.pk)
    return enrollment, True


@transaction.atomic
def classroom_regenerate_code(*, classroom: Classroom) -> str:
    """A new code; the old one (and invite links with it) stop working."""
    classroom.join_code = _free_code()
    classroom.save(update_fields=["join_code", "updated_at"])
    return classroom.join_code


@transaction.atomic
def enrollment_remove(*, classroom: Classroom, student_id: int) -> None:
    if not 1 <= student_id <= MAX_ID:
        raise ServiceError("That student is not in this class.", code="not_enrolled")
    deleted, _ = Enrollment.objects.filter(classroom=classroom, student_id=student_id).delete()
    if not deleted:
        raise ServiceError("That student is not in this class.", code="not_enrolled")


# --- courses and lessons ----------------------------------------------------------


@transaction.atomic
def course_create(*, classroom: Classroom, title: str, description: str = "") -> Course:
    course = Course(
        classroom=classroom,
        title=_required(title, "title"),
        description=(description or "").strip(),
        position=_next_position(classroom.courses.all()),
    )
    course.save()
    return course


@transaction.atomic
def course_update(*, course: Course, title: str | None = None, description: str | None = None) -> Course:
    changed = []
    if title is not None:
        course.title = _required(title, "title")
        changed.append("title")
    if description is not None:
        course.description = description.strip()
        changed.append("description")
    if changed:
        course.save(update_fields=[*changed, "updated_at"])
    return course


@transaction.atomic
def course_delete(*, course: Course) -> None:
    _delete_files_later(_media_of(Card.objects.filter(deck__lesson__course=course)))
    course.delete()


@transaction.atomic
def lesson_create(*, course: Course, title: str, body: str = "", published: bool = False) -> Lesson:
    lesson = Lesson(
        course=course,
        title=_required(title, "title"),
        body=body or "",
        published=bool(published),
        position=_next_position(course.lessons.all()),
    )
    lesson.save()
    return lesson


@transaction.atomic
def lesson_update(
    *, lesson: Lesson, title: str | None = None, body: str | None = None, published: bool | None = None
) -> Lesson:
    changed = []
    if title is not None:
        lesson.title = _required(title, "title")
        changed.append("title")
    if body is not None:
        lesson.body = body
        changed.append("body")
    if published is not None:
        lesson.published = bool(published)
        changed.append("published")
    if changed:
        lesson.save(update_fields=[*changed, "updated_at"])
    return lesson


@transaction.atomic
def lesson_delete(*, lesson: Lesson) -> None:
    _delete_files_later(_media_of(Card.objects.filter(deck__lesson=lesson)))
    lesson.delete()


# --- decks and cards ----------------------------------------------------------------


def _limits(new_cards_per_day: Any, reviews_per_day: Any) -> tuple[int, int]:
    try:
        new, reviews = int(new_cards_per_day), int(reviews_per_day)
    except (TypeError, ValueError):
        raise ValidationError({"new_cards_per_day": ["Daily limits must be whole numbers."]}) from None
    if not 0 <= new <= 1000:
        raise ValidationError({"new_cards_per_day": ["Between 0 and 1000."]})
    if not 0 <= reviews <= 10000:
        raise ValidationError({"reviews_per_day": ["Between 0 and 10000."]})
    return new, reviews


# Sent with `owner` when a personal deck is created without a scheduler. A
# receiver may answer a scheduler key (analytics answers for users in the
# "FSRS for new personal decks" rollout and its experiment); None leaves the
# default. A signal keeps learning free of analytics imports.
personal_scheduler_requested = Signal()


def default_scheduler_for(owner: User, classroom: Classroom | None) -> str:
    """The scheduler a new deck starts with: its class's default, or, for a
    personal deck, what a `personal_scheduler_requested` receiver chooses,
    else SM-2 with learning steps. The one place this is decided."""
    if classroom is not None:
        return classroom.default_scheduler
    for receiver, answer in personal_scheduler_requested.send_robust(sender=None, owner=owner):
        if isinstance(answer, Exception):
            logger.warning("scheduler chooser %r failed: %r", receiver, answer)
        elif answer in dict(schedulers.CHOICES):
            return answer
    return schedulers.DEFAULT


# Deck options the schedulers read, in form order.
SCHEDULING_FIELDS = (
    "scheduler",
    "desired_retention",
    "learning_steps",
    "relearning_steps",
    "graduating_interval",
    "easy_interval",
    "starting_ease",
    "hard_multiplier",
    "easy_bonus",
    "lapse_multiplier",
    "maximum_interval",
    "fuzz",
    "leech_action",
)
_NUMBER_RANGES: dict[str, tuple[type, float, float]] = {
    "desired_retention": (float, *DESIRED_RETENTION_RANGE),
    "graduating_interval": (int, 1, 36500),
    "easy_interval": (int, 1, 36500),
    "starting_ease": (float, 1.3, 5.0),
    "hard_multiplier": (float, 1.0, 3.0),
    "easy_bonus": (float, 1.0, 5.0),
    "lapse_multiplier": (float, 0.0, 1.0),
    "maximum_interval": (int, 1, 36500),
}


def clean_scheduling(values: dict[str, Any], *, current: Deck | None = None) -> dict[str, Any]:
    """Check deck scheduling options (None/absent: keep the current value).
    Raises ValidationError naming each bad field; returns the cleaned values."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name in SCHEDULING_FIELDS:
        value = values.get(name)
        if value is None or (value == "" and name not in ("learning_steps", "relearning_steps")):
            continue
        if name == "scheduler":
            if value not in dict(schedulers.CHOICES):
                errors[name] = [f"One of {', '.join(dict(schedulers.CHOICES))}."]
            else:
                cleaned[name] = value
        elif name == "leech_action":
            if value not in Deck.LeechAction.values:
                errors[name] = [f"One of {', '.join(Deck.LeechAction.values)}."]
            else:
                cleaned[name] = value
        elif name in ("learning_steps", "relearning_steps"):
            try:
                cleaned[name] = format_steps(parse_steps(str(value)))
            except ValueError as exc:
                errors[name] = [str(exc)]
        elif name == "fuzz":
            cleaned[name] = value in (True, "1", "on", "true", "True")
        else:
            kind, low, high = _NUMBER_RANGES[name]
            try:
                number = kind(value)
            except (TypeError, ValueError):
                errors[name] = ["Enter a number." if kind is float else "Enter a whole number."]
                continue
            if not low <= number <= high:
                errors[name] = [f"Between {low:g} and {high:g}."]
            else:
                cleaned[name] = number
    graduating = cleaned.get("graduating_interval", current.graduating_interval if current else 1)
    easy = cleaned.get("easy_interval", current.easy_interval if current else 4)
    if "easy_interval" not in errors and "graduating_interval" not in errors and easy < graduating:
        errors["easy_interval"] = ["The easy interval cannot be shorter than the graduating interval."]
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def deck_create(
    *,
    user: User,
    title: str,
    description: str = "",
    lesson: Lesson | None = None,
    new_cards_per_day: int = 20,
    reviews_per_day: int = 200,
    **scheduling: Any,
) -> Deck:
    """A deck in `lesson` (the caller checked the user may edit it) or, with no
    lesson, a personal deck of `user`. Scheduling options default to the
    class's default scheduler with Anki's settings."""
    new, reviews = _limits(new_cards_per_day, reviews_per_day)
    options = clean_scheduling(scheduling)
    classroom = lesson.course.classroom if lesson is not None else None
    if "scheduler" not in options:  # only ask the chooser (and expose the user) when it decides
        options["scheduler"] = default_scheduler_for(user, classroom)
    siblings = lesson.decks.all() if lesson is not None else Deck.objects.personal_for(user)
    deck = Deck(
        title=_required(title, "title"),
        description=(description or "").strip(),
        owner=user,
        lesson=lesson,
        new_cards_per_day=new,
        reviews_per_day=reviews,
        position=_next_position(siblings),
        **options,
    )
    deck.fsrs_parameters = latest_fsrs_parameters(deck)
    deck.save()
    track("deck_created", user=user, deck_id=deck.pk, lesson_id=deck.lesson_id, personal=lesson is None)
    return deck


def latest_fsrs_parameters(deck: Deck) -> list[float]:
    """The parameters last fitted for the deck's class (or its owner's
    personal decks); empty means FSRS's defaults."""
    fits = FsrsFit.objects.filter(skipped="")
    fits = (
        fits.filter(classroom_id=deck.lesson.course.classroom_id) if deck.lesson_id else fits.filter(owner=deck.owner)
    )
    fit = fits.order_by("-fitted_at", "-id").only("parameters").first()
    return list(fit.parameters) if fit else []


@transaction.atomic
def deck_update(
    *,
    deck: Deck,
    title: str | None = None,
    description: str | None = None,
    new_cards_per_day: int | None = None,
    reviews_per_day: int | None = None,
    **scheduling: Any,
) -> Deck:
    changed = []
    if title is not None:
        deck.title = _required(title, "title")
        changed.append("title")
    if description is not None:
        deck.description = description.strip()
        changed.append("description")
    if new_cards_per_day is not None or reviews_per_day is not None:
        deck.new_cards_per_day, deck.reviews_per_day = _limits(
            deck.new_cards_per_day if new_cards_per_day is None else new_cards_per_day,
            deck.reviews_per_day if reviews_per_day is None else reviews_per_day,
        )
        changed += ["new_cards_per_day", "reviews_per_day"]
    options = clean_scheduling(scheduling, current=deck)
    switched_to_fsrs = options.get("scheduler") == schedulers.FSRS and deck.scheduler != schedulers.FSRS
    for name, value in options.items():
        if getattr(deck, name) != value:
            setattr(deck, name, value)
            changed.append(name)
    if changed:
        deck.save(update_fields=[*changed, "updated_at"])
    if switched_to_fsrs:
        convert_states_to_fsrs(deck=deck)
    return deck


def card_unsuspend(*, card: Card) -> int:
    """Bring a suspended leech back into every student's sessions (the
    caller checked the user teaches the card's class). Its lapses and the
    `leech` tag stay: it is still a card that needs attention."""
    return CardState.objects.filter(card=card, suspended=True).update(suspended=False)


def convert_states_to_fsrs(*, deck: Deck) -> int:
    """Give every student's card of the deck an FSRS memory: replayed from
    their review log where there is one, from ease and interval otherwise
    (Anki's conversion). SM-2's fields stay, so switching back works."""
    states = list(
        CardState.objects.filter(card__deck=deck, stability__isnull=True).exclude(status=CardState.Status.NEW)
    )
    if not states:
        return 0
    memories = memory_states_from_history(states, parameters=deck.fsrs_parameters)
    for state in states:
        state.stability, state.difficulty = memories[state.pk]
    CardState.objects.bulk_update(states, ["stability", "difficulty"], batch_size=1000)
    return len(states)


@transaction.atomic
def deck_delete(*, deck: Deck) -> None:
    cards = Card.objects.filter(deck=deck)
    _delete_with_shared_media(cards, lambda: (cards.delete(), deck.delete()))


def _media(upload: UploadedFile | None, kind: str) -> UploadedFile | None:
    if upload is None:
        return None
    return rename_for(upload, validate_media(upload, kind=kind))


@transaction.atomic
def card_create(
    *,
    deck: Deck,
    front: str,
    back: str,
    tags: str | Sequence[str] | None = "",
    image: UploadedFile | None = None,
    audio: UploadedFile | None = None,
    user: User | None = None,
) -> Card:
    card = Card(
        deck=deck,
        front=clean_card_text(front, "front"),
        back=clean_card_text(back, "back"),
        tags=normalize_tags(tags),
        position=_next_position(deck.cards.all()),
    )
    # Validate both files before storing either, so a bad audio file does not
    # leave an orphaned image behind.
    image, audio = _media(image, "image"), _media(audio, "audio")
    if image is not None:
        card.image = image
    if audio is not None:
        card.audio = audio
    card.save()
    track("card_created", user=user, card_id=card.pk, deck_id=deck.pk)
    return card


_KEEP = object()


@transaction.atomic
def card_update(
    *,
    card: Card,
    front: str | None = None,
    back: str | None = None,
    tags: str | Sequence[str] | None = None,
    image: UploadedFile | None = None,
    audio: UploadedFile | None = None,
    clear_image: bool = False,
    clear_audio: bool = False,
) -> Card:
    changed = []
    if front is not None:
        card.front = clean_card_text(front, "front")
        changed.append("front")
    if back is not None:
        card.back = clean_card_text(back, "back")
        changed.append("back")
    if tags is not None:
        card.tags = normalize_tags(tags)
        changed.append("tags")
    image, audio = _media(image, "image"), _media(audio, "audio")
    old_files = []
    if image is not None or clear_image:
        old_files.append(card.image.name)
        card.image = image or ""
        changed.append("image")
    if audio is not None or clear_audio:
        old_files.append(card.audio.name)
        card.audio = audio or ""
        changed.append("audio")
    if changed:
        card.save(update_fields=[*changed, "updated_at"])
    _delete_files_later(old_files)
    return card


@transaction.atomic
def card_delete(*, card: Card) -> None:
    _delete_with_shared_media(Card.objects.filter(pk=card.pk), card.delete)


# --- ordering -----------------------------------------------------------------------


@transaction.atomic
def reorder(*, siblings: models.QuerySet, ordered_ids: Sequence[Any]) -> list[int]:
    """Give `siblings` (all children of one parent) the order of `ordered_ids`,
    which must name each of them exactly once."""
    try:
        ids = [int(i) for i in ordered_ids]
    except (TypeError, ValueError):
        raise ValidationError({"ids": ["A list of ids is expected."]}) from None
    rows = list(siblings.select_for_update().only("id", "position"))
    current = {row.pk: row for row in rows}
    if len(ids) != len(set(ids)) or set(ids) != set(current):
        raise ValidationError(
            {"ids": [f"Give every item of this list exactly once ({len(current)} ids, in the new order)."]}
        )
    for position, pk in enumerate(ids):
        current[pk].position = position
    siblings.model.objects.bulk_update(rows, ["position"])
    return ids


def siblings_of(obj: Course | Lesson | Deck | Card) -> models.QuerySet:
    if isinstance(obj, Course):
        return Course.objects.filter(classroom_id=obj.classroom_id)
    if isinstance(obj, Lesson):
        return Lesson.objects.filter(course_id=obj.course_id)
    if isinstance(obj, Deck):
        if obj.lesson_id is None:
            return Deck.objects.filter(owner_id=obj.owner_id, lesson__isnull=True)
        return Deck.objects.filter(lesson_id=obj.lesson_id)
    return Card.objects.filter(deck_id=obj.deck_id)


@transaction.atomic
def move(*, obj: Course | Lesson | Deck | Card, direction: str) -> None:
    """Swap `obj` with its neighbour ("up" or "down"); a no-op at either end."""
    if direction not in {"up", "down"}:
        raise ValidationError({"direction": ["Either “up” or “down”."]})
    siblings = siblings_of(obj)
    ids = list(siblings.order_by("position", "id").values_list("id", flat=True))
    index = ids.index(obj.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
        reorder(siblings=siblings, ordered_ids=ids)


# --- bulk add -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCard:
    line: int
    front: str
    back: str
    tags: str


@dataclass(frozen=True)
class BadLine:
    line: int
    text: str
    reason: str


@dataclass
class BulkPreview:
    cards: list[ParsedCard] = field(default_factory=list)
    errors: list[BadLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cards": [c.__dict__ for c in self.cards],
            "errors": [e.__dict__ for e in self.errors],
        }


# A `;` that closes an HTML character reference (`&amp;`, `&lt;`, `&#233;`,
# `&#x1F600;`) is part of the text, not a column separator. Named references
# count only when HTML5 defines them, so "R&D;research" still splits.
_REFERENCE_OR_SEMICOLON = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});|;")


def _split_on_semicolons(line: str) -> list[str]:
    parts, start = [], 0
    for match in _REFERENCE_OR_SEMICOLON.finditer(line):
        name = match.group(1)
        if name is not None and (name.startswith("#") or f"{name};" in html5_entities):
            continue  # a character reference: its `;` is text
        # An unknown `&name;` (e.g. "R&D;") ends at a real separator.
        parts.append(line[start : match.end() - 1])
        start = match.end()
    parts.append(line[start:])
    return parts


def _split_line(line: str) -> list[str] | None:
    """Columns of one pasted line: tabs first (they never occur in card text);
    otherwise semicolons outside HTML entities. None when there is no separator."""
    if "\t" in line:
        return line.split("\t")
    parts = _split_on_semicolons(line)
    return parts if len(parts) > 1 else None


def parse_bulk_cards(text: str) -> BulkPreview:
    """Read pasted lines `front<TAB>back[<TAB>tags]` (or with `;`). Blank lines
    and lines starting with `#` are skipped; every other line that cannot be
    read is reported with its number and why."""
    preview = BulkPreview()
    lines = (text or "").splitlines()
    if len(lines) > MAX_BULK_LINES:
        raise Unprocessable(
            f"At most {MAX_BULK_LINES} lines at a time; this has {len(lines)}.", details={"text": ["Too many lines."]}
        )
    for number, raw in enumerate(lines, start=1):
        line = raw.strip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = _split_line(line)
        if parts is None:
            preview.errors.append(BadLine(number, raw, "No tab or “;” between the front and the back."))
            continue
        if len(parts) > 3:
            preview.errors.append(BadLine(number, raw, "Too many columns: use front, back and optional tags."))
            continue
        front, back = parts[0].strip(), parts[1].strip()
        tags = parts[2].strip() if len(parts) == 3 else ""
        try:
            front = clean_card_text(front, "front")
            back = clean_card_text(back, "back")
            tags = normalize_tags(tags)
        except ValidationError as exc:
            reasons = [f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items()]
            preview.errors.append(BadLine(number, raw, "; ".join(reasons)))
            continue
        preview.cards.append(ParsedCard(number, front, back, tags))
    return preview


@transaction.atomic
def cards_bulk_add(*, deck: Deck, text: str, user: User | None = None) -> tuple[list[Card], BulkPreview]:
    """Create a card for every readable line, in one INSERT; lines that could
    not be read are returned in the preview for the caller to report. Nothing is
    written when no line is readable."""
    preview = parse_bulk_cards(text)
    if not preview.cards:
        raise Unprocessable(
            "No card could be read from that text: put a tab or “;” between front and back.",
            code="nothing_to_add",
            details={"errors": preview.as_dict()["errors"]},
        )
    start = _next_position(deck.cards.all())
    cards = Card.objects.bulk_create(
        [
            Card(deck=deck, front=p.front, back=p.back, tags=p.tags, position=start + i)
            for i, p in enumerate(preview.cards)
        ]
    )
    for card in cards:
        if card.pk is not None:  # SQLite < 3.35 and older backends do not return ids
            track("card_created", user=user, card_id=card.pk, deck_id=deck.pk, bulk=True)
    return cards, preview
