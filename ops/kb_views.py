"""Knowledge-base pages: search and browse, read (with a view count and
"was this helpful?"), and for staff: write, edit and mark reviewed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ops import kb
from ops.access import staff_required
from ops.forms import ArticleForm, add_service_errors
from ops.models import Article, ArticleCategory

PAGE_SIZE = 20


def get_article_for(user: object, slug: str) -> Article:
    """404 for what the user may not read, so drafts and staff runbooks stay hidden."""
    article = kb.visible_to(user).filter(slug=slug).first()
    if article is None:
        raise Http404("No such article")
    return article


@login_required
@require_GET
def kb_index(request: HttpRequest) -> HttpResponse:
    q = " ".join(request.GET.get("q", "").split())[: kb.MAX_QUERY]
    articles = kb.visible_to(request.user)
    category = request.GET.get("category", "")
    tag = request.GET.get("tag", "")
    if category:
        articles = articles.filter(category__slug=category)
    if tag:
        articles = articles.filter(tags__name=tag)
    articles = kb.search(articles, q) if q else articles.order_by("category__position", "category__name", "title")
    page = Paginator(articles, PAGE_SIZE).get_page(request.GET.get("page"))
    for article in page.object_list:
        article.snippet_text = kb.snippet(article, q) if q else article.summary
    now = timezone.now()
    context = {
        "q": q,
        "page": page,
        "category": category,
        "tag": tag,
        "categories": ArticleCategory.objects.all(),
        "stale": kb.stale_articles(now=now)[:10] if request.user.is_staff else [],
        "now": now,
        "full_text": kb.uses_full_text(),
    }
    return render(request, "ops/kb_index.html", context)


@login_required
@require_GET
def kb_article(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_article_for(request.user, slug)
    kb.article_viewed(article=article)
    vote = article.votes.filter(user=request.user).values_list("helpful", flat=True).first()
    context = {
        "article": article,
        "vote": vote,
        "stale": article.is_stale(),
        "rules": list(article.rules.all()) if request.user.is_staff else [],
        "incidents": list(article.incidents.order_by("-triggered_at")[:5]) if request.user.is_staff else [],
    }
    return render(request, "ops/kb_article.html", context)


@login_required
@require_POST
def kb_vote(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_article_for(request.user, slug)
    helpful = request.POST.get("helpful")
    if helpful not in ("yes", "no"):
        messages.error(request, "Choose yes or no.")
    else:
        kb.article_vote(article=article, user=request.user, helpful=helpful == "yes")
        messages.success(request, "Thank you: your answer helps us improve this article.")
    return redirect("kb_article", slug=article.slug)


@staff_required
@require_POST
def kb_reviewed(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_article_for(request.user, slug)
    kb.article_mark_reviewed(article=article, user=request.user)
    messages.success(request, f"Marked as reviewed; next review due {article.review_due():%d %b %Y}.")
    return redirect("kb_article", slug=article.slug)


def _form_initial(article: Article) -> dict:
    return {
        "title": article.title,
        "summary": article.summary,
        "body": article.body,
        "category": article.category.name if article.category else "",
        "tags": " ".join(t.name for t in article.tags.all()),
        "visibility": article.visibility,
        "status": article.status,
        "review_every_days": article.review_every_days,
    }


def _save(request: HttpRequest, form: ArticleForm, article: Article | None) -> Article | None:
    data = form.cleaned_data
    try:
        return kb.article_save(
            article=article,
            user=request.user,
            title=data["title"],
            body=data["body"],
            summary=data["summary"],
            category=kb.category_for(data["category"]),
            tags=data["tags"],
            visibility=data["visibility"],
            status=data["status"],
            review_every_days=data["review_every_days"],
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


@staff_required
@require_http_methods(["GET", "POST"])
def kb_new(request: HttpRequest) -> HttpResponse:
    form = ArticleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        article = _save(request, form, None)
        if article is not None:
            messages.success(request, "Article published." if article.status == "published" else "Draft saved.")
            return redirect("kb_article", slug=article.slug)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "ops/kb_form.html", {"form": form, "article": None}, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def kb_edit(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_article_for(request.user, slug)
    form = ArticleForm(request.POST or None, initial=_form_initial(article))
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, article)
        if saved is not None:
            messages.success(request, "Saved.")
            return redirect("kb_article", slug=saved.slug)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "ops/kb_form.html", {"form": form, "article": article}, status=status)
