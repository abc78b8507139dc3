"""HTML pages for studying and progress.

The study page is one full page load; after that each answer is an htmx POST
that returns the next card (or the summary) as a partial, so there is no full
reload between cards. Without JavaScript the same forms post normally and get
redirected back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learning import progress as progress_queries
from learning import study
from learning.access import get_class_student_for, get_classroom_for
from learning.models import Classroom, StudySession
from learning.templatetags.study_tags import ago_at
from lms.charts import bar_chart, calendar_heatmap
from lms.errors import ServiceError
from lms.models import User

MODE_HELP = {
    "learn": "Meet new cards, up to each deck's daily limit.",
    "review": "Cards due today, most overdue first.",
    "cram": "Every card, whatever its schedule. Doesn't change schedules.",
    "practice": "Your weakest cards first. Doesn't change schedules.",
    "test": "Type the answers; scored automatically. Doesn't change schedules.",
}


def _mode_cards(user: User, scope: study.Scope) -> list[dict]:
    """Each mode with what Start would give right now, and why it can't start.

    Learn and Review use the very queues a session would get (daily limits
    included), so a mode shown as available never answers "nothing to study";
    the other modes can use every card in scope. Five queries whatever the
    scope's size.
    """
    now = timezone.now()
    in_scope = scope.cards.count()
    counts = {
        StudySession.Mode.LEARN: len(study.learn_queue(user, scope, now)),
        StudySession.Mode.REVIEW: len(study.review_queue(user, scope, now)),
    }
    reasons = {
        StudySession.Mode.LEARN: "No new cards left today: all met, or the daily limit is reached.",
        StudySession.Mode.REVIEW: "Nothing left to review today: all caught up, or the daily limit is reached.",
    }
    units = {StudySession.Mode.LEARN: "new card"}
    cards = []
    for value, label in StudySession.Mode.choices:
        count = counts.get(value, in_scope)
        unit = units.get(value, "card")
        suffix = {StudySession.Mode.LEARN: " today", StudySession.Mode.REVIEW: " due"}.get(value, " here")
        cards.append(
            {
                "value": value,
                "label": label,
                "help": MODE_HELP[value],
                "count": count,
                "count_text": f"{count} {unit}{'' if count == 1 else 's'}{suffix}",
                "reason": _disabled_reason(count, in_scope, reasons.get(value, "")),
            }
        )
    return cards


def _disabled_reason(count: int, in_scope: int, nothing_left: str) -> str:
    if count:
        return ""
    # An empty scope is the real reason whatever the mode.
    return nothing_left if in_scope else study.EMPTY_SCOPE_MESSAGE


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@login_required
@require_http_methods(["GET", "POST"])
def study_start(request: HttpRequest, deck_pk: int | None = None) -> HttpResponse:
    """GET: choose a mode for a scope (?scope_type=deck&scope_id=3, or
    /study/decks/3/). POST: start the session and go to it."""
    data = request.POST if request.method == "POST" else request.GET
    scope_type = data.get("scope_type", StudySession.Scope.ALL)
    scope_id = data.get("scope_id") or None
    if deck_pk is not None:
        scope_type, scope_id = StudySession.Scope.DECK, deck_pk
    if request.method == "GET":
        try:
            scope = study.resolve_scope(request.user, scope_type, scope_id)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("learning:dashboard")
        return render(
            request,
            "learning/study/start.html",
            {
                "scope": scope,
                "scope_type": scope_type,
                "scope_id": scope_id or "",
                "modes": _mode_cards(request.user, scope),
            },
        )
    try:
        session = study.session_start(
            student=request.user,
            scope_type=scope_type,
            scope_id=scope_id,
            mode=data.get("mode", ""),
            size=data.get("size") or None,
            shuffle=data.get("shuffle") in ("1", "on", "true"),
        )
    except (ServiceError, ValidationError) as exc:
        messages.info(request, _error_text(exc))
        # Back to the scope's page when the form named one it could; anything
        # else (a scope id thousands of characters long) is not worth an address.
        named = scope_type in StudySession.Scope.values and str(scope_id or "").isdigit() and len(str(scope_id)) < 20
        if not named or scope_type == StudySession.Scope.ALL:
            return redirect("learning:dashboard")
        return redirect(
            reverse("learning:study_start") + "?" + urlencode({"scope_type": scope_type, "scope_id": scope_id})
        )
    return redirect("learning:study_session", pk=session.pk)


def _stage(request: HttpRequest, session: StudySession, error: str = "") -> HttpResponse:
    """The next card, or the summary once the session is over."""
    nxt = study.session_next(student=request.user, session=session)
    if nxt is None:
        summary = study.session_summary(student=request.user, session=session)
        return render(request, "learning/study/_summary.html", {"summary": summary, "session": session, "error": error})
    return render(request, "learning/study/_card.html", {"next": nxt, "session": session, "error": error})


@login_required
@require_GET
def study_session(request: HttpRequest, pk: int) -> HttpResponse:
    session = study.get_session_for(request.user, pk)
    nxt = study.session_next(student=request.user, session=session)
    context: dict = {"session": session, "next": nxt}
    if nxt is None:
        context["summary"] = study.session_summary(student=request.user, session=session)
    return render(request, "learning/study/session.html", context)


@login_required
@require_POST
def study_answer(request: HttpRequest, pk: int) -> HttpResponse:
    session = study.get_session_for(request.user, pk)
    try:
        result = study.session_answer(
            student=request.user,
            session_id=pk,
            card_id=request.POST.get("card"),
            quality=request.POST.get("quality"),
            answer=request.POST.get("answer"),
            response_ms=request.POST.get("response_ms") or None,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except (ServiceError, ValidationError) as exc:
        if not request.htmx:
            messages.error(request, _error_text(exc))
            return redirect("learning:study_session", pk=pk)
        session.refresh_from_db()
        return _stage(request, session, error=_error_text(exc))
    if not request.htmx:
        return redirect("learning:study_session", pk=pk)
    if result.session.mode == StudySession.Mode.TEST:
        return render(request, "learning/study/_feedback.html", {"result": result, "session": result.session})
    return _stage(request, result.session)


@login_required
@require_GET
def study_next(request: HttpRequest, pk: int) -> HttpResponse:
    session = study.get_session_for(request.user, pk)
    if not request.htmx:
        return redirect("learning:study_session", pk=pk)
    return _stage(request, session)


@login_required
@require_POST
def study_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back the last answer and show that card again."""
    session = study.get_session_for(request.user, pk)
    error = ""
    try:
        result = study.session_undo(student=request.user, session_id=pk)
        session = result.session
    except ServiceError as exc:
        error = exc.message
        session.refresh_from_db()
    if not request.htmx:
        if error:
            messages.info(request, error)
        return redirect("learning:study_session", pk=pk)
    return _stage(request, session, error=error)


@login_required
@require_POST
def study_override(request: HttpRequest, pk: int) -> HttpResponse:
    """ "I was right" on a wrong test answer: htmx gets the answer's feedback
    again (now right); a plain form post goes back to the session (or its summary)."""
    session = study.get_session_for(request.user, pk)
    try:
        review = study.review_override(student=request.user, session_id=pk, review_id=request.POST.get("review"))
    except ServiceError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("learning:study_session", pk=pk)
        session.refresh_from_db()
        return _stage(request, session, error=exc.message)
    session.refresh_from_db()
    if not request.htmx:
        messages.success(request, "Marked right; your score is updated.")
        return redirect("learning:study_session", pk=pk)
    result = study.AnswerResult(
        review=review,
        session=session,
        correct=True,
        expected=strip_tags(review.card.back) if review.card else "",
        redrill=False,
        done=session.status != StudySession.Status.ACTIVE,
    )
    return render(request, "learning/study/_feedback.html", {"result": result, "session": session})


@login_required
@require_POST
def study_end(request: HttpRequest, pk: int) -> HttpResponse:
    study.session_end(student=request.user, session_id=pk)
    return redirect("learning:study_summary", pk=pk)


@login_required
@require_GET
def study_summary(request: HttpRequest, pk: int) -> HttpResponse:
    session = study.get_session_for(request.user, pk)
    if session.status == StudySession.Status.ACTIVE:
        return redirect("learning:study_session", pk=pk)
    summary = study.session_summary(student=request.user, session=session)
    return render(request, "learning/study/summary.html", {"summary": summary, "session": session})


def _day_label(day: object, index: int) -> str:
    return "Today" if index == 0 else day.strftime("%b %-d")


def _dashboard_figures(data: progress_queries.Dashboard) -> str:
    """The dashboard's charts and tables: cached with the figures they show
    (the year's heatmap alone is hundreds of SVG elements)."""
    forecast_chart = bar_chart(
        [_day_label(d, i) for i, (d, _) in enumerate(data.forecast)],
        [n for _, n in data.forecast],
        title="Cards due over the next 30 days",
        height=200,
    )
    heatmap = calendar_heatmap(
        data.reviews_by_day, end=data.today, days=progress_queries.HEATMAP_DAYS, title="Reviews over the last year"
    )
    return render_to_string(
        "learning/progress/_dashboard_figures.html",
        {
            "data": data,
            "forecast_chart": forecast_chart,
            "forecast_total": sum(n for _, n in data.forecast),
            "heatmap": heatmap,
            "reviews_last_year": sum(
                n
                for d, n in data.reviews_by_day.items()
                if d > data.today - timedelta(days=progress_queries.HEATMAP_DAYS)
            ),
        },
    )


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    data = progress_queries.cached_student_dashboard(request.user, render=_dashboard_figures)
    # Teachers can study too; they also get a way into their classes' progress.
    taught = list(Classroom.objects.taught_by(request.user).active()) if request.user.role != "student" else []
    return render(
        request,
        "learning/progress/dashboard.html",
        {"data": data, "taught": taught, "figures": mark_safe(data.html)},  # noqa: S308 - rendered by a template
    )


DECK_PROGRESS_PAGE = 50


@login_required
@require_GET
def deck_progress(request: HttpRequest) -> HttpResponse:
    """Every deck the student studies with their mastery of it, in the
    classes' order, a page at a time (the dashboard shows a few)."""
    data = progress_queries.cached_student_dashboard(request.user)
    page = Paginator(data.decks, DECK_PROGRESS_PAGE).get_page(request.GET.get("page"))
    return render(request, "learning/progress/decks.html", {"data": data, "page": page})


SORT_LABELS = [
    ("name", "Student"),
    ("last_active", "Last active"),
    ("reviews", "Reviews (7 days)"),
    ("backlog", "Due backlog"),
    ("mastery", "Mastery"),
    ("score", "Latest tests"),
]


@login_required
@require_GET
def class_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The class's teacher (or an admin) only: 404 for others' classes, 403
    for the class's own students."""
    classroom = get_classroom_for(request.user, pk, write=True)
    sort = request.GET.get("sort", "name")
    descending = request.GET.get("dir") == "desc"
    row_template = get_template("learning/progress/_class_progress_row.html")
    # The students' pages differ by the id at the end: reversed once, not per row.
    student_url = reverse("learning:class_student_progress", args=[classroom.pk, 0])[: -len("0/")]

    def render_row(row: progress_queries.StudentProgress, now: datetime) -> str:
        # Rendered only when the row reads differently (progress caches it):
        # the relative time is read at `now`, the instant it is cached under.
        return row_template.render(
            {"s": row, "ago": ago_at(row.last_active, now), "student_url": f"{student_url}{row.student.pk}/"}
        )

    def part(name: str) -> Callable[[progress_queries.ClassProgress], str]:
        template = get_template(f"learning/progress/_class_progress_{name}.html")
        return lambda data: template.render({"data": data, "classroom": data.classroom})

    data = progress_queries.cached_class_progress(
        classroom,
        sort=sort,
        descending=descending,
        render_row=render_row,
        render_parts={name: part(name) for name in ("hardest", "leeches")},
    )
    headers = []
    for key, label in SORT_LABELS:
        active = data.sort == key
        next_dir = "asc" if active and data.descending else "desc" if active else "asc"
        headers.append({"key": key, "label": label, "active": active, "dir": next_dir})
    context = {
        "data": data,
        "classroom": classroom,
        "headers": headers,
        # Rendered by templates (the rows and tables that did not change since: from the cache).
        "rows": mark_safe(data.rows_html),  # noqa: S308
        "hardest": mark_safe(data.parts_html["hardest"]),  # noqa: S308
        "leeches": mark_safe(data.parts_html["leeches"]),  # noqa: S308
    }
    return render(request, "learning/progress/class_progress.html", context)


@login_required
@require_GET
def class_student_progress(request: HttpRequest, pk: int, student_id: int) -> HttpResponse:
    """One student's work in one class: for the class's teacher (and admins),
    and for that student themself; 404 for people outside the class, 403 for
    classmates."""
    classroom, student = get_class_student_for(request.user, pk, student_id)
    data = progress_queries.class_student_progress(classroom, student)
    activity_chart = bar_chart(
        [d.strftime("%b %-d") for d, _ in data.activity],
        [n for _, n in data.activity],
        title=f"Reviews per day, last {progress_queries.ACTIVITY_DAYS} days",
        height=180,
        show_values=False,
    )
    return render(
        request,
        "learning/progress/class_student.html",
        {
            "data": data,
            "classroom": classroom,
            "student": student,
            "activity_chart": activity_chart,
            "is_self": student.pk == request.user.pk,
        },
    )
