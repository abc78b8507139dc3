"""Pages that move decks in and out: export downloads and the import forms."""

from __future__ import annotations

from pathlib import PurePosixPath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from learning import access, import_jobs, transfer
from learning.forms import ImportForm, ImportNewDeckForm
from learning.models import Lesson
from learning.views import _crumbs_for, _run

PREVIEW_ROWS = 10


@login_required
@require_GET
def deck_export(request: HttpRequest, pk: int) -> HttpResponse:
    deck = access.get_deck_for(request.user, pk)
    fmt = request.GET.get("format", "csv")
    if fmt not in transfer.FORMATS:
        return render(request, "400.html", status=400)
    scheduling = request.GET.get("scheduling") in ("1", "true")
    content, content_type, filename = transfer.export_deck(deck, fmt, student=request.user if scheduling else None)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _parse(form: ImportForm) -> tuple[transfer.ParseResult | None, int]:
    upload = form.cleaned_data["file"]

    def parse() -> transfer.ParseResult:
        form.content = transfer.read_upload(upload)  # kept for a background import
        return transfer.parse_upload(
            upload.name,
            form.content,
            form.cleaned_data["format"] or None,
            with_scheduling=form.cleaned_data["scheduling"],
        )

    return _run(form, parse)


def _queue(
    request: HttpRequest, form: ImportForm, parsed: transfer.ParseResult, **target: object
) -> HttpResponse | None:
    """Send a big import to the background and show its progress page."""
    skip = form.cleaned_data["skip_invalid"]
    if not import_jobs.goes_to_background(parsed, skip_invalid=skip):
        return None
    parsed.discard_media()  # the worker reads the package again
    name = form.cleaned_data["file"].name
    if form.cleaned_data["format"]:
        name = f"{name.rsplit('.', 1)[0]}.{form.cleaned_data['format']}"
    job = import_jobs.import_job_create(
        user=request.user,
        filename=name,
        data=form.content,
        total=len(parsed.rows),
        skip_invalid=skip,
        with_scheduling=form.cleaned_data["scheduling"],
        **target,
    )
    return redirect("learning:import_job", job.pk)


@login_required
@require_GET
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A background import's progress bar; htmx polls the partial until done."""
    job = import_jobs.get_import_job_for(request.user, pk)
    context = {"job": job, "status": import_jobs.status_of(job)}
    template = "learning/_import_job.html" if request.htmx else "learning/import_job.html"
    return render(request, template, context)


def _render(request: HttpRequest, context: dict, status: int) -> HttpResponse:
    template = "learning/_import_preview.html" if request.htmx else "learning/deck_import.html"
    return render(request, template, {**context, "preview_rows": PREVIEW_ROWS}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def deck_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Add cards from a file to an existing deck; "Preview" shows what would happen."""
    deck = access.get_deck_for(request.user, pk, write=True)
    form = ImportForm(request.POST or None, request.FILES or None)
    context = {"form": form, "deck": deck, "crumbs": _crumbs_for(deck), "action": request.path}
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            return _render(request, context, 400)
        parsed, status = _parse(form)
        context["parsed"] = parsed
        if parsed is not None and request.POST.get("action") == "import":
            queued = _queue(request, form, parsed, deck=deck)
            if queued is not None:
                return queued
            skip = form.cleaned_data["skip_invalid"]
            cards, status = _run(
                form, lambda: transfer.deck_import(user=request.user, deck=deck, parsed=parsed, skip_invalid=skip)
            )
            if cards is not None:
                messages.success(request, f"Imported {len(cards)} card{pluralize(len(cards))} into {deck.title}.")
                return redirect("learning:deck_detail", deck.pk)
    return _render(request, context, status)


@login_required
@require_http_methods(["GET", "POST"])
def deck_import_new(request: HttpRequest, lesson_pk: int | None = None) -> HttpResponse:
    """A new deck from a file: personal, or in a lesson the user may edit."""
    lesson: Lesson | None = access.get_lesson_for(request.user, lesson_pk, write=True) if lesson_pk else None
    form = ImportNewDeckForm(request.POST or None, request.FILES or None)
    crumbs = _crumbs_for(lesson) if lesson else [("My decks", reverse("learning:deck_list"))]
    context = {"form": form, "deck": None, "lesson": lesson, "crumbs": crumbs, "action": request.path}
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            return _render(request, context, 400)
        parsed, status = _parse(form)
        context["parsed"] = parsed
        if parsed is not None and request.POST.get("action") == "import":
            title = form.cleaned_data["title"] or parsed.title or PurePosixPath(form.cleaned_data["file"].name).stem
            queued = _queue(request, form, parsed, lesson=lesson, title=title)
            if queued is not None:
                return queued
            result, status = _run(
                form,
                lambda: transfer.deck_import_new(
                    user=request.user,
                    parsed=parsed,
                    title=title,
                    lesson=lesson,
                    skip_invalid=form.cleaned_data["skip_invalid"],
                ),
            )
            if result is not None:
                deck, cards = result
                messages.success(request, f"Created {deck.title} with {len(cards)} card{pluralize(len(cards))}.")
                return redirect("learning:deck_detail", deck.pk)
    return _render(request, context, status)


__all__ = ["deck_export", "deck_import", "deck_import_new", "import_job"]
