"""The schema is the truth: schemathesis generates requests for every operation
of /api/schema/, as a student, a teacher and an admin, and fails on any server
error or any response the schema does not describe (status, content type, body).

Fixed seed and a bounded number of examples per operation keep the run
repeatable and under a minute on two cores (SCHEMATHESIS_EXAMPLES raises it
for a longer hunt). The requests go straight to the WSGI application, inside
the test's database transaction.
"""

from __future__ import annotations

import json
import os

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from lms.demo import DEMO_PASSWORD
from lms.wsgi import application
from tests.factories import UserFactory

EXAMPLES = int(os.getenv("SCHEMATHESIS_EXAMPLES", "2"))
# A server error, and anything the schema does not describe: status, content type, body.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
)


@pytest.fixture(params=["student", "teacher", "admin"])
def auth_header(request: pytest.FixtureRequest) -> dict[str, str]:
    """A small world (a class with a deck of cards the student is enrolled in)
    and the token of one persona, obtained as any client would."""
    teacher = UserFactory(username="tess", role="teacher")
    student = UserFactory(username="sam", role="student")
    admin = UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True)
    classroom = Classroom.objects.create(name="Biology", teacher=teacher)
    Enrollment.objects.create(classroom=classroom, student=student)
    course = Course.objects.create(classroom=classroom, title="Cells")
    lesson = Lesson.objects.create(course=course, title="Mitosis", published=True)
    deck = Deck.objects.create(title="Phases", owner=teacher, lesson=lesson)
    for i in range(3):
        Card.objects.create(deck=deck, front=f"front {i}", back=f"back {i}", position=i)
    user = {"student": student, "teacher": teacher, "admin": admin}[request.param]
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.content
    return {"Authorization": f"Token {response.json()['token']}"}


@pytest.fixture
def wsgi_in_the_test_transaction() -> None:
    # Django closes "old" connections when a request starts and ends; inside a
    # test's transaction that would close it. Django's test client does the same
    # (and connects them again after each of its requests: hence this fixture
    # comes after auth_header, which uses the test client).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.generate],
)
def test_every_operation_matches_its_schema(case, auth_header, wsgi_in_the_test_transaction) -> None:
    case.call_and_validate(app=application, headers=auth_header, checks=CHECKS)
