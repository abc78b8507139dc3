"""Personas and plumbing shared by every test.

Personas: `admin`, `teacher` (owns the class in learning tests), `rival_teacher`
(teaches another class), `student` (enrolled), `outsider` (a student who is not).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from lms import cache as lms_cache
from lms.celery import app as celery_app
from lms.models import User
from ops.services import forget_switch
from tests.factories import UserFactory


@pytest.hookimpl(tryfirst=True)  # mark before pytest-django orders tests by their marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = "postgres" in os.getenv("DATABASE_URL", "")
    has_redis = bool(os.getenv("REDIS_URL"))
    for item in items:
        # pytest-django creates the test database only when a collected test
        # asks for it by marker or fixture name; `_isolation` below asks at run
        # time, too late, and tests would then write to the development
        # database. The marker makes every test count.
        uses_db = {"db", "transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
        if not uses_db and item.get_closest_marker("django_db") is None:
            item.add_marker(pytest.mark.django_db)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))


@pytest.fixture(autouse=True)
def _isolation(request: pytest.FixtureRequest) -> None:
    """Every test may use the database, starts with an empty cache and runs
    Celery tasks inline."""
    if "live_server" not in request.fixturenames and "transactional_db" not in request.fixturenames:
        request.getfixturevalue("db")
    cache.clear()
    # Per process too: an open breaker, or invalidations owed to another
    # test's Redis, must not reach the next test.
    lms_cache.reset_breaker()
    lms_cache.forget_unsent()
    celery_app.conf.task_always_eager = True
    # The maintenance switch's state is kept per process; a test that turned
    # it on must not leave the next test in maintenance.
    forget_switch()


@pytest.fixture
def real_redis(settings: pytest.FixtureRequest) -> Iterator[None]:
    """The default cache on the Redis of REDIS_URL (tests marked `redis`),
    under a key prefix of its own, instead of the tests' local memory."""
    settings.CACHES = {
        "default": {
            "BACKEND": "lms.cache.FailOpenRedisCache",
            "LOCATION": os.environ.get("REDIS_URL", ""),
            "KEY_PREFIX": f"lms-test-{uuid.uuid4().hex}",  # nobody else's keys
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }
    yield
    cache.clear()


@pytest.fixture
def own_redis(tmp_path: object) -> Iterator[object]:
    """A real redis-server of this test's own (tests/redis_server.py), stopped
    at the end; the test is skipped where `redis-server` is not installed."""
    from tests import redis_server

    if not redis_server.available():
        pytest.skip("needs redis-server on PATH")
    server = redis_server.RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def admin() -> User:
    return UserFactory(username="ada", role=User.Role.ADMIN)


@pytest.fixture
def teacher() -> User:
    return UserFactory(username="tess", role=User.Role.TEACHER)


@pytest.fixture
def rival_teacher() -> User:
    return UserFactory(username="rita", role=User.Role.TEACHER)


@pytest.fixture
def student() -> User:
    return UserFactory(username="sam", role=User.Role.STUDENT, timezone="Europe/Berlin")


@pytest.fixture
def outsider() -> User:
    return UserFactory(username="olly", role=User.Role.STUDENT)


@pytest.fixture
def client_for() -> Callable[[User | None], Client]:
    """A browser-like client signed in as the given user (or anonymous)."""

    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def api_for() -> Callable[[User | None], APIClient]:
    """An API client authenticated as the given user (or anonymous)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def probed() -> None:
    """Every component probed healthy just now (the status page has data)."""
    from django.utils import timezone

    from ops.models import HealthProbe

    now = timezone.now()
    HealthProbe.objects.bulk_create(
        HealthProbe(component=c.value, status="healthy", latency_ms=1, checked_at=now) for c in HealthProbe.Component
    )
