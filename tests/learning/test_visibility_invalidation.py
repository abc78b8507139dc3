"""A student's cached visible decks (learning.visibility) follow their
removal from a class and the unpublishing of a lesson even when the process
that made the change could not reach Redis, or Redis refused the
invalidation: the process keeps what it owes and sends it before anything
else once Redis answers (lms.cache). Before, the delete or generation bump
was dropped and every other process served the stale entry for up to six
hours: a removed student kept studying the class's decks.

Each test runs its own redis-server (tests/redis_server.py); the cache, the
request metrics and the throttle all live there, so its command counts are
the study loop's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from learning import services, visibility
from lms import cache as lms_cache
from ops import metrics
from tests.learning.study_setup import make_class
from tests.ops.test_health_dependencies import redis_cache

SESSIONS = "/api/v1/study-sessions/"


@pytest.fixture
def on_own_redis(settings, own_redis, transactional_db) -> Iterator[object]:
    """The cache and the request metrics on `own_redis`; transactions really
    commit, so the after-commit invalidations run too."""
    settings.CACHES = redis_cache(own_redis.url)
    metrics.set_store(metrics.RedisStore(own_redis.url, prefix="test-visibility"))
    yield own_redis
    metrics.set_store(None)


def _studying(teacher, student, api_for) -> tuple[object, object, str, dict]:
    """The student mid-session on the class's first deck, their visible
    decks cached by the `next/` that showed the card."""
    setup = make_class(teacher, [student], cards_per_deck=3)
    api = api_for(student)
    started = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    assert started.status_code == 201, started.content
    url = f"{SESSIONS}{started.json()['id']}/"
    shown = api.get(url + "next/").json()
    assert cache.get(visibility._user_key(student.pk)) is not None
    return setup, api, url, shown


def _elsewhere(server, student) -> visibility.VisibleDecks:
    """What another process (its breaker closed) makes of what Redis holds."""
    keys = visibility.cache_keys(student)
    values = server.client.mget([cache.make_key(key) for key in keys])
    found = {key: cache.client.decode(value) for key, value in zip(keys, values, strict=True) if value is not None}
    return visibility.visible_decks(student, read_ahead=found)


def _answer(api, url: str, shown: dict) -> int:
    body = {"card": shown["card"]["id"], "quality": 4, "idempotency_key": shown["idempotency_key"]}
    return api.post(url + "answer/", body, format="json").status_code


def _cannot_send(server, how: str) -> None:
    if how == "breaker":  # a socket timeout a moment ago: calls skip Redis for CACHE_BREAKER_SECONDS
        lms_cache._trip(TimeoutError("timed out"))
    else:
        server.refuse(how)


def _redis_answers_again(server, how: str) -> None:
    if how != "breaker":
        server.accept()
    lms_cache.reset_breaker()  # CACHE_BREAKER_SECONDS later


@pytest.mark.parametrize("how", ["breaker", "readonly"])
def test_a_student_removed_while_the_cache_cannot_take_the_invalidation_is_refused_once_it_can(
    how, on_own_redis, teacher, student, api_for
) -> None:
    setup, api, url, shown = _studying(teacher, student, api_for)

    _cannot_send(on_own_redis, how)
    services.enrollment_remove(classroom=setup.classroom, student_id=student.pk)
    assert _elsewhere(on_own_redis, student).can_read(setup.decks[0].pk)  # stale, served by every other process

    _redis_answers_again(on_own_redis, how)
    assert _answer(api, url, shown) == 404


@pytest.mark.parametrize("how", ["breaker", "oom"])
def test_a_lesson_unpublished_while_the_cache_cannot_take_the_bump_hides_its_decks_once_it_can(
    how, on_own_redis, teacher, student, api_for
) -> None:
    setup, api, url, shown = _studying(teacher, student, api_for)
    generation = on_own_redis.client.get(cache.make_key(visibility.GENERATION_KEY))

    _cannot_send(on_own_redis, how)  # under OOM a delete still goes through, a SET does not
    services.lesson_update(lesson=setup.lesson, published=False)
    assert on_own_redis.client.get(cache.make_key(visibility.GENERATION_KEY)) == generation
    assert _elsewhere(on_own_redis, student).can_read(setup.decks[0].pk)

    _redis_answers_again(on_own_redis, how)
    assert _answer(api, url, shown) == 404
    assert on_own_redis.client.get(cache.make_key(visibility.GENERATION_KEY)) != generation


def test_an_answer_costs_the_same_redis_commands_and_a_recovery_adds_one_resend(
    on_own_redis, teacher, student, api_for
) -> None:
    """The study loop's hot path is unchanged: the visible decks come with the
    throttle's call, the answer's invalidations with the metrics' call. After
    an outage the first call sends what was owed (one pipeline), once."""
    _, api, url, shown = _studying(teacher, student, api_for)

    # The commands we send (those the scripts run inside, ZADD, HINCRBY...,
    # vary with the minute and the route's first request).
    ours = ("evalsha", "evalsha_ro", "eval", "mget", "get", "set", "del", "unlink", "exists", "scan", "ping")

    def answered_next(shown: dict) -> tuple[dict, dict[str, int]]:
        before = on_own_redis.command_calls()
        body = {"card": shown["card"]["id"], "quality": 4, "idempotency_key": shown["idempotency_key"]}
        response = api.post(url + "answer/?next=1", body, format="json")
        assert response.status_code == 201, response.content
        after = on_own_redis.command_calls()
        calls = {name: after.get(name, 0) - before.get(name, 0) for name in ours}
        return response.json()["next"], {name: n for name, n in calls.items() if n}

    shown, usual = answered_next(shown)
    # The throttle's script and the decks' MGET; the metrics' script, the
    # dashboard's DEL and the figure tokens' SETs (the student's, the card's).
    assert usual == {"evalsha": 2, "mget": 1, "del": 1, "set": 2}, usual
    shown, again = answered_next(shown)
    assert again == usual

    lms_cache._trip(TimeoutError("timed out"))
    lms_cache.invalidate(delete=["some:entry", "another:entry"], bump=["some:token"])
    lms_cache.reset_breaker()
    shown, first = answered_next(shown)
    assert first == {**usual, "del": usual["del"] + 1, "set": usual["set"] + 1}, first  # + the owed pipeline
    shown, then = answered_next(shown)
    assert then == usual


def test_a_reader_that_computed_before_the_removal_and_stored_after_it_does_not_keep_the_student_in(
    teacher, student, monkeypatch
) -> None:
    """Another request read the cache and the enrolments just before the
    removal committed, and stored its entry just after the removal's
    invalidation: a deleted entry would come back stale (for the entries'
    whole lifetime); a per-user token moved by the removal makes it stale."""
    setup = make_class(teacher, [student], cards_per_deck=1)
    deck = setup.decks[0].pk
    read_before = cache.get_many(visibility.cache_keys(student))
    computed_before = visibility.compute_visible_decks(student)
    assert computed_before.can_read(deck)

    services.enrollment_remove(classroom=setup.classroom, student_id=student.pk)

    monkeypatch.setattr(visibility, "compute_visible_decks", lambda user: computed_before)
    visibility.visible_decks(student, read_ahead=read_before)  # stores the old answer, late
    monkeypatch.undo()
    assert not visibility.visible_decks(student).can_read(deck)
