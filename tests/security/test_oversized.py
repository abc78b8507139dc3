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


def test_a_huge_upload_is_refused_from_its_content_length(client_for, api_for, teacher, settings) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMPORT_MAX_UPLOAD_BYTES = 2000
    big = SimpleUploadedFile("deck.csv", b"a;b\n" * 1000, content_type="text/csv")
    page = client_for(teacher).post(reverse("learning:deck_import_new"), {"file": big})
    assert page.status_code == 413
    big.seek(0)
    api = api_for(teacher).post("/api/v1/decks/import/", {"file": big}, format="multipart")
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "too_large"


def test_imports_have_their_own_cap_above_the_general_one(client_for, api_for, teacher, settings) -> None:
    """A deck import may be bigger than any other request (IMPORT_MAX_UPLOAD_BYTES);
    every other endpoint keeps MAX_REQUEST_BYTES."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MAX_REQUEST_BYTES = 2000
    settings.IMPORT_MAX_UPLOAD_BYTES = 20_000
    rows = b"".join(b"front %d;back %d\n" % (i, i) for i in range(300))  # about 5 kB
    api = api_for(teacher).post(
        "/api/v1/decks/import/", {"file": SimpleUploadedFile("deck.csv", rows)}, format="multipart"
    )
    assert api.status_code == 201, api.content
    page = client_for(teacher).post(reverse("learning:deck_import_new"), {"file": SimpleUploadedFile("d.csv", rows)})
    assert page.status_code in (200, 302) and b"Too large" not in page.content
    other = client_for(teacher).post(reverse("learning:card_preview"), {"front": "x" * 5000})
    assert other.status_code == 413
