"""HTML pages for classes, courses, lessons, decks and cards.

Each view loads its object through `learning.access` (404 when hidden, 403 when
visible but not editable), calls one service to act and redirects; failures
come back into the form with the service's message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from learning import access, services, study
from learning.forms import (
    BulkAddForm,
    CardEditForm,
    CardForm,
    CardPreviewForm,
    ClassroomEditForm,
    ClassroomForm,
    CourseForm,
    DeckForm,
    JoinForm,
    LessonForm,
)
from learning.media import content_type_for
from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from learning.sanitize import clean_card_html
from lms.errors import ServiceError
from lms.redirects import on_this_site

CARDS_PER_PAGE = 50


def _run(form: Any, action: Callable[[], Any]) -> tuple[Any, int]:
    """Call a service; on failure put its message on the form and return the
    HTTP status the page should carry (the object is None then)."""
    try:
        return action(), 200
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
        return None, 400
    except ServiceError as exc:
        form.add_error(None, exc.message)
        return None, exc.status


def _form_page(
    request: HttpRequest,
    form: Any,
    *,
    title: str,
    crumbs: list,
    status: int = 200,
    template: str = "learning/form.html",
    **extra: Any,
) -> HttpResponse:
    if request.method == "POST" and status == 200:
        status = 400  # the form came back with errors
    return render(request, template, {"form": form, "title": title, "crumbs": crumbs, **extra}, status=status)


def _crumbs_for(obj: Classroom | Course | Lesson | Deck | None) -> list[tuple[str, str]]:
    """Breadcrumbs from "Classes" down to `obj` (its parents are select_related)."""
    crumbs = [("Classes", reverse("learning:classroom_list"))]
    if isinstance(obj, Deck):
        if obj.lesson_id is None:
            return [
                ("My decks", reverse("learning:deck_list")),
                (obj.title, reverse("learning:deck_detail", args=[obj.pk])),
            ]
        return [*_crumbs_for(obj.lesson), (obj.title, reverse("learning:deck_detail", args=[obj.pk]))]
    if isinstance(obj, Lesson):
        return [*_crumbs_for(obj.course), (obj.title, reverse("learning:lesson_detail", args=[obj.pk]))]
    if isinstance(obj, Course):
        return [*_crumbs_for(obj.classroom), (obj.title, reverse("learning:course_detail", args=[obj.pk]))]
    if isinstance(obj, Classroom):
        crumbs.append((obj.name, reverse("learning:classroom_detail", args=[obj.pk])))
    return crumbs


# --- classes -------------------------------------------------------------------


@login_required
def classroom_list(request: HttpRequest) -> HttpResponse:
    """My classes: the ones I teach and the ones I am in (all, for admins)."""
    user = request.user
    visible = Classroom.objects.visible_to(user).with_counts()
    if access.is_admin(user):
        taught, joined, others = (
            list(visible.filter(teacher=user)),
            [],
            list(visible.exclude(teacher=user)),
        )
    else:
        taught = list(visible.filter(teacher=user)) if access.can_create_classroom(user) else []
        joined = list(
            Classroom.objects.filter(enrollments__student=user).with_counts().order_by("archived", "name", "id")
        )
        others = []
    return render(
        request,
        "learning/classroom_list.html",
        {
            "taught": taught,
            "joined": joined,
            "others": others,
            "can_create": access.can_create_classroom(user),
            "join_form": JoinForm(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def classroom_create(request: HttpRequest) -> HttpResponse:
    if not access.can_create_classroom(request.user):
        raise PermissionDenied("Only teachers can create classes.")
    form = ClassroomForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        classroom, status = _run(form, lambda: services.classroom_create(user=request.user, **form.cleaned_data))
        if classroom:
            messages.success(request, f"Class “{classroom.name}” created. Share its code {classroom.join_code}.")
            return redirect("learning:classroom_detail", classroom.pk)
    return _form_page(request, form, title="New class", crumbs=_crumbs_for(None), status=status, submit="Create class")


@login_required
def classroom_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The class page: course/lesson tree for everyone who may see it; roster,
    code and editing for its teacher."""
    classroom = access.get_classroom_for(request.user, pk)
    can_edit = access.can_edit_classroom(request.user, classroom)
    lessons = Lesson.objects.with_deck_count().order_by("position", "id")
    if not can_edit:
        lessons = lessons.filter(published=True)
    courses = list(classroom.courses.order_by("position", "id").prefetch_related(Prefetch("lessons", queryset=lessons)))
    roster = []
    stats = {}
    first_steps = None
    study_counts = None
    if can_edit:
        roster = list(classroom.enrollments.select_related("student").order_by("student__username"))
        stats = Card.objects.filter(deck__lesson__course__classroom=classroom).aggregate(
            cards=Count("pk"), decks=Count("deck", distinct=True)
        )
        if not stats["cards"] or not roster:
            first_steps = _first_steps(classroom, courses, stats, roster)
    else:
        study_counts = _study_counts(request.user, classroom)
    return render(
        request,
        "learning/classroom_detail.html",
        {
            "classroom": classroom,
            "courses": courses,
            "lesson_total": sum(len(c.lessons.all()) for c in courses),
            "roster": roster,
            "stats": stats,
            "can_edit": can_edit,
            # Whoever sees a class without teaching it is enrolled in it.
            "is_student": not can_edit,
            "invite_url": request.build_absolute_uri(reverse("learning:join_code", args=[classroom.join_code])),
            "crumbs": _crumbs_for(None),
            "first_steps": first_steps,
            "study_counts": study_counts,
        },
    )


def _study_counts(user: Any, classroom: Classroom) -> dict[str, int]:
    """What "Study this class" would give right now: the very queues a session
    gets (daily limits included), so the button never leads to "nothing to study"."""
    now = timezone.now()
    scope = study.Scope(
        study.ScopeType.CLASSROOM,
        classroom.pk,
        classroom.name,
        classroom,
        Card.objects.visible_to(user).order_by().filter(deck__lesson__course__classroom=classroom),
    )
    due = len(study.review_queue(user, scope, now))
    new = len(study.learn_queue(user, scope, now))
    return {"due": due, "new": new, "mode": "review" if due else "learn"}


def _first_steps(classroom: Classroom, courses: list[Course], stats: dict, roster: list) -> list[dict]:
    """A new class's set-up, step by step, each with the link that does it."""
    course = courses[0] if courses else None
    lessons = [lesson for c in courses for lesson in c.lessons.all()]
    lesson = lessons[0] if lessons else None
    deck = None
    if stats.get("decks"):
        deck = Deck.objects.filter(lesson__course__classroom=classroom).order_by("lesson__position", "position").first()
    published = any(lesson.published for lesson in lessons)
    return [
        {
            "title": "Add a course",
            "help": "A course groups lessons (a term, a topic).",
            "done": course is not None,
            "url": reverse("learning:course_create", args=[classroom.pk]),
        },
        {
            "title": "Add a lesson",
            "help": "A lesson holds decks and a page of notes.",
            "done": lesson is not None,
            "url": reverse("learning:lesson_create", args=[course.pk]) if course else "",
        },
        {
            "title": "Add a deck, or import one",
            "help": "Anki (.apkg), CSV or JSON.",
            "done": deck is not None,
            "url": reverse("learning:lesson_deck_create", args=[lesson.pk]) if lesson else "",
            "alt_url": reverse("learning:lesson_deck_import", args=[lesson.pk]) if lesson else "",
            "alt": "Import a deck",
        },
        {
            "title": "Add cards",
            "help": "One at a time, or many at once.",
            "done": bool(stats.get("cards")),
            "url": reverse("learning:card_create", args=[deck.pk]) if deck else "",
            "alt_url": reverse("learning:cards_bulk_add", args=[deck.pk]) if deck else "",
            "alt": "Add many",
        },
        {
            "title": "Publish the lesson",
            "help": "Students see only published lessons.",
            "done": published,
            "url": reverse("learning:lesson_edit", args=[lesson.pk]) if lesson else "",
        },
        {
            "title": "Invite students",
            "help": "Share the class code or the invite link (on the right).",
            "done": bool(roster),
            "url": "#code-h",
        },
    ]


@login_required
@require_http_methods(["GET", "POST"])
def classroom_edit(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = access.get_classroom_for(request.user, pk, write=True)
    initial = {
        "name": classroom.name,
        "description": classroom.description,
        "archived": classroom.archived,
        "default_scheduler": classroom.default_scheduler,
    }
    form = ClassroomEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _run(form, lambda: services.classroom_update(classroom=classroom, **form.cleaned_data))
        if done:
            messages.success(request, "Class saved.")
            return redirect("learning:classroom_detail", classroom.pk)
    return _form_page(
        request, form, title=f"Edit {classroom.name}", crumbs=_crumbs_for(classroom), status=status, submit="Save"
    )


def _confirm_delete(
    request: HttpRequest, obj: Any, *, kind: str, children: list[tuple[int, str]], crumbs: list, cancel: str
) -> HttpResponse:
    return render(
        request,
        "learning/confirm_delete.html",
        {
            "object": obj,
            "kind": kind,
            "children": [(n, label) for n, label in children if n],
            "crumbs": crumbs,
            "cancel_url": cancel,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def classroom_delete(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = access.get_classroom_for(request.user, pk, write=True)
    if request.method == "POST":
        name = classroom.name
        services.classroom_delete(classroom=classroom)
        messages.success(request, f"Class “{name}” deleted.")
        return redirect("learning:classroom_list")
    counts = Classroom.objects.filter(pk=classroom.pk).aggregate(
        n_courses=Count("courses", distinct=True),
        n_lessons=Count("courses__lessons", distinct=True),
        n_cards=Count("courses__lessons__decks__cards", distinct=True),
        n_students=Count("enrollments", distinct=True),
    )
    children = [
        (counts["n_courses"], "courses"),
        (counts["n_lessons"], "lessons"),
        (counts["n_cards"], "cards"),
        (counts["n_students"], "enrolments"),
    ]
    return _confirm_delete(
        request,
        classroom,
        kind="class",
        children=children,
        crumbs=_crumbs_for(classroom),
        cancel=reverse("learning:classroom_detail", args=[classroom.pk]),
    )


@login_required
@require_POST
def classroom_regenerate_code(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = access.get_classroom_for(request.user, pk, write=True)
    code = services.classroom_regenerate_code(classroom=classroom)
    messages.success(request, f"New class code: {code}. The old code and invite link no longer work.")
    return redirect("learning:classroom_detail", classroom.pk)


@login_required
@require_POST
def enrollment_remove(request: HttpRequest, pk: int, student_id: int) -> HttpResponse:
    classroom = access.get_classroom_for(request.user, pk, write=True)
    if student_id > services.MAX_ID:
        raise Http404("That student is not in this class.")
    enrollment = Enrollment.objects.filter(classroom=classroom, student_id=student_id).select_related("student").first()
    if enrollment is None:
        raise Http404("That student is not in this class.")
    services.enrollment_remove(classroom=classroom, student_id=student_id)
    messages.success(request, f"{enrollment.student.display_name} was removed from the class.")
    return redirect("learning:classroom_detail", classroom.pk)


# --- joining -------------------------------------------------------------------------


def _join(request: HttpRequest, form: JoinForm, code: str) -> tuple[HttpResponse | None, int]:
    result, status = _run(form, lambda: services.classroom_join(user=request.user, join_code=code))
    if result is None:
        return None, status
    enrollment, created = result
    if created:
        messages.success(request, f"Welcome to “{enrollment.classroom.name}”!")
    else:
        messages.info(request, f"You are already in “{enrollment.classroom.name}”.")
    return redirect("learning:classroom_detail", enrollment.classroom_id), 200


@login_required
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    """Join a class by typing its code."""
    form = JoinForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        response, status = _join(request, form, form.cleaned_data["join_code"])
        if response:
            return response
    return render(
        request, "learning/join.html", {"form": form}, status=400 if status == 200 and form.errors else status
    )


@login_required
@require_http_methods(["GET", "POST"])
def join_code(request: HttpRequest, code: str) -> HttpResponse:
    """An invite link: shows the class and a Join button (a GET never enrols, so
    link previews and prefetchers cannot join anyone)."""
    # The code comes from the link, not from the posted form; binding and
    # cleaning it gives the form the cleaned_data a refused join writes its
    # message into (the code may have been renewed since the page was shown).
    form = JoinForm({"join_code": code[:32]})
    form.is_valid()
    normalized = services.normalize_join_code(code)
    classroom = Classroom.objects.filter(join_code=normalized).select_related("teacher").first()
    status = 200 if classroom else 404
    if request.method == "POST":
        response, status = _join(request, form, code)
        if response:
            return response
    already = bool(classroom) and classroom.enrollments.filter(student=request.user).exists()
    return render(
        request,
        "learning/join_confirm.html",
        {"form": form, "classroom": classroom, "code": normalized, "already": already},
        status=status,
    )


# --- courses --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def course_create(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = access.get_classroom_for(request.user, pk, write=True)
    form = CourseForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        course, status = _run(form, lambda: services.course_create(classroom=classroom, **form.cleaned_data))
        if course:
            messages.success(request, f"Course “{course.title}” added.")
            return redirect("learning:course_detail", course.pk)
    return _form_page(
        request,
        form,
        title=f"New course in {classroom.name}",
        crumbs=_crumbs_for(classroom),
        status=status,
        submit="Add course",
    )


@login_required
def course_detail(request: HttpRequest, pk: int) -> HttpResponse:
    course = access.get_course_for(request.user, pk)
    can_edit = access.can_edit_classroom(request.user, course.classroom)
    lessons = course.lessons.with_deck_count().order_by("position", "id")
    if not can_edit:
        lessons = lessons.filter(published=True)
    return render(
        request,
        "learning/course_detail.html",
        {"course": course, "lessons": list(lessons), "can_edit": can_edit, "crumbs": _crumbs_for(course.classroom)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def course_edit(request: HttpRequest, pk: int) -> HttpResponse:
    course = access.get_course_for(request.user, pk, write=True)
    form = CourseForm(request.POST or None, initial={"title": course.title, "description": course.description})
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _run(form, lambda: services.course_update(course=course, **form.cleaned_data))
        if done:
            messages.success(request, "Course saved.")
            return redirect("learning:course_detail", course.pk)
    return _form_page(
        request, form, title=f"Edit {course.title}", crumbs=_crumbs_for(course), status=status, submit="Save"
    )


@login_required
@require_http_methods(["GET", "POST"])
def course_delete(request: HttpRequest, pk: int) -> HttpResponse:
    course = access.get_course_for(request.user, pk, write=True)
    if request.method == "POST":
        services.course_delete(course=course)
        messages.success(request, f"Course “{course.title}” deleted.")
        return redirect("learning:classroom_detail", course.classroom_id)
    counts = Course.objects.filter(pk=course.pk).aggregate(
        n_lessons=Count("lessons", distinct=True),
        n_decks=Count("lessons__decks", distinct=True),
        n_cards=Count("lessons__decks__cards", distinct=True),
    )
    return _confirm_delete(
        request,
        course,
        kind="course",
        children=[(counts["n_lessons"], "lessons"), (counts["n_decks"], "decks"), (counts["n_cards"], "cards")],
        crumbs=_crumbs_for(course),
        cancel=reverse("learning:course_detail", args=[course.pk]),
    )


# --- lessons ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def lesson_create(request: HttpRequest, pk: int) -> HttpResponse:
    course = access.get_course_for(request.user, pk, write=True)
    form = LessonForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        lesson, status = _run(form, lambda: services.lesson_create(course=course, **form.cleaned_data))
        if lesson:
            messages.success(request, f"Lesson “{lesson.title}” added.")
            return redirect("learning:lesson_detail", lesson.pk)
    return _form_page(
        request,
        form,
        title=f"New lesson in {course.title}",
        crumbs=_crumbs_for(course),
        status=status,
        submit="Add lesson",
    )


@login_required
def lesson_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lesson = access.get_lesson_for(request.user, pk)
    can_edit = access.can_edit_classroom(request.user, lesson.course.classroom)
    decks = list(lesson.decks.with_card_count().order_by("position", "id"))
    return render(
        request,
        "learning/lesson_detail.html",
        {"lesson": lesson, "decks": decks, "can_edit": can_edit, "crumbs": _crumbs_for(lesson.course)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def lesson_edit(request: HttpRequest, pk: int) -> HttpResponse:
    lesson = access.get_lesson_for(request.user, pk, write=True)
    initial = {"title": lesson.title, "body": lesson.body, "published": lesson.published}
    form = LessonForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _run(form, lambda: services.lesson_update(lesson=lesson, **form.cleaned_data))
        if done:
            messages.success(request, "Lesson saved.")
            return redirect("learning:lesson_detail", lesson.pk)
    return _form_page(
        request, form, title=f"Edit {lesson.title}", crumbs=_crumbs_for(lesson), status=status, submit="Save"
    )


@login_required
@require_POST
def lesson_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """One click from a draft notice or badge: students see the lesson and its decks from now on."""
    lesson = access.get_lesson_for(request.user, pk, write=True)
    services.lesson_update(lesson=lesson, published=True)
    messages.success(request, f"“{lesson.title}” is published: its students can see it and its decks.")
    return redirect(_safe_next(request) or reverse("learning:lesson_detail", args=[lesson.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def lesson_delete(request: HttpRequest, pk: int) -> HttpResponse:
    lesson = access.get_lesson_for(request.user, pk, write=True)
    if request.method == "POST":
        services.lesson_delete(lesson=lesson)
        messages.success(request, f"Lesson “{lesson.title}” deleted.")
        return redirect("learning:course_detail", lesson.course_id)
    counts = Lesson.objects.filter(pk=lesson.pk).aggregate(
        n_decks=Count("decks", distinct=True), n_cards=Count("decks__cards", distinct=True)
    )
    return _confirm_delete(
        request,
        lesson,
        kind="lesson",
        children=[(counts["n_decks"], "decks"), (counts["n_cards"], "cards")],
        crumbs=_crumbs_for(lesson),
        cancel=reverse("learning:lesson_detail", args=[lesson.pk]),
    )


# --- decks -------------------------------------------------------------------------------


@login_required
def deck_list(request: HttpRequest) -> HttpResponse:
    """My personal decks (the decks of my classes are reached through the classes)."""
    decks = list(Deck.objects.personal_for(request.user).with_card_count().order_by("position", "id"))
    return render(request, "learning/deck_list.html", {"decks": decks})


@login_required
@require_http_methods(["GET", "POST"])
def deck_create(request: HttpRequest, lesson_pk: int | None = None) -> HttpResponse:
    lesson = access.get_lesson_for(request.user, lesson_pk, write=True) if lesson_pk is not None else None
    form = DeckForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        deck, status = _run(form, lambda: services.deck_create(user=request.user, lesson=lesson, **form.cleaned_data))
        if deck:
            messages.success(request, f"Deck “{deck.title}” created. Add its first cards.")
            return redirect("learning:deck_detail", deck.pk)
    title = f"New deck in {lesson.title}" if lesson else "New personal deck"
    crumbs = _crumbs_for(lesson) if lesson else [("My decks", reverse("learning:deck_list"))]
    return _form_page(request, form, title=title, crumbs=crumbs, status=status, submit="Create deck")


def _tag_counts(cards: Any) -> list[tuple[str, int]]:
    counter: Counter[str] = Counter()
    for tags in cards.values_list("tags", flat=True):
        counter.update(tags.split())
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


@login_required
def deck_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A deck's cards with search by text and tag; images inline, audio playable."""
    deck = access.get_deck_for(request.user, pk)
    can_edit = access.can_edit_deck(request.user, deck)
    q = request.GET.get("q", "").strip()[:200]
    tag = request.GET.get("tag", "").strip().lower()[:40]
    all_cards = Card.objects.filter(deck=deck)
    cards = all_cards.search(q).tagged(tag).order_by("position", "id")
    page = Paginator(cards, CARDS_PER_PAGE).get_page(request.GET.get("page"))
    counts = all_cards.aggregate(
        total=Count("pk"),
        with_image=Count("pk", filter=~Q(image="")),
        with_audio=Count("pk", filter=~Q(audio="")),
    )
    return render(
        request,
        "learning/deck_detail.html",
        {
            "deck": deck,
            "page": page,
            "cards": page.object_list,
            "q": q,
            "tag": tag,
            "filtered": bool(q or tag),
            "counts": counts,
            "tags": _tag_counts(all_cards),
            "can_edit": can_edit,
            "crumbs": _crumbs_for(deck.lesson) if deck.lesson_id else [("My decks", reverse("learning:deck_list"))],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def deck_edit(request: HttpRequest, pk: int) -> HttpResponse:
    deck = access.get_deck_for(request.user, pk, write=True)
    initial = {
        "title": deck.title,
        "description": deck.description,
        "new_cards_per_day": deck.new_cards_per_day,
        "reviews_per_day": deck.reviews_per_day,
        **{name: getattr(deck, name) for name in services.SCHEDULING_FIELDS},
    }
    form = DeckForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _run(form, lambda: services.deck_update(deck=deck, **form.cleaned_data))
        if done:
            messages.success(request, "Deck saved.")
            return redirect("learning:deck_detail", deck.pk)
    return _form_page(request, form, title=f"Edit {deck.title}", crumbs=_crumbs_for(deck), status=status, submit="Save")


@login_required
@require_http_methods(["GET", "POST"])
def deck_delete(request: HttpRequest, pk: int) -> HttpResponse:
    deck = access.get_deck_for(request.user, pk, write=True)
    if request.method == "POST":
        lesson_id = deck.lesson_id
        services.deck_delete(deck=deck)
        messages.success(request, f"Deck “{deck.title}” deleted.")
        if lesson_id:
            return redirect("learning:lesson_detail", lesson_id)
        return redirect("learning:deck_list")
    return _confirm_delete(
        request,
        deck,
        kind="deck",
        children=[(deck.cards.count(), "cards")],
        crumbs=_crumbs_for(deck),
        cancel=reverse("learning:deck_detail", args=[deck.pk]),
    )


# --- cards ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def card_create(request: HttpRequest, pk: int) -> HttpResponse:
    deck = access.get_deck_for(request.user, pk, write=True)
    form = CardForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        card, status = _run(form, lambda: services.card_create(deck=deck, user=request.user, **form.cleaned_data))
        if card:
            messages.success(request, "Card added.")
            if "add_another" in request.POST:
                return redirect("learning:card_create", deck.pk)
            return redirect("learning:deck_detail", deck.pk)
    return _form_page(
        request,
        form,
        title=f"New card in {deck.title}",
        crumbs=_crumbs_for(deck),
        status=status,
        template="learning/card_form.html",
        deck=deck,
        card=None,
    )


@login_required
@require_http_methods(["GET", "POST"])
def card_edit(request: HttpRequest, pk: int) -> HttpResponse:
    card = access.get_card_for(request.user, pk, write=True)
    initial = {"front": card.front, "back": card.back, "tags": card.tags}
    form = CardEditForm(request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _run(form, lambda: services.card_update(card=card, **form.cleaned_data))
        if done:
            messages.success(request, "Card saved.")
            # From the study screen ("e"): back to the same card.
            back = _safe_next(request)
            return redirect(back) if back else redirect("learning:deck_detail", card.deck_id)
    return _form_page(
        request,
        form,
        title="Edit card",
        crumbs=_crumbs_for(card.deck),
        status=status,
        template="learning/card_form.html",
        deck=card.deck,
        card=card,
        next_url=_safe_next(request),
    )


@login_required
@require_http_methods(["GET", "POST"])
def card_delete(request: HttpRequest, pk: int) -> HttpResponse:
    card = access.get_card_for(request.user, pk, write=True)
    if request.method == "POST":
        services.card_delete(card=card)
        messages.success(request, "Card deleted.")
        return redirect("learning:deck_detail", card.deck_id)
    return _confirm_delete(
        request,
        card,
        kind="card",
        children=[],
        crumbs=_crumbs_for(card.deck),
        cancel=reverse("learning:deck_detail", args=[card.deck_id]),
    )


@login_required
@require_POST
def card_preview(request: HttpRequest) -> HttpResponse:
    """The card editor's live preview (htmx): exactly what will be stored."""
    form = CardPreviewForm(request.POST)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return render(
        request,
        "learning/_card_preview.html",
        {"front": clean_card_html(data.get("front", "")), "back": clean_card_html(data.get("back", ""))},
    )


@login_required
def card_media(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Card images and audio, served only to people who may see the card."""
    card = access.get_card_for(request.user, pk)
    file = card.image if kind == "image" else card.audio
    if not file:
        raise Http404("This card has no such file.")
    try:
        handle = file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing from storage.") from None
    response = FileResponse(handle, content_type=content_type_for(file.name))
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = "inline"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def cards_bulk_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Paste lines to add many cards; "Preview" shows what would be created and
    which lines could not be read, "Add cards" creates the readable ones."""
    deck = access.get_deck_for(request.user, pk, write=True)
    form = BulkAddForm(request.POST or None)
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"]
        if request.POST.get("action") == "create":
            result, status = _run(form, lambda: services.cards_bulk_add(deck=deck, text=text, user=request.user))
            if result:
                cards, preview = result
                skipped = len(preview.errors)
                messages.success(
                    request,
                    f"Added {len(cards)} card{pluralize(len(cards))}."
                    + (
                        f" {skipped} line{pluralize(skipped)} could not be read and {pluralize(skipped, 'was,were')} skipped."
                        if skipped
                        else ""
                    ),
                )
                return redirect("learning:deck_detail", deck.pk)
        # A preview, or the failed create shown again with its reasons.
        preview, preview_status = _run(form, lambda: services.parse_bulk_cards(text))
        status = status if status != 200 else preview_status
    elif request.method == "POST":
        status = 400
    template = "learning/_bulk_preview.html" if request.htmx else "learning/bulk_add.html"
    return render(
        request, template, {"form": form, "deck": deck, "preview": preview, "crumbs": _crumbs_for(deck)}, status=status
    )


# --- ordering ------------------------------------------------------------------------------------

_MOVABLE = {
    "course": access.get_course_for,
    "lesson": access.get_lesson_for,
    "deck": access.get_deck_for,
    "card": access.get_card_for,
}


@login_required
@require_POST
def move(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Move a course, lesson, deck or card one place up or down among its siblings."""
    obj = _MOVABLE[kind](request.user, pk, write=True)
    try:
        services.move(obj=obj, direction=request.POST.get("direction", ""))
    except ValidationError:
        messages.error(request, "Choose to move it up or down.")
    back = _safe_next(request)
    return redirect(back) if back else redirect("home")


def _safe_next(request: HttpRequest) -> str:
    """The `next` address from the form or query string when it stays on this site."""
    return on_this_site(request, request.POST.get("next") or request.GET.get("next"))
