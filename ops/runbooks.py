"""The runbooks of docs/ops.md as knowledge-base articles.

`parse` is pure: the "## Runbooks" section becomes one article per "###"
subsection, except "When a detection rule fires", whose bullets become one
article per rule (named by the backticked rule slugs in each bullet's bold
lead, e.g. **`error-rate` (5xx > 5 %, SEV2).**), linked to those rules.
`seed` writes them (used by migration 0012 with historical models and by
`manage.py seed_runbooks`): new articles are created, and an article is
rewritten from the file only while nobody has edited it in the knowledge base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

RULES_HEADING = "When a detection rule fires"
BULLET_LEAD = re.compile(r"^\*\s+\*\*(?P<lead>.+?)\*\*\s*(?P<rest>.*)$", re.DOTALL)
SLUG = re.compile(r"`([a-z0-9-]+)`")
SOURCE_PREFIX = "docs/ops.md#"
CATEGORY = "Runbooks"


@dataclass(frozen=True)
class RunbookDoc:
    source: str
    title: str
    body: str
    summary: str = ""
    rule_slugs: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def _plain(markdown: str) -> str:
    """A one-line summary without Markdown marks."""
    return " ".join(re.sub(r"[*`]", "", markdown).split())


def _sections(text: str, level: str) -> list[tuple[str, str]]:
    """(heading, body) for each heading of exactly `level` ("##", "###")."""
    pattern = re.compile(rf"^{level} (.+)$", re.MULTILINE)
    matches = list(pattern.finditer(text))
    return [
        (m.group(1).strip(), text[m.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)])
        for i, m in enumerate(matches)
    ]


def _bullets(body: str) -> tuple[str, list[str]]:
    """The text before the first bullet, and each top-level bullet with its continuation lines."""
    intro, bullets = [], []
    for line in body.splitlines():
        if line.startswith("* "):
            bullets.append(line)
        elif bullets and (line.startswith("  ") or not line.strip()):
            bullets[-1] += "\n" + line
        elif not bullets:
            intro.append(line)
        else:
            bullets[-1] += "\n" + line
    return "\n".join(intro).strip(), [b.rstrip() for b in bullets]


def parse(text: str) -> list[RunbookDoc]:
    runbooks = next((body for heading, body in _sections(text, "##") if heading.lower() == "runbooks"), "")
    if not runbooks:
        return []
    preamble = runbooks.split("\n### ", 1)[0].strip()
    docs: list[RunbookDoc] = []
    for heading, body in _sections(runbooks, "###"):
        if heading == RULES_HEADING:
            intro, bullets = _bullets(body)
            for bullet in bullets:
                match = BULLET_LEAD.match(bullet)
                if not match:
                    continue
                slugs = tuple(SLUG.findall(match.group("lead")))
                if not slugs:
                    continue
                lead = " ".join(match.group("lead").replace("`", "").split()).rstrip(".").strip()
                rest = "\n".join(line.strip() for line in match.group("rest").splitlines()).strip()
                body_md = "\n\n".join(
                    part
                    for part in (
                        f"**Detection rule{'s' if len(slugs) > 1 else ''}:** {', '.join(f'`{s}`' for s in slugs)}",
                        rest,
                        intro,
                        preamble,
                    )
                    if part
                )
                docs.append(
                    RunbookDoc(
                        source=SOURCE_PREFIX + "rule-" + "-".join(slugs),
                        title=f"Runbook: {lead}",
                        body=body_md,
                        summary=_plain(rest.split(". ")[0] + ".")[:300] if rest else "",
                        rule_slugs=slugs,
                        tags=("runbook", "detection", *slugs),
                    )
                )
        else:
            content = body.strip()
            docs.append(
                RunbookDoc(
                    source=SOURCE_PREFIX + _slug(heading),
                    title=f"Runbook: {heading}",
                    body=content + ("\n\n" + preamble if preamble else ""),
                    summary=_plain(content.split("\n\n", 1)[0])[:300],
                    tags=("runbook", *(w for w in ("backup", "maintenance") if w in heading.lower())),
                )
            )
    return docs


def read_docs(base_dir: Path) -> list[RunbookDoc]:
    path = Path(base_dir) / "docs" / "ops.md"
    return parse(path.read_text(encoding="utf-8")) if path.exists() else []


def seed(docs: list[RunbookDoc], *, models: Any, now: Any, update: bool = False) -> dict[str, int]:
    """Write the runbooks with the given models (`models.Article`,
    `models.ArticleCategory`, `models.ArticleTag`, `models.DetectionRule`:
    real or historical). Returns counts."""
    from learning.sanitize import render_markdown

    category, _ = models.ArticleCategory.objects.get_or_create(slug="runbooks", defaults={"name": CATEGORY})
    counts = {"created": 0, "updated": 0, "unchanged": 0, "rules_linked": 0}
    names = dict(models.DetectionRule.objects.values_list("slug", "name"))
    for doc in docs:
        if doc.rule_slugs and all(slug in names for slug in doc.rule_slugs):
            # "Runbook: High CPU use / High memory use (cpu, memory)" reads better than the bullet's lead.
            title = " / ".join(names[slug] for slug in doc.rule_slugs)
            doc = replace(doc, title=f"Runbook: {title} ({', '.join(doc.rule_slugs)})")
        article = models.Article.objects.filter(source=doc.source).first()
        if article is None:
            slug, n = _slug(doc.title)[:180], 2
            base = slug
            while models.Article.objects.filter(slug=slug).exists():
                slug, n = f"{base}-{n}", n + 1
            article = models.Article.objects.create(
                source=doc.source,
                title=doc.title[:200],
                slug=slug,
                summary=doc.summary,
                body=doc.body,
                body_html=render_markdown(doc.body),
                category=category,
                visibility="staff",
                status="published",
                created_at=now,
                updated_at=now,
                reviewed_at=now,
            )
            counts["created"] += 1
        elif article.body != doc.body and (update or article.updated_at == article.created_at):
            article.title, article.summary, article.body = doc.title[:200], doc.summary, doc.body
            article.body_html = render_markdown(doc.body)
            article.updated_at = article.created_at = now  # still "as seeded": the next seed may update it
            article.save()
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
        tags = []
        for name in doc.tags:
            tag, _ = models.ArticleTag.objects.get_or_create(name=_slug(name)[:40])
            tags.append(tag)
        article.tags.add(*tags)
        if doc.rule_slugs:
            counts["rules_linked"] += models.DetectionRule.objects.filter(
                slug__in=doc.rule_slugs, runbook__isnull=True
            ).update(runbook=article)
    return counts
