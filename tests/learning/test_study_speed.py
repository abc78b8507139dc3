"""The study loop's fast paths: the cached visible decks agree with the live
rules after every change that moves them, `next/` runs in three queries with
token auth, and an answer moves the session's cursor instead of rewriting
its plan (with Undo still exact)."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import Http404
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from learning import scheduling, study
from learning.access import get_card_to_study_for
from learning.models import Card, CardState, Deck, Enrollment, Review, StudySession
from learning.study_api import AnswerSerializer, StudySessionSerializer, answer_values, session_data
from learning.visibility import compute_visible_decks, visible_decks
from lms.tokens import token_issue
from tests.learning.study_setup import make_class

SESSIONS = "/api/v1/study-sessions/"


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)[1]}")
    return client


def assert_cache_is_live(*users) -> None:
    for user in users:
        assert visible_decks(user) == compute_visible_decks(user), user


def test_cached_visible_decks_follow_enrolment_publishing_moves_and_deletion(teacher, student, outsider, rival_teacher):
    setup = make_class(teacher, [student], decks=2)
    other = make_class(rival_teacher, [], name="Chemistry")
    people = (teacher, student, outsider, rival_teacher)
    assert_cache_is_live(*people)
    deck = setup.decks[0]
    assert visible_decks(student).can_read(deck.pk) and not visible_decks(student).can_edit(deck.pk)
    assert visible_decks(teacher).can_edit(deck.pk)
    assert not visible_decks(outsider).can_read(deck.pk)

    Enrollment.objects.create(classroom=setup.classroom, student=outsider)  # enrolment
    assert visible_decks(outsider).can_read(deck.pk)
    assert_cache_is_live(*people)

    setup.lesson.published = False  # unpublishing hides the lesson's decks
    setup.lesson.save()
    assert not visible_decks(student).can_read(deck.pk)
    assert_cache_is_live(*people)
    setup.lesson.published = True
    setup.lesson.save()

    deck.lesson = other.lesson  # a deck moved to another class
    deck.save()
    assert not visible_decks(student).can_read(deck.pk) and visible_decks(rival_teacher).can_edit(deck.pk)
    assert_cache_is_live(*people)

    Enrollment.objects.filter(classroom=setup.classroom, student=outsider).delete()  # leaving the class
    assert not visible_decks(outsider).can_read(setup.decks[1].pk)
    setup.decks[1].delete()
    other.course.delete()  # cascades to its lessons and decks
    assert_cache_is_live(*people)
    personal = Deck.objects.create(title="Mine", owner=student)
    assert visible_decks(student).can_edit(personal.pk)
    assert_cache_is_live(*people)


def test_a_warm_cache_reads_no_sql(teacher, student, django_assert_num_queries):
    make_class(teacher, [student])
    visible_decks(student)
    with django_assert_num_queries(0):
        visible_decks(student)


def test_next_runs_three_queries_with_token_auth(teacher, student, django_assert_num_queries):
    setup = make_class(teacher, [student], cards_per_deck=30)
    api = token_client(student)
    session = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    url = f"{SESSIONS}{session.json()['id']}/next/"
    # The token with its user, the session, the card with its deck and state.
    with django_assert_num_queries(3):
        response = api.get(url)
    assert response.status_code == 200 and response.json()["card"]["id"] == setup.cards[0].pk
    assert response.json()["can_edit"] is False
    assert token_client(teacher).get(url).status_code == 404  # someone else's session


def test_a_card_hidden_after_the_session_started_is_refused_even_with_a_warm_cache(api_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    api = api_for(student)
    session = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    session_id = session.json()["id"]
    assert api.get(f"{SESSIONS}{session_id}/next/").status_code == 200
    Enrollment.objects.filter(student=student).delete()
    response = api.post(f"{SESSIONS}{session_id}/answer/", {"card": setup.cards[0].pk, "quality": 4}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"]
    assert not StudySession.objects.get(pk=session_id).answered_ids
    assert api.get(f"{SESSIONS}{session_id}/next/").json()["done"] is True  # nothing left it may see


def test_answering_the_head_moves_the_cursor_without_rewriting_the_plan(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=40)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    plan = list(session.queue)
    with CaptureQueriesContext(connection) as ctx:
        study.session_answer(student=student, session_id=session.pk, card_id=plan[0], quality=5)
    # Its own statement, or a part of the answer's one statement on PostgreSQL.
    sql = next(q["sql"] for q in ctx.captured_queries if 'UPDATE "learning_studysession"' in q["sql"])
    update = sql[sql.index('UPDATE "learning_studysession"') :].split(" RETURNING ")[0]
    assert '"queue" =' not in update and '"queue_head" = 1' in update
    session.refresh_from_db()
    assert session.queue == plan[1:] and session.planned == plan and session.answered_ids == [plan[0]]
    assert len(str(session.undo_snapshot)) < 500  # no copy of the plan


def test_undo_puts_back_the_cursor_an_off_head_answer_and_a_finishing_answer(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3, scheduler="sm2-published")
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    a, b, c = session.queue
    for card_id in (a, c):  # the head, then a card off the head
        before = StudySession.objects.get(pk=session.pk)
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
        study.session_undo(student=student, session_id=session.pk)
        after = StudySession.objects.get(pk=session.pk)
        assert (after.queue, after.answered_ids, after.answers_count) == (before.queue, before.answered_ids, 0)
    study.session_answer(student=student, session_id=session.pk, card_id=a, quality=1)  # a re-drill
    assert StudySession.objects.get(pk=session.pk).queue == [b, c, a]
    for card_id in (b, c):
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
    result = study.session_answer(student=student, session_id=session.pk, card_id=a, quality=5)
    assert result.done
    study.session_undo(student=student, session_id=session.pk)
    reopened = StudySession.objects.get(pk=session.pk)
    assert reopened.status == "active" and reopened.queue == [a] and sorted(reopened.answered_ids) == sorted([a, b, c])


def test_deleted_cards_are_skipped_by_next(api_for, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    Card.objects.filter(pk=setup.cards[0].pk).delete()
    nxt = study.session_next(student=student, session=StudySession.objects.get(pk=session.pk))
    assert nxt.card.pk == setup.cards[1].pk and nxt.remaining == 2


def test_admins_read_and_edit_every_deck_without_a_lookup(admin, teacher, django_assert_num_queries):
    setup = make_class(teacher, [])
    with django_assert_num_queries(0):
        decks = visible_decks(admin)
    assert decks.can_read(setup.decks[0].pk) and decks.can_edit(setup.decks[0].pk)


def statement(sql: str) -> str:
    """ "SELECT learning_card" for a query: its verb and first table; for
    data-modifying CTEs, "WITH " and those of each part; for a read with a
    CTE, "WITH SELECT " and the tables it reads."""
    if sql.startswith("WITH "):
        parts = re.findall(r'AS \((INSERT INTO|UPDATE) "?(\w+)', sql)
        if parts:
            return "WITH " + ", ".join(f"{verb.split()[0]} {table}" for verb, table in parts)
        tables = [t for t in dict.fromkeys(re.findall(r'FROM "?(\w+)', sql)) if "_" in t]
        return "WITH SELECT " + ", ".join(tables)
    words = sql.replace('"', "").split()
    verb = words[0]
    table = {"SELECT": lambda: words[words.index("FROM") + 1], "INSERT": lambda: words[2], "UPDATE": lambda: words[1]}
    return f"{verb} {table[verb]()}" if verb in table else verb


def answer_reads() -> list[str]:
    """The answer's reads, locked: the session, then the card with its deck
    and the student's state, in one statement on PostgreSQL."""
    if connection.vendor == "postgresql":
        return ["WITH SELECT learning_studysession, learning_card, learning_cardstate"]
    return ["SELECT learning_studysession", "SELECT learning_card"]


def answer_writes(*, state: str = "INSERT") -> list[str]:
    """The answer's writes: one statement on PostgreSQL (lms.rawsql.write_together)."""
    writes = [f"{state} learning_cardstate", "INSERT learning_review", "UPDATE learning_studysession"]
    return [f"WITH {', '.join(writes)}"] if connection.vendor == "postgresql" else writes


def test_an_answer_runs_its_statements_in_one_transaction_with_no_idempotency_lookup(
    transactional_db, teacher, student
):
    """answer/ with token auth, as a worker runs it (autocommit, analytics on):
    the key is only looked up when the answer cannot go through as sent, and a
    first answer inserts the card's state it computed."""
    setup = make_class(teacher, [student], cards_per_deck=5)
    api = token_client(student)
    session = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    url = f"{SESSIONS}{session.json()['id']}/"
    body = api.get(url + "next/").json()
    with override_settings(ANALYTICS_ENABLED=True), CaptureQueriesContext(connection) as ctx:
        response = api.post(
            url + "answer/", {"card": body["card"]["id"], "quality": 4, "idempotency_key": "k1"}, format="json"
        )
    assert response.status_code == 201, response.content
    statements = [statement(q["sql"]) for q in ctx.captured_queries]
    writes = answer_writes()
    assert statements == [
        "SELECT lms_apitoken",  # the token with its user
        "BEGIN",
        # The session locked, then the card with its deck and its state,
        # locked (none yet); visibility: the cached set.
        *answer_reads(),
        *writes,  # the state after the answer, the review, the session
        "COMMIT",
        "INSERT analytics_event",  # review_submitted and api_request, in autocommit
    ], statements
    # The same key again: a replay, found once the card is seen to have moved on.
    again = api.post(
        url + "answer/", {"card": body["card"]["id"], "quality": 4, "idempotency_key": "k1"}, format="json"
    )
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["review"] == response.json()["review"]


def test_an_answer_with_next_carries_what_next_answers_in_one_more_query(transactional_db, teacher, student):
    """answer/?next=1: the body also carries the next card, exactly what a
    following next/ shows (but its fresh idempotency key), at the cost of
    the one statement next/ runs for it; and `done` once the session is over."""
    setup = make_class(teacher, [student], cards_per_deck=3)
    api = token_client(student)
    session = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    url = f"{SESSIONS}{session.json()['id']}/"
    body = api.get(url + "next/").json()
    seen = [body["card"]["id"]]
    while True:
        with override_settings(ANALYTICS_ENABLED=True), CaptureQueriesContext(connection) as ctx:
            response = api.post(
                url + "answer/?next=1",
                {"card": body["card"]["id"], "quality": 5, "idempotency_key": body["idempotency_key"]},
                format="json",
            )
        assert response.status_code == 201, response.content
        statements = [statement(q["sql"]) for q in ctx.captured_queries]
        answered = response.json()
        plain = {k: v for k, v in answered.items() if k != "next"}
        assert plain["card"] == body["card"]["id"] and plain["replayed"] is False
        last = {"card": body["card"]["id"], "quality": 5, "idempotency_key": body["idempotency_key"]}
        body = answered["next"]
        following = api.get(url + "next/").json()
        if body["done"]:
            assert answered["session_done"] is True and following["done"] is True
            assert body == following
            # Nothing left to load: the answer's own statements only.
            assert "SELECT learning_card" not in statements[statements.index("COMMIT") :], statements
            break
        assert statements[-2:] == ["SELECT learning_card", "INSERT analytics_event"], statements
        # answer/'s statements, then the next card with its state.
        assert len(statements) == 5 + len(answer_reads()) + len(answer_writes()), statements
        assert {**body, "idempotency_key": None} == {**following, "idempotency_key": None}
        assert body["idempotency_key"] and body["card"]["id"] not in seen
        seen.append(body["card"]["id"])
    assert sorted(seen) == sorted(card.pk for card in setup.cards)
    # A retry of the last answer (same key) replays it, and the session is still over.
    again = api.post(url + "answer/?next=1", last, format="json")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["next"]["done"] is True
    # Without ?next=1 the body is what it was.
    assert "next" not in api.post(url + "answer/", last, format="json").json()


def field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_written_out_reads_build_the_same_rows_as_the_orm(teacher, student):
    """The study loop's hand-written statements (lms.rawsql) give the ORM's
    values: JSON lists, dates, decimals and nulls converted alike."""
    setup = make_class(teacher, [student], cards_per_deck=4)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    first = session.queue[0]
    result = study.session_answer(student=student, session_id=session.pk, card_id=first, quality=4, response_ms=9)
    # The written-out INSERTs stored what the answer computed.
    stored = Review.objects.get(pk=result.review.pk)
    assert field_values(stored) == field_values(result.review) and stored.due_after is not None
    state = CardState.objects.get(student=student, card_id=first)
    assert (state.status, state.due_at, state.reviews_count) == ("learning", stored.due_after, 1)
    study.session_answer(student=student, session_id=session.pk, card_id=first, quality=5)  # the UPDATE
    state.refresh_from_db()
    assert state.reviews_count == 2 and state.due_at == Review.objects.latest("id").due_after
    loaded = study.get_session_for(student, session.pk, lock=True)
    assert field_values(loaded) == field_values(StudySession.objects.get(pk=session.pk))
    assert loaded.answered_ids == [first] and loaded.last_activity_at.tzinfo is not None

    ids = [c.pk for c in setup.cards]
    orm = {card.pk: card for card in study.candidates_query(student, ids)}
    written = {card.pk: card for card in study.cards_to_study(student, ids)}
    assert orm.keys() == written.keys() == set(ids)
    for pk, card in written.items():
        assert field_values(card) == field_values(orm[pk])
        assert field_values(card.deck) == field_values(orm[pk].deck)
        for name in ["id", *scheduling.MEMORY_FIELDS]:
            assert getattr(card, f"state_{name}") == getattr(orm[pk], f"state_{name}"), (pk, name)
    assert written[first].state_id is not None and written[ids[-1]].state_id is None

    card = get_card_to_study_for(student, first)
    assert field_values(card) == field_values(orm[first]) and field_values(card.deck) == field_values(orm[first].deck)
    # The answer's card with its state (one statement, the state locked).
    decks = visible_decks(student)
    card, state_row = study._card_and_state_for(student, first, decks)
    assert field_values(card) == field_values(orm[first]) and field_values(card.deck) == field_values(orm[first].deck)
    assert field_values(state_row) == field_values(CardState.objects.get(student=student, card_id=first))
    assert study._card_and_state_for(student, ids[-1], decks)[1] is None  # no state yet
    for hidden in (10**12, "x", 0):
        with pytest.raises(Http404):
            study._card_and_state_for(student, hidden, decks)


def test_get_session_for_hides_other_students_sessions_and_bad_ids(teacher, student, outsider):
    setup = make_class(teacher, [student])
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    for who, pk in ((outsider, session.pk), (student, "x"), (student, 0), (student, 2**63), (student, None)):
        with pytest.raises(Http404):
            study.get_session_for(who, pk)
    for pk in ("x", 0, 2**63, setup.cards[0].pk + 10_000):
        with pytest.raises(Http404):
            get_card_to_study_for(student, pk)
    with pytest.raises(Http404):
        get_card_to_study_for(outsider, setup.cards[0].pk)  # not in a class of theirs


ANSWER_BODIES = [
    {"card": 7, "quality": 4},
    {"card": 7, "quality": 4, "idempotency_key": "k" * 64, "response_ms": 1200},
    {"card": 7, "quality": None, "answer": "a typed answer", "response_ms": None},
    {"card": 7, "answer": ""},
    {"card": 7},
    {"card": 7, "quality": 0, "response_ms": 0, "idempotency_key": ""},
    {"card": 2**63 - 1, "quality": 5, "response_ms": 2**31 - 1},
    # Everything below is left to the serializer (converted, or refused).
    {"card": "7", "quality": "4"},
    {"card": 7.0, "quality": 4},
    {"card": True, "quality": 4},
    {"card": 7, "quality": True},
    {"card": 0, "quality": 4},
    {"card": 2**63, "quality": 4},
    {"card": 7, "quality": 6},
    {"card": 7, "quality": -1},
    {"card": 7, "response_ms": -1},
    {"card": 7, "response_ms": 2**31},
    {"card": 7, "idempotency_key": "k" * 65},
    {"card": 7, "idempotency_key": " padded "},
    {"card": 7, "idempotency_key": None},
    {"card": 7, "idempotency_key": 12},
    {"card": 7, "idempotency_key": "nul\x00"},
    {"card": 7, "answer": "  trimmed  "},
    {"card": 7, "answer": "x" * 501},
    {"card": 7, "answer": "line\nbreak"},
    {"card": 7, "answer": "\ud800"},
    {"card": 7, "answer": 5},
    {"card": None},
    {"quality": 4},
    {},
]


@pytest.mark.parametrize("body", ANSWER_BODIES)
def test_answer_input_is_exactly_what_the_serializer_accepts(body):
    serializer = AnswerSerializer(data=body)
    if serializer.is_valid():
        assert dict(answer_values(body)) == dict(serializer.validated_data)
    else:
        with pytest.raises(ValidationError) as caught:
            answer_values(body)
        assert caught.value.detail == serializer.errors


def test_session_data_is_the_serializers_output(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    for mode in ("learn", "test", "cram"):
        session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode=mode)
        study.session_answer(
            student=student, session_id=session.pk, card_id=session.queue[0], quality=4, answer="a", response_ms=5
        )
        session = StudySession.objects.get(pk=session.pk)
        assert session_data(session) == StudySessionSerializer(session).data


@pytest.mark.redis
def test_an_answered_card_costs_two_redis_round_trips(transactional_db, real_redis, teacher, student, monkeypatch):
    """answer/?next=1 on Redis: the throttle's call also reads the student's
    visible decks (lms.throttling's read-ahead); the request metrics' call
    also carries the answer's after-commit invalidations
    (lms.cache.held_for_request). The cached decks still follow changes (a
    hidden card is 404) and the invalidations do reach the cache."""
    import os
    import uuid

    import redis

    from learning import progress
    from lms.cache import raw_client
    from ops import metrics

    store = metrics.RedisStore(os.environ["REDIS_URL"], prefix=f"test-study-trips:{uuid.uuid4().hex}")
    metrics.set_store(store)
    setup = make_class(teacher, [student], cards_per_deck=4)
    api = token_client(student)
    session = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    url = f"{SESSIONS}{session.json()['id']}/"
    body = api.get(url + "next/").json()
    pools = {raw_client().connection_pool: "cache", store.client.connection_pool: "metrics"}
    trips: list[str] = []
    command, execute = redis.Redis.execute_command, redis.client.Pipeline.execute

    def one(self, *args, **kwargs):
        if self.connection_pool in pools:
            trips.append(f"{pools[self.connection_pool]} {args[0]}")
        return command(self, *args, **kwargs)

    def piped(self, *args, **kwargs):
        if self.connection_pool in pools:
            trips.append(f"{pools[self.connection_pool]} " + "+".join(str(c[0][0]) for c in self.command_stack))
        return execute(self, *args, **kwargs)

    try:
        cache_key = progress._dashboard_key(student.pk)
        cache.set(cache_key, "cached", 300)
        monkeypatch.setattr(redis.Redis, "execute_command", one)
        monkeypatch.setattr(redis.client.Pipeline, "execute", piped)
        response = api.post(
            url + "answer/?next=1",
            {"card": body["card"]["id"], "quality": 4, "idempotency_key": body["idempotency_key"]},
            format="json",
        )
        assert response.status_code == 201, response.content
        assert trips[0] == "cache EVALSHA+MGET"  # the throttle and the visible decks
        assert len(trips) == 2 and trips[1].startswith("metrics EVALSHA+DEL+SET"), trips  # + the invalidations
        trips.clear()
        assert api.get(url + "next/").status_code == 200
        assert trips == ["cache EVALSHA+MGET", "metrics EVALSHA"]
        monkeypatch.undo()
        assert cache.get(cache_key) is None  # the answer's invalidation did reach the cache

        setup.lesson.published = False  # the decks' generation moves: the read-ahead entry is stale
        setup.lesson.save()
        following = response.json()["next"]
        refused = api.post(
            url + "answer/",
            {"card": following["card"]["id"], "quality": 4, "idempotency_key": following["idempotency_key"]},
            format="json",
        )
        assert refused.status_code == 404
    finally:
        store.reset()
        metrics.set_store(None)


@pytest.mark.postgres
def test_the_study_loops_statements_are_prepared_and_no_other(transactional_db, teacher, student):
    """PostgreSQL parses and plans the study loop's statements once per
    connection (lms.rawsql prepares them); an ORM query run as often keeps a
    plan made for its own values (analytics over date ranges)."""
    setup = make_class(teacher, [student], cards_per_deck=6)
    api = token_client(student)
    session = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    url = f"{SESSIONS}{session.json()['id']}/"
    body = api.get(url + "next/").json()
    for _ in range(4):
        response = api.post(
            url + "answer/?next=1",
            {"card": body["card"]["id"], "quality": 4, "idempotency_key": body["idempotency_key"]},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()["next"]
    for _ in range(10):
        list(Deck.objects.filter(pk=setup.decks[0].pk))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = sorted({statement(sql) for (sql,) in cursor.fetchall()})
    # The token, next/'s session, the locked session with the card and its
    # state, the writes, the next card: each prepared once, whatever the
    # number of answers; not the ORM's query of the deck.
    expected = {"SELECT lms_apitoken", "SELECT learning_studysession", *answer_reads(), *answer_writes()}
    assert prepared == sorted({*expected, "SELECT learning_card"}), prepared


@pytest.mark.postgres
def test_statements_with_more_values_than_the_protocol_carries_still_run(teacher):
    """Server-side binding carries at most 65,535 values a statement: only the
    study loop's few-valued statements use it, so an ORM `__in` of a big
    import's ids, or a written-out statement that long, still runs."""
    from lms import rawsql

    deck = Deck.objects.create(owner=teacher, title="Big")
    card = Card.objects.create(deck=deck, front="q", back="a")
    ids = [card.pk, *range(10**9, 10**9 + 70_000)]
    assert [c.pk for c in Card.objects.filter(pk__in=ids)] == [card.pk]
    sql = f"SELECT id FROM learning_card WHERE id IN ({', '.join(['%s'] * len(ids))})"
    assert rawsql.fetch_all(sql, ids) == [(card.pk,)]


@pytest.mark.postgres
def test_prepared_statements_can_be_turned_off():
    """DB_PREPARED_STATEMENTS=0 (a pooler without prepared statements):
    Django's client-side binding, and the same statements run unprepared."""
    from tests.lms.test_settings import GOOD_KEY, manage

    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    script = (
        "from django.db import connection; from lms import rawsql\n"
        "for _ in range(3): rawsql.fetch_one('SELECT 1 FROM lms_user WHERE id = %s', [1])\n"
        "with connection.cursor() as c: c.execute('SELECT count(*) FROM pg_prepared_statements'); print(c.fetchone()[0])"
    )
    for value, prepared in (("1", "1"), ("0", "0")):
        result = manage(
            "shell", "-c", script, DATABASE_URL=url, DB_PREPARED_STATEMENTS=value,
            DEBUG="0", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="localhost",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-1] == prepared, (value, result.stdout)
