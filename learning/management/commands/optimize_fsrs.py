"""Fit FSRS parameters on each class's pooled reviews (and each personal-deck
owner's); Celery beat runs this weekly (learning.tasks.optimize_fsrs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from learning.fsrs_optimizer import optimize, optimize_all
from learning.models import Classroom, FsrsFit
from lms.models import User


class Command(BaseCommand):
    help = "Fit FSRS-6 parameters on the review log of one class, one owner's personal decks, or all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--classroom", type=int, help="Only this class (id)")
        parser.add_argument("--owner", help="Only this user's personal decks (username)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["classroom"] and options["owner"]:
            raise CommandError("Give --classroom or --owner, not both.")
        if options["classroom"]:
            classroom = Classroom.objects.filter(pk=options["classroom"]).first()
            if classroom is None:
                raise CommandError(f"No class {options['classroom']}.")
            fits = [optimize(classroom=classroom)]
        elif options["owner"]:
            owner = User.objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"No user {options['owner']!r}.")
            fits = [optimize(owner=owner)]
        else:
            fits = optimize_all()
        for fit in fits:
            self.stdout.write(self._line(fit))
        self.stdout.write(self.style.SUCCESS(f"{len(fits)} fit(s), {sum(not f.skipped for f in fits)} applied."))

    @staticmethod
    def _line(fit: FsrsFit) -> str:
        who = f"class {fit.classroom_id}" if fit.classroom_id else f"owner {fit.owner_id}"
        losses = ""
        if fit.log_loss_before is not None:
            after = f"{fit.log_loss_after:.4f}" if fit.log_loss_after is not None else "—"
            losses = f", log loss {fit.log_loss_before:.4f} → {after}"
        outcome = fit.skipped or f"applied to {fit.decks_updated} deck(s)"
        return f"{who}: {fit.review_count} reviews{losses} in {fit.duration_ms} ms; {outcome}"
