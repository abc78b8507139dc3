"""The mismatches issue #13 found between the API and its schema, each pinned down."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from learning import study
from tests.learning.study_setup import make_class

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def test_every_operation_documents_the_error_statuses_in_the_error_shape(openapi) -> None:
    operations = [op for ops in openapi["paths"].values() for m, op in ops.items() if m in {"get", "post", "delete"}]
    assert len(operations) > 100
    for operation in operations:
        for status in ("400", "401", "403", "404", "409", "413", "422", "429"):
            content = operation["responses"][status]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/Error"}, (operation["operationId"], status)
    assert openapi["components"]["schemas"]["Error"]["required"] == ["error"]


def test_the_deck_export_documents_each_file_type(openapi) -> None:
    content = openapi["paths"]["/api/v1/decks/{id}/export/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/csv", "application/json", "application/octet-stream"}


def test_incident_people_and_rule_are_nullable_in_the_schema_and_null_in_fact(openapi, api_for, admin) -> None:
    incident = openapi["components"]["schemas"]["Incident"]["properties"]
    assert incident["commander"]["nullable"] and incident["rule"]["nullable"]
    assert openapi["components"]["schemas"]["Update"]["properties"]["author"]["nullable"]
    created = api_for(admin).post("/api/v1/incidents/", {"title": "Slow pages", "severity": 3}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["commander"] is None and created.json()["rule"] is None


def test_next_on_a_finished_session_has_every_documented_key(api_for, teacher, student, openapi) -> None:
    setup = make_class(teacher, [student], cards_per_deck=2)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    study.session_end(student=student, session_id=session.pk)
    body = api_for(student).get(f"/api/v1/study-sessions/{session.pk}/next/").json()
    assert body["done"] is True
    documented = openapi["components"]["schemas"]["NextCard"]
    assert set(documented["required"]) <= set(body)
    assert body["first_answer"] is None and body["idempotency_key"] is None and body["remaining"] == 0


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "٣"])
def test_a_wrong_page_size_is_a_400(api_for, teacher, value) -> None:
    response = api_for(teacher).get(f"/api/v1/classrooms/?page_size={value}")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"page_size": ["Enter a whole number from 1 to 200."]}


def test_a_large_page_size_is_served_as_200(api_for, teacher) -> None:
    assert api_for(teacher).get("/api/v1/classrooms/?page_size=5000").status_code == 200


@pytest.mark.parametrize("query", ["dir=sideways", "sort=shoe_size"])
def test_an_unknown_sort_or_direction_on_class_progress_is_a_400(api_for, teacher, student, query) -> None:
    setup = make_class(teacher, [student])
    response = api_for(teacher).get(f"/api/v1/classrooms/{setup.classroom.pk}/progress/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    ok = api_for(teacher).get(f"/api/v1/classrooms/{setup.classroom.pk}/progress/?sort=backlog&dir=desc")
    assert ok.status_code == 200
