"""The dashboard's "Mastery by deck" shows a few decks, the ones with work
first; "All decks" lists every deck the student studies, a page at a time."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from learning.models import CardState
from learning.progress import DASHBOARD_DECKS
from learning.study_views import DECK_PROGRESS_PAGE
from tests.learning.study_setup import make_class


def deck_titles(page: str) -> list[str]:
    return re.findall(r'<tr class="deck-row">\s*<td>([^<]+)', page)


def test_the_dashboard_shows_the_decks_with_cards_due_then_those_under_way_first(client_for, teacher, student):
    setup = make_class(teacher, [student], decks=DASHBOARD_DECKS + 4, cards_per_deck=2)
    now = timezone.now()
    last, second_last = setup.decks[-1], setup.decks[-2]
    for card in last.cards.all():  # two cards due
        CardState.objects.create(student=student, card=card, status="review", interval=3, due_at=now)
    card = second_last.cards.first()  # begun, nothing due
    CardState.objects.create(student=student, card=card, status="review", interval=3, due_at=now.replace(year=2099))
    page = client_for(student).get("/dashboard/").content.decode()
    titles = deck_titles(page)
    assert len(titles) == DASHBOARD_DECKS
    assert titles[:2] == [last.title, second_last.title]
    assert titles[2:] == [d.title for d in setup.decks[: DASHBOARD_DECKS - 2]]  # then the classes' order
    assert f'href="/dashboard/decks/">All {DASHBOARD_DECKS + 4} decks</a>' in page


def test_no_link_when_the_dashboard_shows_every_deck(client_for, teacher, student):
    make_class(teacher, [student], decks=DASHBOARD_DECKS, cards_per_deck=1)
    page = client_for(student).get("/dashboard/").content.decode()
    assert len(deck_titles(page)) == DASHBOARD_DECKS
    assert "/dashboard/decks/" not in page


def test_all_decks_lists_every_deck_a_page_at_a_time_in_the_classes_order(client_for, teacher, student):
    setup = make_class(teacher, [student], decks=DECK_PROGRESS_PAGE + 3, cards_per_deck=1)
    client = client_for(student)
    first = client.get("/dashboard/decks/").content.decode()
    assert deck_titles(first) == [d.title for d in setup.decks[:DECK_PROGRESS_PAGE]]
    assert f"{DECK_PROGRESS_PAGE + 3} decks" in first and 'href="?page=2" rel="next">Next →' in first
    second = client.get("/dashboard/decks/", {"page": 2}).content.decode()
    assert deck_titles(second) == [d.title for d in setup.decks[DECK_PROGRESS_PAGE:]]
    assert "Page 2 of 2" in second
    # A page past the end or not a number: the last or the first page, not an error.
    assert client.get("/dashboard/decks/", {"page": 99}).status_code == 200
    assert deck_titles(client.get("/dashboard/decks/", {"page": "x"}).content.decode())[0] == setup.decks[0].title


def test_all_decks_shows_only_the_students_own_classes(client_for, teacher, rival_teacher, student, outsider):
    make_class(teacher, [student], decks=2, cards_per_deck=1, name="Mine")
    make_class(rival_teacher, [outsider], decks=2, cards_per_deck=1, name="Theirs")
    page = client_for(student).get("/dashboard/decks/").content.decode()
    assert deck_titles(page) == ["Mine deck 1", "Mine deck 2"]
    assert client_for(outsider).get("/dashboard/decks/").content.decode().count("Theirs deck") == 2


def test_all_decks_with_none_explains_what_to_do(client_for, student):
    page = client_for(student).get("/dashboard/decks/").content.decode()
    assert "No decks yet" in page


def test_all_decks_needs_a_login(client):
    response = client.get("/dashboard/decks/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_all_decks_query_count_does_not_grow_with_decks(client_for, teacher, student):
    client = client_for(student)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/dashboard/decks/").status_code == 200
        return len(ctx.captured_queries)

    count()  # the session's first request writes its idle-timeout stamp
    make_class(teacher, [student], decks=2, cards_per_deck=1, name="Small")
    few = count()  # the figures worked out again: a new class
    make_class(teacher, [student], decks=30, cards_per_deck=1, name="Big")
    assert count() == few > 0
    assert count() == 0  # then from the cache, the session's and the figures'
