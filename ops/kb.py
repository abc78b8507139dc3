"""The knowledge base: runbooks and how-tos in Markdown, searched with
PostgreSQL full-text search (ranked; a GIN index on the stored vector) and a
plain substring match on SQLite.

Who reads what: staff read every article, drafts included; anyone else signed
in (students, teachers) reads published articles marked "everyone signed in";
anonymous visitors read none. Only staff write, review and seed articles.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.text import slugify

from learning.sanitize import render_markdown
from lms.models import User
from ops.models import Article, ArticleCategory, ArticleTag, ArticleVote

logger = logging.getLogger(__name__)

MAX_QUERY = 200
MAX_TAGS = 12
SEARCH_CONFIG = "english"


# --- Reads ---------------------------------------------------------------------------


def visible_to(user: Any) -> QuerySet[Article]:
    articles = Article.objects.select_related("category").prefetch_related("tags")
    if not getattr(user, "is_authenticated", False):
        return articles.none()
    if user.is_staff:
        return articles
    return articles.filter(status=Article.Status.PUBLISHED, visibility=Article.Visibility.PUBLIC)


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def search(articles: QuerySet[Article], q: str) -> QuerySet[Article]:
    """Articles matching `q`, best first. PostgreSQL: web-search syntax
    ("quoted phrase", -exclude, or) over title (weight A), summary and tags (B)
    and body (C), ranked by ts_rank, with a highlighted snippet. SQLite: every
    word must appear in the title, summary, body or a tag; title hits first."""
    q = " ".join((q or "").split())[:MAX_QUERY]
    if not q:
        return articles
    if uses_full_text():
        query = SearchQuery(q, search_type="websearch", config=SEARCH_CONFIG)
        return (
            articles.filter(search_vector=query)
            .annotate(
                rank=SearchRank(F("search_vector"), query),
                snippet=SearchHeadline(
                    "body",
                    query,
                    config=SEARCH_CONFIG,
                    start_sel="«",
                    stop_sel="»",
                    max_words=28,
                    min_words=12,
                ),
            )
            .order_by("-rank", "title")
        )
    matches = articles
    for word in q.split()[:10]:
        matches = matches.filter(
            Q(title__icontains=word)
            | Q(summary__icontains=word)
            | Q(body__icontains=word)
            | Q(pk__in=ArticleTag.objects.filter(name__icontains=word).values("articles"))
        )
    return matches.annotate(
        rank=Case(
            When(title__icontains=q, then=Value(1.0)),
            When(title__icontains=q.split()[0], then=Value(0.5)),
            default=Value(0.1),
            output_field=FloatField(),
        )
    ).order_by("-rank", "title")


def snippet(article: Article, q: str, width: int = 160) -> str:
    """The text around the first match (what PostgreSQL's headline gives; made here on SQLite)."""
    found = getattr(article, "snippet", None)
    if found:
        return found
    text = " ".join(article.body.split())
    words = (q or "").split()
    at = min((i for i in (text.lower().find(w.lower()) for w in words) if i >= 0), default=-1)
    if at < 0:
        return article.summary or text[:width]
    start = max(0, at - width // 3)
    return ("…" if start else "") + text[start : start + width] + ("…" if start + width < len(text) else "")


def stale_articles(*, now: datetime | None = None) -> list[Article]:
    """Published articles past their review date, the most overdue first."""
    now = now or timezone.now()
    rows = Article.objects.filter(status=Article.Status.PUBLISHED).only(
        "title", "slug", "reviewed_at", "review_every_days", "visibility"
    )
    return sorted((a for a in rows.iterator() if a.is_stale(now)), key=lambda a: a.review_due())


def categories() -> QuerySet[ArticleCategory]:
    return ArticleCategory.objects.all()


# --- Writes --------------------------------------------------------------------------


def refresh_search_vector(article_ids: list[int]) -> None:
    """PostgreSQL keeps a weighted tsvector per article (GIN-indexed, see
    migration 0012); other databases search the text directly."""
    if not uses_full_text() or not article_ids:
        return
    for article in Article.objects.filter(pk__in=article_ids).prefetch_related("tags"):
        tags = " ".join(t.name.replace("-", " ") for t in article.tags.all())
        Article.objects.filter(pk=article.pk).update(
            search_vector=SearchVector("title", weight="A", config=SEARCH_CONFIG)
            + SearchVector("summary", weight="B", config=SEARCH_CONFIG)
            + SearchVector(Value(tags), weight="B", config=SEARCH_CONFIG)
            + SearchVector("body", weight="C", config=SEARCH_CONFIG)
        )


def _clean_tags(tags: list[str] | str | None) -> list[str]:
    if isinstance(tags, str):
        tags = tags.replace(",", " ").split()
    out = list(dict.fromkeys(slugify(t)[:40] for t in (tags or []) if slugify(t)))
    if len(out) > MAX_TAGS:
        raise ValidationError({"tags": [f"At most {MAX_TAGS} tags."]})
    return out


def _unique_slug(title: str, exclude: int | None) -> str:
    base = slugify(title)[:180] or "article"
    slug, n = base, 2
    while Article.objects.filter(slug=slug).exclude(pk=exclude).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def article_save(
    *,
    user: User | None,
    title: str,
    body: str,
    article: Article | None = None,
    summary: str = "",
    category: ArticleCategory | None = None,
    tags: list[str] | str | None = None,
    visibility: str = Article.Visibility.STAFF,
    status: str = Article.Status.PUBLISHED,
    review_every_days: int | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> Article:
    """Create (article=None) or change an article; the Markdown is rendered
    and sanitised once here, not on every view."""
    if user is not None and not user.is_staff:
        raise ValidationError("Only staff write knowledge-base articles.")
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    title = " ".join((title or "").split())
    if not title:
        errors["title"] = ["A title is required."]
    elif len(title) > 200:
        errors["title"] = ["At most 200 characters."]
    if not (body or "").strip():
        errors["body"] = ["Write the article."]
    elif len(body) > 200_000:
        errors["body"] = ["At most 200,000 characters."]
    if visibility not in Article.Visibility.values:
        errors["visibility"] = [f"One of {', '.join(Article.Visibility.values)}."]
    if status not in Article.Status.values:
        errors["status"] = [f"One of {', '.join(Article.Status.values)}."]
    if review_every_days is not None and not 1 <= review_every_days <= 3650:
        errors["review_every_days"] = ["Between 1 and 3650 days."]
    try:
        tag_names = _clean_tags(tags)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    if article is None:
        article = Article(author=user, created_at=now, reviewed_at=now, source=source)
        if review_every_days is None:
            from django.conf import settings

            review_every_days = settings.OPS_KB_REVIEW_DAYS
    if article.pk is None or article.title != title:
        article.slug = _unique_slug(title, article.pk)
    article.title = title
    article.summary = " ".join((summary or "").split())[:300]
    article.body = body
    article.body_html = render_markdown(body)
    article.category = category
    article.visibility = visibility
    article.status = status
    if review_every_days is not None:
        article.review_every_days = review_every_days
    article.updated_at = now
    article.save()
    existing = {t.name: t for t in ArticleTag.objects.filter(name__in=tag_names)}
    missing = [ArticleTag(name=n) for n in tag_names if n not in existing]
    if missing:
        ArticleTag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in ArticleTag.objects.filter(name__in=tag_names)}
    article.tags.set([existing[n] for n in tag_names])
    refresh_search_vector([article.pk])
    return article


@transaction.atomic
def article_mark_reviewed(*, article: Article, user: User, now: datetime | None = None) -> Article:
    if not user.is_staff:
        raise ValidationError("Only staff review articles.")
    article.reviewed_at = now or timezone.now()
    article.save(update_fields=["reviewed_at"])
    return article


def article_viewed(*, article: Article) -> None:
    """One more view (F(): concurrent views do not lose counts)."""
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


@transaction.atomic
def article_vote(*, article: Article, user: User, helpful: bool) -> ArticleVote:
    """One vote per user and article; voting again changes the vote."""
    article = Article.objects.select_for_update().get(pk=article.pk)
    vote = ArticleVote.objects.filter(article=article, user=user).first()
    if vote is not None and vote.helpful == helpful:
        return vote
    if vote is None:
        try:
            with transaction.atomic():
                vote = ArticleVote.objects.create(article=article, user=user, helpful=helpful)
        except IntegrityError:  # a double click raced us: the other request counted it
            return ArticleVote.objects.get(article=article, user=user)
        field = "helpful_count" if helpful else "not_helpful_count"
        counters = {field: F(field) + 1}
    else:
        vote.helpful = helpful
        vote.voted_at = timezone.now()
        vote.save(update_fields=["helpful", "voted_at"])
        gain, lose = ("helpful_count", "not_helpful_count") if helpful else ("not_helpful_count", "helpful_count")
        counters = {gain: F(gain) + 1, lose: F(lose) - 1}
    Article.objects.filter(pk=article.pk).update(**counters)
    return vote


def category_for(name: str) -> ArticleCategory | None:
    name = " ".join((name or "").split())[:80]
    if not name:
        return None
    category, _ = ArticleCategory.objects.get_or_create(slug=slugify(name)[:80] or "general", defaults={"name": name})
    return category
