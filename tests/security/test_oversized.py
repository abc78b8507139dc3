"""A body over the upload limits is a 413 on pages too, never a 500 (nor a vague 400)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_oversized_form_post_to_a_page_is_413(client_for, student, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_for(student).post(reverse("learning:card_preview"), {"front": "x" * 5000})
    assert response.status_code == 413
    assert b"Too large" in response.content


def test_too_many_fields_is_413(client_for, student, settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = client_for(student).post(reverse("learning:card_preview"), {f"f{i}": "x" for i in range(20)})
    assert response.status_code == 413


def test_oversized_json_to_the_api_is_413_in_the_error_shape(api_for, student, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_for(student).post(
        reverse("api-analytics-events"),
        {"events": [{"name": "card_flipped", "properties": {"a": "x" * 5000}}]},
        format="json",
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
