"""The gradebook page and its CSV download (the class's teacher and admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from learning.access import get_classroom_for
from learning.gradebook import gradebook, gradebook_csv

COLUMNS = [
    ("name", "Student"),
    ("mastery", "Mastery"),
    ("due", "Due"),
    ("last", "Last studied"),
    ("test", "Latest test"),
]


def _header(key: str, label: str, sort: str, descending: bool) -> dict:
    active = sort == key
    return {
        "key": key,
        "label": label,
        "active": active,
        "dir": "asc" if active and descending else "desc" if active else "asc",
        # aria-sort on the sorted column tells screen readers the order.
        "aria": ("descending" if descending else "ascending") if active else "",
    }


@login_required
@require_GET
def class_gradebook(request: HttpRequest, pk: int) -> HttpResponse:
    """404 for other teachers' classes, 403 for the class's students."""
    classroom = get_classroom_for(request.user, pk, write=True)
    sort = request.GET.get("sort", "name")
    descending = request.GET.get("dir") == "desc"
    book = gradebook(classroom, sort=sort, descending=descending)
    headers = [_header(key, label, book.sort, descending) for key, label in COLUMNS]
    deck_headers = [_header(f"d{d.pk}", d.title, book.sort, descending) for d in book.decks]
    return render(
        request,
        "learning/progress/gradebook.html",
        {"book": book, "classroom": classroom, "headers": headers, "deck_headers": deck_headers},
    )


@login_required
@require_GET
def class_gradebook_csv(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = get_classroom_for(request.user, pk, write=True)
    book = gradebook(classroom, sort=request.GET.get("sort", "name"), descending=request.GET.get("dir") == "desc")
    response = HttpResponse(gradebook_csv(book), content_type="text/csv; charset=utf-8")
    name = slugify(classroom.name) or f"class-{classroom.pk}"
    response["Content-Disposition"] = f'attachment; filename="gradebook-{name}-{timezone.localdate():%Y-%m-%d}.csv"'
    return response
