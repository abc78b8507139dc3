"""Load docs/ops.md's runbooks into the knowledge base (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ops import kb, models, runbooks


class Command(BaseCommand):
    help = "Create (or, with --update, rewrite) the knowledge-base runbooks from docs/ops.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--update", action="store_true", help="Rewrite seeded articles even if edited since.")

    def handle(self, *args: Any, **options: Any) -> None:
        docs = runbooks.read_docs(settings.BASE_DIR)
        counts = runbooks.seed(docs, models=models, now=timezone.now(), update=options["update"])
        kb.refresh_search_vector(
            list(models.Article.objects.filter(source__startswith=runbooks.SOURCE_PREFIX).values_list("pk", flat=True))
        )
        self.stdout.write(
            f"{len(docs)} runbooks in docs/ops.md: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged; {counts['rules_linked']} detection rules linked."
        )
