"""A request whose work goes to Celery, with the broker down: no 500, the
user told where the page can say so, and no record left waiting for a task
that will never run (lms.queueing). Before, the failed send raised out of the
commit and the request answered 500 with its rows saved."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from learning.models import FsrsFit, ImportJob
from lms.models import DataExport
from lms.queueing import enqueue_failures
from ops.models import Subscriber
from tests.learning.study_setup import make_class
from tests.lms.signup_helpers import post_signup
from tests.ops.test_broker_outage import broker  # noqa: F401 - the fixture
from tests.ports import closed_port


def down(broker) -> None:  # noqa: F811
    broker(f"redis://127.0.0.1:{closed_port()}/0")


def failures(task: str) -> float:
    return enqueue_failures.labels(task=task)._value.get()


def test_a_data_export_asked_for_while_the_broker_is_down_says_to_try_again(broker, student, client_for):  # noqa: F811
    down(broker)
    client = client_for(student)
    before = failures("lms.tasks.build_data_export")
    response = client.post("/accounts/data/export/")
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "We could not start preparing your data just now. Please try again in a few minutes."
    ]
    assert DataExport.objects.get().status == DataExport.Status.PENDING  # asking again sends it again
    assert failures("lms.tasks.build_data_export") == before + 1


def test_a_background_import_while_the_broker_is_down_fails_at_once_with_its_reason(
    broker,  # noqa: F811
    teacher,
    api_for,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    settings.IMPORT_BACKGROUND_CARDS = 5
    settings.MEDIA_ROOT = tmp_path / "media"
    down(broker)
    rows = "".join(f"Term {i};Meaning {i}\n" for i in range(12)).encode()
    client = api_for(teacher)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/decks/import/", {"file": SimpleUploadedFile("big.csv", rows, "text/csv")}, format="multipart"
        )
    assert response.status_code == 202, response.content
    status = client.get(response.json()["status_url"]).json()
    assert status["status"] == "failed" and status["error"]["code"] == "queue_unavailable"
    job = ImportJob.objects.get()
    assert not (tmp_path / "media" / job.file).exists()  # its upload removed, nothing left waiting


def test_the_optimiser_asked_for_while_the_broker_is_down(broker, admin, teacher, client_for, api_for):  # noqa: F811
    setup = make_class(teacher, [], cards_per_deck=1)
    down(broker)
    response = api_for(admin).post(f"/api/v1/classrooms/{setup.classroom.pk}/fsrs-fits/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "unavailable"
    assert response.json()["error"]["details"] == {"retry_after": 30}
    page = client_for(admin).post(f"/classes/{setup.classroom.pk}/scheduling/optimize/")
    assert page.status_code == 302
    assert ["could not be started" in str(m) for m in get_messages(page.wsgi_request)] == [True]
    assert not FsrsFit.objects.exists()


def test_signing_up_and_subscribing_while_the_broker_is_down_answer_as_usual(
    broker,  # noqa: F811
    client,
    django_capture_on_commit_callbacks,
):
    down(broker)
    before = failures("lms.tasks.send_signup_mail")
    response = post_signup(client, django_capture_on_commit_callbacks)
    assert response.status_code == 200 and b"newbie@example.com" in response.content
    assert failures("lms.tasks.send_signup_mail") == before + 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/status/subscribe/", {"email": "fan@example.com", "kind": "email"})
    assert response.status_code in (200, 302)
    assert Subscriber.objects.filter(email="fan@example.com").exists()
    assert mail.outbox == []  # nothing sent, nothing claimed
