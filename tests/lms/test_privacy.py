"""Download my data (exactly mine, nobody else's) and delete my account (with a grace period)."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import Event, Feedback
from learning import study
from learning.models import Card, CardState, Deck, Review, StudySession
from lms import privacy, tasks
from lms.models import ApiToken, DataExport, User
from lms.tokens import token_issue
from tests.learning.study_setup import make_class

PASSWORD = "demo-pass-123"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _study(person: User, lesson_id: int) -> None:
    session = study.session_start(student=person, scope_type="lesson", scope_id=lesson_id, mode="learn")
    for card_id in list(session.queue[:2]):
        study.session_answer(student=person, session_id=session.pk, card_id=card_id, quality=4)


@pytest.fixture
def two_learners(teacher, student, outsider):
    setup = make_class(teacher, [student, outsider], cards_per_deck=3)
    for person, title in ((student, "Sam's verbs"), (outsider, "Olly's secrets")):
        _study(person, setup.lesson.pk)
        deck = Deck.objects.create(title=title, owner=person)
        Card.objects.create(deck=deck, front=f"{title} front", back=f"{title} back")
        Event.objects.create(name="deck_created", user=person, properties={"who": person.username})
        Feedback.objects.create(user=person, kind="idea", message=f"feedback from {person.username}")
    return setup


def _request_export(client: Client, django_capture_on_commit_callbacks) -> DataExport:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/data/export/")
    assert response.status_code == 302
    return DataExport.objects.get()


def test_my_export_holds_exactly_my_data(
    two_learners, student, outsider, client_for, django_capture_on_commit_callbacks
):
    client = client_for(student)
    export = _request_export(client, django_capture_on_commit_callbacks)
    assert export.status == DataExport.Status.READY and export.user == student

    # The email carries a link to the permission-checked download.
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [student.email]
    link = f"/accounts/data/export/{export.pk}/download/"
    assert link in mail.outbox[0].body

    response = client.get(link)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    deck = Deck.objects.get(owner=student)
    assert {
        "profile.json",
        "enrolments.json",
        "reviews.csv",
        "study_sessions.csv",
        "events.json",
        "feedback.json",
        f"decks/{deck.pk}-sam-s-verbs.json",
        f"decks/{deck.pk}-sam-s-verbs.apkg",
    } <= names

    assert json.loads(archive.read("profile.json"))["username"] == student.username
    assert [e["class"] for e in json.loads(archive.read("enrolments.json"))] == ["Biology"]
    reviews = list(csv.DictReader(io.StringIO(archive.read("reviews.csv").decode())))
    assert len(reviews) == Review.objects.filter(student=student).count() > 0
    sessions = list(csv.DictReader(io.StringIO(archive.read("study_sessions.csv").decode())))
    assert {int(s["id"]) for s in sessions} == set(
        StudySession.objects.filter(student=student).values_list("pk", flat=True)
    )
    events = json.loads(archive.read("events.json"))
    assert events and all(e["properties"].get("who") in (None, student.username) for e in events)
    feedback = json.loads(archive.read("feedback.json"))["feedback"]
    assert [f["message"] for f in feedback] == ["feedback from sam"]
    # The .apkg is a real Anki package (a zip holding the collection).
    apkg = zipfile.ZipFile(io.BytesIO(archive.read(f"decks/{deck.pk}-sam-s-verbs.apkg")))
    assert any(n.startswith("collection.anki2") for n in apkg.namelist())

    # Nothing of Olly's anywhere.
    everything = b"".join(archive.read(n) for n in names if not n.endswith(".apkg"))
    assert b"Olly" not in everything and b"olly" not in everything


def test_someone_elses_export_is_404(two_learners, student, outsider, client_for, django_capture_on_commit_callbacks):
    export = _request_export(client_for(student), django_capture_on_commit_callbacks)
    link = f"/accounts/data/export/{export.pk}/download/"
    assert client_for(outsider).get(link).status_code == 404
    anonymous = Client().get(link)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_an_expired_export_is_404_and_the_daily_job_removes_it(
    two_learners, student, client_for, django_capture_on_commit_callbacks
):
    client = client_for(student)
    export = _request_export(client, django_capture_on_commit_callbacks)
    path = export.file.path
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(f"/accounts/data/export/{export.pk}/download/").status_code == 404
    assert tasks.privacy_daily()["exports_deleted"] == 1
    assert not DataExport.objects.exists()
    assert not os.path.exists(path)


def test_export_needs_post_and_log_in(student, client_for):
    assert client_for(student).get("/accounts/data/export/").status_code == 405
    assert Client().post("/accounts/data/export/").status_code == 302
    assert not DataExport.objects.exists()


def test_a_second_request_while_one_is_pending_adds_nothing(student):
    first = privacy.data_export_request(user=student)
    assert privacy.data_export_request(user=student) == first
    assert DataExport.objects.count() == 1


def test_a_failed_export_says_so_and_to_ask_again(student, client_for):
    DataExport.objects.create(user=student, status=DataExport.Status.FAILED, finished_at=timezone.now())
    page = client_for(student).get("/accounts/data/").content.decode()
    assert '<strong class="error">Failed</strong>: we could not prepare this copy.' in page
    assert "Please ask again: press “Prepare my data” above." in page


def test_an_older_failed_export_under_a_newer_one_does_not_ask_again(student, client_for):
    DataExport.objects.create(
        user=student, status=DataExport.Status.FAILED, created_at=timezone.now() - timedelta(days=1)
    )
    DataExport.objects.create(user=student)
    page = client_for(student).get("/accounts/data/").content.decode()
    assert "Being prepared" in page and "Failed</strong>" in page
    assert "ask again" not in page


def test_asking_again_after_a_failure_prepares_a_new_export(
    student, client_for, settings, django_capture_on_commit_callbacks
):
    failed = DataExport.objects.create(user=student, status=DataExport.Status.FAILED, finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(student).post("/accounts/data/export/").status_code == 302
    new = DataExport.objects.exclude(pk=failed.pk).get()
    assert new.status == DataExport.Status.READY and len(mail.outbox) == 1
    assert DataExport.objects.get(pk=failed.pk).status == DataExport.Status.FAILED


# --- Delete my account -------------------------------------------------------------


def test_wrong_password_deletes_nothing(student, client_for):
    response = client_for(student).post("/accounts/delete/", {"password": "nope-nope", "confirm": "on"})
    assert response.status_code == 400
    student.refresh_from_db()
    assert student.deletion_requested_at is None


def test_unconfirmed_request_deletes_nothing(student, client_for):
    response = client_for(student).post("/accounts/delete/", {"password": PASSWORD})
    assert response.status_code == 400
    student.refresh_from_db()
    assert student.deletion_requested_at is None


def test_deletion_request_signs_out_everywhere_and_emails(student, client_for):
    _, raw = token_issue(user=student)
    other_browser = client_for(student)
    client = client_for(student)
    response = client.post("/accounts/delete/", {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302
    student.refresh_from_db()
    assert student.deletion_requested_at is not None
    assert not ApiToken.objects.filter(user=student).exists()
    assert APIClient().get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Token {raw}").status_code == 401
    assert other_browser.get("/accounts/profile/").status_code == 302
    assert mail.outbox[-1].to == [student.email] and "deleted" in mail.outbox[-1].subject


def test_logging_in_during_the_grace_period_cancels(student):
    privacy.account_deletion_request(user=student)
    response = Client().post("/accounts/login/", {"username": student.username, "password": PASSWORD})
    assert response.status_code == 302
    student.refresh_from_db()
    assert student.deletion_requested_at is None
    assert privacy.accounts_delete_due(now=timezone.now() + timedelta(days=30)) == []
    assert User.objects.filter(pk=student.pk).exists()


def test_an_api_log_in_cancels_too(student):
    privacy.account_deletion_request(user=student)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": student.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    student.refresh_from_db()
    assert student.deletion_requested_at is None


def test_the_daily_job_deletes_after_the_grace_period_only(two_learners, student, outsider, settings):
    settings.ACCOUNT_DELETION_GRACE_DAYS = 7
    privacy.account_deletion_request(user=student, now=timezone.now() - timedelta(days=6))
    assert tasks.privacy_daily()["accounts_deleted"] == []
    assert User.objects.filter(pk=student.pk).exists()

    User.objects.filter(pk=student.pk).update(deletion_requested_at=timezone.now() - timedelta(days=8))
    outsiders_reviews = Review.objects.filter(student=outsider).count()
    assert tasks.privacy_daily()["accounts_deleted"] == [student.username]
    assert not User.objects.filter(pk=student.pk).exists()
    assert not Review.objects.filter(student_id=student.pk).exists()
    assert not CardState.objects.filter(student_id=student.pk).exists()
    assert not Event.objects.filter(user_id=student.pk).exists()
    assert Review.objects.filter(student=outsider).count() == outsiders_reviews


def test_privacy_page_is_public_and_names_the_retention(client, settings):
    settings.AXES_RECORD_RETENTION_DAYS = 30
    response = client.get("/privacy/")
    assert response.status_code == 200
    assert "30 days" in response.content.decode()
