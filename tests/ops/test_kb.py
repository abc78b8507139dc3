"""Knowledge base: seeded runbooks, search on both databases, votes, views,
review reminders, runbook links, the API and who may read or write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from ops import kb, reports, runbooks
from ops.models import Article, DetectionRule, Incident

SECRET_RUNBOOK = "probe-database"


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Migrations seed the rules and runbooks; a transactional test elsewhere may have flushed them since."""
    import importlib

    from django.apps import apps

    importlib.import_module("ops.migrations.0002_seed_rules_and_schedules").seed(apps, None)
    if not Article.objects.filter(source__startswith="docs/ops.md#").exists():
        call_command("seed_runbooks", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _public(admin, title="How to reset your password", body="Use the *Forgot password* link on the log-in page."):
    return kb.article_save(user=admin, title=title, body=body, visibility="public", tags=["accounts", "login"])


def test_runbooks_are_seeded_from_docs_ops_md_and_linked_to_their_rules() -> None:
    seeded = Article.objects.filter(source__startswith="docs/ops.md#")
    assert seeded.count() >= 8  # one per rule bullet (cpu and memory share one) + restore + maintenance mode
    error_rate = DetectionRule.objects.get(slug="error-rate")
    assert error_rate.runbook is not None and "Most failing routes" in error_rate.runbook.body
    cpu, memory = DetectionRule.objects.get(slug="cpu"), DetectionRule.objects.get(slug="memory")
    assert cpu.runbook_id == memory.runbook_id is not None
    restore = seeded.get(source="docs/ops.md#restoring-from-a-backup")
    assert "pg_restore" in restore.body and "<code>" in restore.body_html
    # The restore runbook says when to stop the web and how to restore card media.
    assert "When to stop the web" in restore.body and "media.tar.gz" in restore.body
    assert all(a.visibility == "staff" for a in seeded)


def test_parse_is_pure_and_seeding_again_changes_nothing() -> None:
    text = (
        "# X\n\n## Runbooks\n\nIntro.\n\n### When a detection rule fires\n\n* **`a-rule` (x).** Do this.\n  And that.\n"
    )
    docs = runbooks.parse(text)
    assert [d.source for d in docs] == ["docs/ops.md#rule-a-rule"] and "And that." in docs[0].body
    before = Article.objects.count()
    call_command("seed_runbooks")
    assert Article.objects.count() == before


def test_search_finds_a_runbook_by_a_word_in_its_body(admin) -> None:
    # "pg_isready" appears only in the body of the database probe runbook.
    found = list(kb.search(kb.visible_to(admin), "pg_isready"))
    assert found and SECRET_RUNBOOK in found[0].title
    assert "pg_isready" in kb.snippet(found[0], "pg_isready").replace("«", "").replace("»", "")
    assert list(kb.search(kb.visible_to(admin), "zebra-crossing-xyz")) == []


@pytest.mark.postgres
def test_postgres_ranks_title_matches_above_body_matches_with_the_gin_index(admin) -> None:
    kb.article_save(user=admin, title="Backups explained", body="Nothing else here.")
    kb.article_save(user=admin, title="Something else", body="One mention of backups in passing.")
    titles = [a.title for a in kb.search(kb.visible_to(admin), "backups")]
    assert titles.index("Backups explained") < titles.index("Something else")
    ranked = list(kb.search(kb.visible_to(admin), "backups"))
    assert ranked[0].rank >= ranked[-1].rank
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ops_article_search_gin'")
        assert "gin" in cursor.fetchone()[0].lower()
    # Web-search syntax: a phrase and an exclusion.
    assert [a.title for a in kb.search(kb.visible_to(admin), '"mention of backups"')] == ["Something else"]


def test_sqlite_fallback_needs_every_word(admin, on_postgres) -> None:
    if on_postgres:
        pytest.skip("the substring fallback is the SQLite path")
    _public(admin)
    assert [a.title for a in kb.search(kb.visible_to(admin), "forgot password")] == ["How to reset your password"]
    assert list(kb.search(kb.visible_to(admin), "forgot zebra")) == []
    assert [a.title for a in kb.search(kb.visible_to(admin), "accounts")] == ["How to reset your password"]  # a tag


def test_markdown_is_sanitised(admin) -> None:
    article = kb.article_save(
        user=admin, title="XSS", body="Hi <script>alert(1)</script> [x](javascript:alert(1)) **b**"
    )
    assert "<script" not in article.body_html and "alert(1)</" not in article.body_html
    assert "javascript:" not in article.body_html and "<strong>b</strong>" in article.body_html


def test_one_vote_per_user_and_changing_it(admin, student) -> None:
    article = _public(admin)
    kb.article_vote(article=article, user=student, helpful=True)
    kb.article_vote(article=article, user=student, helpful=True)
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (1, 0)
    kb.article_vote(article=article, user=student, helpful=False)
    kb.article_vote(article=article, user=admin, helpful=False)
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (0, 2)
    assert article.votes.count() == 2


def test_students_read_public_articles_only_and_views_are_counted(client_for, admin, student) -> None:
    article = _public(admin)
    runbook = Article.objects.get(title__contains=SECRET_RUNBOOK)
    client = client_for(student)
    page = client.get("/kb/")
    assert page.status_code == 200 and article.title.encode() in page.content
    assert SECRET_RUNBOOK.encode() not in page.content
    assert client.get(f"/kb/{runbook.slug}/").status_code == 404
    assert client.get(f"/kb/{article.slug}/").status_code == 200
    client.get(f"/kb/{article.slug}/")
    article.refresh_from_db()
    assert article.view_count == 2
    assert client.post(f"/kb/{article.slug}/vote/", {"helpful": "yes"}).status_code == 302
    article.refresh_from_db()
    assert article.helpful_count == 1
    # No editing for students; anonymous visitors are sent to log in.
    assert client.get("/kb/new/").status_code == 403
    assert client.post(f"/kb/{article.slug}/edit/", {"title": "x", "body": "y"}).status_code == 403
    assert client_for(None).get("/kb/").status_code == 302
    assert client_for(None).get(f"/kb/{article.slug}/").status_code == 302


def test_staff_write_edit_and_review_through_the_pages(client_for, admin) -> None:
    client = client_for(admin)
    response = client.post(
        "/kb/new/",
        {
            "title": "Rotate the secret key",
            "summary": "",
            "body": "1. Set `SECRET_KEY`\n2. Restart",
            "category": "How-to",
            "tags": "security, keys",
            "visibility": "staff",
            "status": "published",
            "review_every_days": 30,
        },
    )
    article = Article.objects.get(title="Rotate the secret key")
    assert response.status_code == 302 and response.url == f"/kb/{article.slug}/"
    assert sorted(t.name for t in article.tags.all()) == ["keys", "security"] and article.category.name == "How-to"
    assert client.post("/kb/new/", {"title": "", "body": ""}).status_code == 400
    article.reviewed_at = timezone.now() - timedelta(days=40)
    article.save()
    assert article.is_stale() and article in kb.stale_articles()
    assert b"Due for review" in client.get("/kb/").content
    client.post(f"/kb/{article.slug}/reviewed/")
    article.refresh_from_db()
    assert not article.is_stale()


def test_stale_reminder_mails_admins(admin, django_capture_on_commit_callbacks) -> None:
    admin.email = "ada@example.com"
    admin.save()
    Article.objects.filter(source__startswith="docs/ops.md#").update(reviewed_at=timezone.now() - timedelta(days=400))
    with django_capture_on_commit_callbacks(execute=True):
        count = reports.kb_stale_reminder_send()
    assert count >= 8 and len(mail.outbox) == 1 and "due for review" in mail.outbox[0].subject


def test_incident_pages_link_the_runbook(client_for, admin) -> None:
    rule = DetectionRule.objects.get(slug="error-rate")
    incident = Incident.objects.create(title="High server error rate", severity=2, rule=rule, components=["web"])
    page = client_for(admin).get(f"/ops/incidents/{incident.pk}/")
    assert page.status_code == 200 and f'href="/kb/{rule.runbook.slug}/"'.encode() in page.content


def test_api_searches_and_permissions(api_for, admin, student) -> None:
    _public(admin)
    staff = api_for(admin).get("/api/v1/kb/", {"q": "pg_isready"}).json()
    assert staff["count"] >= 1 and SECRET_RUNBOOK in staff["results"][0]["title"]
    assert staff["results"][0]["rank"] is not None and "body_html" in staff["results"][0]
    assert api_for(student).get("/api/v1/kb/", {"q": "pg_isready"}).json()["count"] == 0
    listed = api_for(student).get("/api/v1/kb/").json()
    assert [a["title"] for a in listed["results"]] == ["How to reset your password"]
    assert api_for(None).get("/api/v1/kb/").status_code in (401, 403)
    created = api_for(admin).post(
        "/api/v1/kb/", {"title": "Via the API", "body": "Hello", "tags": ["api"], "visibility": "public"}, format="json"
    )
    assert created.status_code == 201 and created.json()["tags"] == ["api"]
    denied = api_for(student).post("/api/v1/kb/", {"title": "No", "body": "No"}, format="json")
    assert denied.status_code == 403 and "error" in denied.json()
    bad = api_for(admin).post("/api/v1/kb/", {"title": "", "body": ""}, format="json")
    assert bad.status_code == 400 and "error" in bad.json()
    article_id = created.json()["id"]
    voted = api_for(student).post(f"/api/v1/kb/{article_id}/vote/", {"helpful": True}, format="json")
    assert voted.status_code == 200 and voted.json()["helpful_count"] == 1


def test_api_list_has_a_fixed_number_of_queries(api_for, admin, django_assert_max_num_queries) -> None:
    for i in range(5):
        _public(admin, title=f"Article {i}", body=f"Body {i}")
    client = api_for(admin)
    client.get("/api/v1/kb/")
    # user (the session is cached), count, page, tags prefetch (+ categories joined)
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/kb/").status_code == 200
