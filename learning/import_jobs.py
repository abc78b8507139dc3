"""Big imports in the background.

A package with more cards than settings.IMPORT_BACKGROUND_CARDS is parsed once
in the request (so a bad file is still refused at once, with every problem
listed), kept in storage, and imported by a Celery task enqueued on commit.
The task writes all cards in one transaction, so its progress goes through the
cache (other connections cannot see uncommitted rows); the page polls it with
htmx and the API answers 202 with the status URL.
"""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import IO, Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from learning import transfer
from learning.media import MEDIA_DIR
from learning.models import Deck, ImportJob, Lesson, MediaBlob
from lms.errors import ServiceError
from lms.queueing import enqueue_on_commit

PROGRESS_TTL = 24 * 3600


def progress_key(job_id: int) -> str:
    return f"import-job:{job_id}:done"


def moved_key(job_id: int) -> str:
    """When the job's progress last moved (a Unix time): what the sweep reads."""
    return f"import-job:{job_id}:moved"


class JobSwept(Exception):
    """The sweep gave the job up while it was still writing: roll it back."""


def import_job_create(
    *,
    user: Any,
    filename: str,
    data: bytes | IO[bytes],
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
    # Copied in chunks from the request's temporary file, never read whole.
    name = default_storage.save(
        f"imports/{uuid.uuid4().hex}{suffix}", ContentFile(data) if isinstance(data, bytes) else File(data)
    )
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
    enqueue_on_commit(import_package, job.pk, on_failure=lambda: _not_queued(job))
    return job


NOT_QUEUED_MESSAGE = "The import could not be started: the task queue is unavailable. Nothing was imported; upload the file again in a few minutes."


def _not_queued(job: ImportJob) -> None:
    """The broker did not take the job's task: fail it now, with its upload
    removed, rather than leave it queued until the sweep calls it stalled."""
    failed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.FAILED,
        error={"code": "queue_unavailable", "message": NOT_QUEUED_MESSAGE, "details": {}},
        finished_at=timezone.now(),
    )
    if failed:
        default_storage.delete(job.file)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """The task's body: import the kept file, record the result or the error
    (the import itself is all or nothing), and remove the file."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id, status=ImportJob.Status.QUEUED).first()
        if job is None:
            return None  # already run (a redelivered message)
        job.status = ImportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at"])

    def report(done: int, total: int) -> None:
        cache.set_many({progress_key(job.pk): done, moved_key(job.pk): time.time()}, PROGRESS_TTL)

    try:
        with default_storage.open(job.file, "rb") as handle, transaction.atomic():
            parsed = transfer.parse_upload(job.filename, handle, with_scheduling=job.with_scheduling, stream=True)
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
            # Still ours? A worker that stalled past IMPORT_STALE_SECONDS was
            # given up by the sweep (which told the user and cleaned up): its
            # cards must not appear after all.
            if not ImportJob.objects.select_for_update().filter(pk=job.pk, status=ImportJob.Status.RUNNING).exists():
                raise JobSwept
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
    except JobSwept:
        return None
    finally:
        default_storage.delete(job.file)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "error", "finished_at"])
    return job


STALE_MESSAGE = (
    "The import stopped: its worker made no progress for {minutes} minutes (it was probably restarted). "
    "Nothing was imported; upload the file again."
)


def import_jobs_sweep(*, now: datetime | None = None) -> int:
    """Fail every queued or running import whose progress has not moved for
    settings.IMPORT_STALE_SECONDS (its worker died, or its message was lost),
    remove its kept upload, and remove media files no MediaBlob names (what a
    killed import had stored before its transaction was rolled back) and the
    staging directories killed imports left on this machine.
    Returns the number of jobs failed."""
    from django.conf import settings

    now = now or timezone.now()
    stale = timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    open_jobs = list(ImportJob.objects.filter(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]))
    moved = cache.get_many([moved_key(job.pk) for job in open_jobs])
    failed = 0
    live: list[datetime] = []
    for job in open_jobs:
        last = max(
            [job.created_at, job.started_at or job.created_at]
            + ([datetime.fromtimestamp(moved[moved_key(job.pk)], UTC)] if moved_key(job.pk) in moved else [])
        )
        if now - last < stale:
            live.append(job.started_at or job.created_at)
            continue
        with transaction.atomic():
            # skip_locked: a worker finishing this very job holds its row.
            locked = ImportJob.objects.select_for_update(skip_locked=True).filter(pk=job.pk, status=job.status)
            if locked.update(
                status=ImportJob.Status.FAILED,
                error={
                    "code": "import_stalled",
                    "message": STALE_MESSAGE.format(minutes=max(1, round(stale.total_seconds() / 60))),
                    "details": {},
                },
                finished_at=now,
            ):
                failed += 1
                default_storage.delete(job.file)
    # Files of a running import are not in MediaBlob until it commits: only
    # files older than every live import (and than the stale time) are orphans.
    older_than = min([now - stale, *live])
    _remove_orphan_media(older_than=older_than)
    _remove_stale_staging(older_than=older_than)
    return failed


def _remove_stale_staging(*, older_than: datetime) -> None:
    """Media staging directories (transfer.MediaStaging) last changed before
    `older_than`: a live import removes its own, so these belong to a process
    that was killed. Only this machine's: each machine stages in its own
    temporary directory."""
    for folder in transfer.staging_root().glob(f"{transfer.STAGING_PREFIX}*"):
        try:
            changed = datetime.fromtimestamp(folder.stat().st_mtime, UTC)
        except FileNotFoundError:
            continue  # removed by its import meanwhile
        if folder.is_dir() and changed < older_than:
            shutil.rmtree(folder, ignore_errors=True)


def _remove_orphan_media(*, older_than: datetime) -> None:
    """Stored media files (cards/media/ab/<sha256>.<ext>) that no MediaBlob
    row names and that were written before `older_than`, one folder at a time."""
    try:
        folders = default_storage.listdir(MEDIA_DIR)[0]
    except FileNotFoundError:
        return
    for folder in folders:
        names = [f"{MEDIA_DIR}/{folder}/{name}" for name in default_storage.listdir(f"{MEDIA_DIR}/{folder}")[1]]
        known = set(MediaBlob.objects.filter(file__in=names).values_list("file", flat=True))
        for name in names:
            if name not in known and default_storage.get_modified_time(name) < older_than:
                default_storage.delete(name)


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
