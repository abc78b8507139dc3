# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver

from learning import services
from learning.models import JOIN_CODE_ALPHABET, Card, Classroom, Course, Deck, Enrollment, Lesson
from lms.errors import ServiceError, Unprocessable
from lms.tracking import event_tracked
from tests.learning.content_world import World, world  # noqa: F401


@pytest.fixture
def events() -> list[tuple[str, dict]]:
    seen: list[tuple[str, dict]] = []

    @receiver(event_tracked, weak=False, dispatch_uid="content-test-events")
    def record(sender, name, user, session_key, properties, **kwargs):
        seen.append((name, properties))

    yield seen
    event_tracked.disconnect(dispatch_uid="content-test-events")


# --- classes and joining -------------------------------------------------------------


def test_teacher_creates_class_with_a_readable_unique_code(teacher, events):
    classroom = services.classroom_create(user=teacher, name="  Biology  ")
    assert classroom.name == "Biology"
    assert len(classroom.join_code) == 8
    assert set(classroom.join_code) <= set(JOIN_CODE_ALPHABET)
    assert not set(classroom.join_code) & set("01OIL")
    assert events == [("class_created", {"classroom_id": classroom.pk})]


def test_student_cannot_create_a_class(student):
    with pytest.raises(PermissionDenied):
        services.classroom_create(user=student, name="Mine")
    assert not Classroom.objects.exists()


def test_class_needs_a_name(teacher):
    with pytest.raises(ValidationError):
        services.classroom_create(user=teacher, name="   ")


def test_join_by_code_is_forgiving_about_case_and_spaces(teacher, outsider, events):
    classroom = services.classroom_create(user=teacher, name="Bio")
    code = classroom.join_code
    enrollment, created = services.classroom_join(user=outsider, join_code=f" {code[:4].lower()}-{code[4:]} ")
    assert created and enrollment.classroom == classroom
    assert ("class_joined", {"classroom_id": classroom.pk}) in events


def test_joining_twice_is_idempotent(teacher, outsider, events):
    classroom = services.classroom_create(user=teacher, name="Bio")
    services.classroom_join(user=outsider, join_code=classroom.join_code)
    _, created = services.classroom_join(user=outsider, join_code=classroom.join_code)
    assert not created
    assert Enrollment.objects.filter(student=outsider).count() == 1
    assert [name for name, _ in events].count("class_joined") == 1


@pytest.mark.parametrize("code", ["", "ABC", "ZZZZZZZZ", "0O1IL000", "ABCDEFGH!"])
def test_unknown_code_is_a_clear_404(teacher, outsider, code):
    services.classroom_create(user=teacher, name="Bio")
    with pytest.raises(services.UnknownJoinCode) as exc:
        services.classroom_join(user=outsider, join_code=code)
    assert exc.value.status == 404
    assert "code" in exc.value.message.lower()
    assert not Enrollment.objects.exists()


def test_archived_class_accepts_no_joins(teacher, outsider):
    classroom = services.classroom_create(user=teacher, name="Old")
    services.classroom_update(classroom=classroom, archived=True)
    with pytest.raises(services.ClassArchived) as exc:
        services.classroom_join(user=outsider, join_code=classroom.join_code)
    assert exc.value.status == 409
    assert "archived" in exc.value.message
    assert not Enrollment.objects.exists()


def test_teacher_cannot_join_their_own_class(teacher):
    classroom = services.classroom_create(user=teacher, name="Bio")
    with pytest.raises(ServiceError):
        services.classroom_join(user=teacher, join_code=classroom.join_code)


def test_regenerated_code_replaces_the_old_one(teacher, outsider):
    classroom = services.classroom_create(user=teacher, name="Bio")
    old = classroom.join_code
    new = services.classroom_regenerate_code(classroom=classroom)
    assert new != old and Classroom.objects.get(pk=classroom.pk).join_code == new
    with pytest.raises(services.UnknownJoinCode):
        services.classroom_join(user=outsider, join_code=old)


def test_enrollment_remove(world, student):
    services.enrollment_remove(classroom=world.classroom, student_id=student.pk)
    assert not Enrollment.objects.filter(student=student).exists()
    with pytest.raises(ServiceError):
        services.enrollment_remove(classroom=world.classroom, student_id=student.pk)


# --- hierarchy ---------------------------------------------------------------------------


def test_children_are_appended_at_the_end(world, teacher, events):
    course = services.course_create(classroom=world.classroom, title="Genetics")
    assert course.position == 1
    lesson = services.lesson_create(course=course, title="DNA", published=True)
    deck = services.deck_create(user=teacher, lesson=lesson, title="Bases")
    first = services.card_create(deck=deck, front="A", back="T", user=teacher)
    second = services.card_create(deck=deck, front="G", back="C", user=teacher)
    assert (first.position, second.position) == (0, 1)
    names = [name for name, _ in events]
    assert names == ["deck_created", "card_created", "card_created"]
    assert events[0][1]["deck_id"] == deck.pk
    assert events[1][1] == {"card_id": first.pk, "deck_id": deck.pk}


def test_personal_deck_belongs_to_its_creator(student):
    deck = services.deck_create(user=student, title="Mine")
    assert deck.is_personal and deck.owner == student


@pytest.mark.parametrize(("new", "reviews"), [(-1, 10), (10, -5), ("many", 10), (5000, 10)])
def test_deck_limits_are_checked(student, new, reviews):
    with pytest.raises(ValidationError):
        services.deck_create(user=student, title="D", new_cards_per_day=new, reviews_per_day=reviews)
    assert not Deck.objects.exists()


def test_card_text_is_sanitized_on_save(world):
    card = services.card_create(
        deck=world.deck,
        front='<b>ok</b><script>alert(1)</script><img src=x onerror="alert(2)">',
        back='<a href="javascript:alert(3)">x</a> <a href="https://example.org">ok</a>',
    )
    assert card.front == "<b>ok</b>"
    assert "javascript" not in card.back and 'href="https://example.org"' in card.back


def test_card_with_nothing_left_after_sanitizing_is_refused(world):
    before = Card.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.card_create(deck=world.deck, front="<script>x</script>", back="fine")
    assert "front" in exc.value.message_dict
    assert Card.objects.count() == before


def test_tags_are_normalized():
    assert services.normalize_tags("Cells, #Mitosis cells  DNA!") == "cells mitosis dna"
    assert services.normalize_tags(["A", "b", "a"]) == "a b"


def test_deleting_a_class_removes_everything_beneath(world):
    services.classroom_delete(classroom=world.classroom)
    assert not Course.objects.filter(pk=world.course.pk).exists()
    assert not Lesson.objects.filter(course_id=world.course.pk).exists()
    assert not Card.objects.filter(pk=world.card.pk).exists()
    assert Deck.objects.filter(pk=world.personal.pk).exists()


def test_deleting_a_card_removes_its_file(world, django_capture_on_commit_callbacks):
    name = world.card.image.name
    storage = world.card.image.storage
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        services.card_delete(card=world.card)
    assert not storage.exists(name)


# --- ordering --------------------------------------------------------------------------


def test_reorder_sets_positions(world):
    ids = list(world.deck.cards.order_by("position").values_list("id", flat=True))
    services.reorder(siblings=world.deck.cards.all(), ordered_ids=list(reversed(ids)))
    assert list(world.deck.cards.order_by("position").values_list("id", flat=True)) == list(reversed(ids))


@pytest.mark.parametrize("bad", [[], ["x"], "dup", "foreign"])
def test_reorder_needs_every_sibling_exactly_once(world, bad):
    ids = list(world.deck.cards.values_list("id", flat=True))
    if bad == "dup":
        bad = [ids[0], ids[0]]
    elif bad == "foreign":
        bad = [ids[0], world.draft_card.pk]
    before = list(world.deck.cards.values_list("id", "position"))
    with pytest.raises(ValidationError):
        services.reorder(siblings=world.deck.cards.all(), ordered_ids=bad)
    assert list(world.deck.cards.values_list("id", "position")) == before


def test_move_swaps_with_the_neighbour_and_stops_at_the_ends(world):
    second = services.course_create(classroom=world.classroom, title="Second")
    services.move(obj=second, direction="up")
    assert list(world.classroom.courses.values_list("title", flat=True)) == ["Second", "Cells"]
    services.move(obj=second, direction="up")  # already first: nothing happens
    assert list(world.classroom.courses.values_list("title", flat=True)) == ["Second", "Cells"]
    with pytest.raises(ValidationError):
        services.move(obj=second, direction="sideways")


# --- bulk add --------------------------------------------------------------------------


BULK = "\n".join(
    [
        "# a comment",
        "Nucleus\tHolds DNA\tcells",
        "Ribosome;Makes protein",
        "",
        "no separator here",
        ";missing front",
        "a;b;c;d",
        "<script>x</script>;back",
        "Golgi;<b>Packages</b> proteins;Cells organelles",
    ]
)


def test_parse_reports_unreadable_lines_with_numbers_and_reasons():
    preview = services.parse_bulk_cards(BULK)
    assert [(c.line, c.front, c.back, c.tags) for c in preview.cards] == [
        (2, "Nucleus", "Holds DNA", "cells"),
        (3, "Ribosome", "Makes protein", ""),
        (9, "Golgi", "<b>Packages</b> proteins", "cells organelles"),
    ]
    assert [e.line for e in preview.errors] == [5, 6, 7, 8]
    assert "tab" in preview.errors[0].reason
    assert "front" in preview.errors[1].reason
    assert "columns" in preview.errors[2].reason


def test_bulk_add_creates_readable_lines_in_one_go(world, django_assert_max_num_queries, events):
    before = world.deck.cards.count()
    with django_assert_max_num_queries(4):  # savepoint, max(position), INSERT, release
        cards, preview = services.cards_bulk_add(deck=world.deck, text=BULK)
    assert len(cards) == 3 and len(preview.errors) == 4
    assert world.deck.cards.count() == before + 3
    positions = list(world.deck.cards.order_by("position").values_list("position", flat=True))
    assert positions == sorted(set(positions))
    assert [n for n, _ in events].count("card_created") == 3


def test_bulk_add_with_nothing_readable_writes_nothing(world):
    before = Card.objects.count()
    with pytest.raises(Unprocessable) as exc:
        services.cards_bulk_add(deck=world.deck, text="one\ntwo")
    assert exc.value.status == 422
    assert len(exc.value.details["errors"]) == 2
    assert Card.objects.count() == before


def test_bulk_add_refuses_too_many_lines(world):
    with pytest.raises(Unprocessable):
        services.parse_bulk_cards("a;b\n" * (services.MAX_BULK_LINES + 1))


@pytest.mark.parametrize(
    ("line", "front", "back", "tags"),
    [
        ("Salt &amp; pepper;Condiments", "Salt &amp; pepper", "Condiments", ""),
        ("x &lt; y;x is less than y;maths", "x &lt; y", "x is less than y", "maths"),
        ("Caf&#233;;A coffee shop", "Café", "A coffee shop", ""),
        ("Caf&#xE9;;coffee &amp; cake", "Café", "coffee &amp; cake", ""),
        ("R&D;Research and development", "R&amp;D", "Research and development", ""),
        ("A &amp; B\tC;D", "A &amp; B", "C;D", ""),
    ],
)
def test_semicolon_split_keeps_html_entities_whole(line, front, back, tags):
    preview = services.parse_bulk_cards(line)
    assert preview.errors == []
    assert [(c.front, c.back, c.tags) for c in preview.cards] == [(front, back, tags)]


def test_a_lone_entity_is_not_a_separator():
    preview = services.parse_bulk_cards("Fish &amp; chips")
    assert preview.cards == []
    assert [e.line for e in preview.errors] == [1]
