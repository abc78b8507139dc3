"""Big imports in the background.

A package with more cards than settings.IMPORT_BACKGROUND_CARDS is parsed once
in the request (so a bad file is still refused at once, with every problem
listed), kept in storage, and imported by a Celery task enqueued on commit.
The task writes all cards in one transaction, so its progress goes through the
cache (other connections cannot see uncommitted rows); the page polls it with
htmx and the API answers 202 with the status URL.
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from learning import transfer
from learning.models import Deck, ImportJob, Lesson
from lms.errors import ServiceError

PROGRESS_TTL = 24 * 3600


def progress_key(job_id: int) -> str:
    return f"import-job:{job_id}:done"


def import_job_create(
    *,
    user: Any,
    filename: str,
    data: bytes,
    total: int,
    deck: Deck | None = None,
    lesson: Lesson | None = None,
    title: str = "",
    skip_invalid: bool = False,
    with_scheduling: bool = False,
) -> ImportJob:
    """Keep the upload and queue its import (the caller checked the user may
    write to `deck` or `lesson`)."""
    from learning.tasks import import_package

    suffix = PurePosixPath(filename).suffix.lower()[:8]
    name = default_storage.save(f"imports/{uuid.uuid4().hex}{suffix}", ContentFile(data))
    job = ImportJob.objects.create(
        user=user,
        deck=deck,
        lesson=lesson,
        title=(title or "")[: transfer.MAX_TITLE],
        skip_invalid=skip_invalid,
        with_scheduling=with_scheduling,
        filename=PurePosixPath(filename).name[:255],
        file=name,
        total=total,
    )
    transaction.on_commit(lambda: import_package.delay(job.pk))
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """The task's body: import the kept file, record the result or the error
    (the import itself is all or nothing), and remove the file."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id, status=ImportJob.Status.QUEUED).first()
        if job is None:
            return None  # already run (a redelivered message)
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status"])

    def report(done: int, total: int) -> None:
        cache.set(progress_key(job.pk), done, PROGRESS_TTL)

    try:
        with default_storage.open(job.file, "rb") as handle:
            data = handle.read()
        parsed = transfer.parse_upload(job.filename, data, with_scheduling=job.with_scheduling)
        if job.deck_id is not None:
            cards = transfer.deck_import(
                user=job.user, deck=job.deck, parsed=parsed, skip_invalid=job.skip_invalid, progress=report
            )
            first = job.deck_id
        else:
            deck, cards = transfer.deck_import_new(
                user=job.user,
                parsed=parsed,
                title=job.title,
                lesson=job.lesson,
                skip_invalid=job.skip_invalid,
                progress=report,
            )
            first = deck.pk
        job.status = ImportJob.Status.DONE
        job.result = {
            "deck": first,
            "decks": sorted({card.deck_id for card in cards}),
            "imported": len(cards),
            "skipped": parsed.errors,
        }
    except ServiceError as exc:
        job.status = ImportJob.Status.FAILED
        job.error = {"code": exc.code, "message": exc.message, "details": exc.details or {}}
    except ValidationError as exc:
        job.status = ImportJob.Status.FAILED
        job.error = {"code": "invalid", "message": "; ".join(exc.messages), "details": {}}
    finally:
        default_storage.delete(job.file)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "error", "finished_at"])
    return job


def get_import_job_for(user: Any, pk: Any) -> ImportJob:
    """The user's own job, or 404 (someone else's import is not theirs to see)."""
    try:
        job = ImportJob.objects.filter(pk=int(pk), user=user).first()
    except (TypeError, ValueError):
        job = None
    if job is None or not user.is_authenticated:
        raise Http404("No such import.")
    return job


def status_of(job: ImportJob) -> dict[str, Any]:
    """What the page and the API show: state, cards written so far, result."""
    done = job.total if job.status == ImportJob.Status.DONE else int(cache.get(progress_key(job.pk)) or 0)
    return {
        "id": job.pk,
        "status": job.status,
        "filename": job.filename,
        "total": job.total,
        "done": min(done, job.total),
        "percent": int(100 * min(done, job.total) / job.total) if job.total else 0,
        "result": job.result or None,
        "error": job.error or None,
    }


def goes_to_background(parsed: transfer.ParseResult, *, skip_invalid: bool) -> bool:
    """Big and readable: the request answers 202 and a worker imports it."""
    from django.conf import settings

    return len(parsed.rows) > settings.IMPORT_BACKGROUND_CARDS and (skip_invalid or not parsed.errors)
