"""The class scheduling page and API: fits, evaluation, leeches; who may see and run what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from learning.fsrs_optimizer import optimize
from learning.models import CardState, Deck, FsrsFit
from tests.learning.fsrs_synthetic import simulate
from tests.learning.study_setup import make_class

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def setup(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=4, scheduler="fsrs")
    simulate([student], setup.cards, reviews_per_card=4)
    return setup


def test_teacher_sees_decks_fits_evaluation_and_leeches(client_for, teacher, student, setup):
    FsrsFit.objects.create(
        classroom=setup.classroom,
        fitted_at=timezone.now(),
        review_count=1234,
        log_loss_before=0.41,
        log_loss_after=0.38,
        rmse_before=0.05,
        rmse_after=0.03,
        parameters=[0.1] * 21,
        decks_updated=1,
    )
    CardState.objects.create(student=student, card=setup.cards[0], due_at=T0, lapses=9, suspended=True, status="review")
    page = client_for(teacher).get(f"/classes/{setup.classroom.pk}/scheduling/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "FSRS-6 (memory model)" in html and "1234" in html and "0.4100 → 0.3800" in html
    assert "data-evaluation" in html and 'data-scheduler="sm2-published"' in html
    assert f'data-leech="{setup.cards[0].pk}"' in html and "Unsuspend" in html
    assert "Run the optimiser now" not in html  # admins only


def test_scheduling_page_refusals(client_for, rival_teacher, student, outsider, setup):
    url = f"/classes/{setup.classroom.pk}/scheduling/"
    assert client_for(student).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(rival_teacher).get(url).status_code == 404


def test_admin_runs_the_optimiser_now_and_teacher_cannot(
    client_for, admin, teacher, setup, django_capture_on_commit_callbacks
):
    url = f"/classes/{setup.classroom.pk}/scheduling/optimize/"
    assert client_for(teacher).post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(url)
    assert response.status_code == 302
    # Eager Celery in tests: the fit ran (too few reviews here: recorded as skipped).
    fit = FsrsFit.objects.get()
    assert fit.classroom == setup.classroom and fit.skipped
    assert (
        "Run the optimiser now" in client_for(admin).get(f"/classes/{setup.classroom.pk}/scheduling/").content.decode()
    )


def test_teacher_unsuspends_a_leech_for_the_class(client_for, teacher, rival_teacher, student, setup):
    state = CardState.objects.create(
        student=student, card=setup.cards[0], due_at=T0, lapses=9, suspended=True, status="review"
    )
    url = f"/classes/{setup.classroom.pk}/scheduling/cards/{setup.cards[0].pk}/unsuspend/"
    assert client_for(rival_teacher).post(url).status_code == 404
    assert client_for(student).post(url).status_code == 403
    state.refresh_from_db()
    assert state.suspended
    assert client_for(teacher).post(url).status_code == 302
    state.refresh_from_db()
    assert not state.suspended and state.lapses == 9


def test_api_evaluation_and_fits(api_for, teacher, admin, student, setup, django_capture_on_commit_callbacks):
    api = api_for(teacher)
    body = api.get(f"/api/v1/classrooms/{setup.classroom.pk}/scheduler-evaluation/").json()
    assert body["reviews"] == 16 and {s["key"] for s in body["schedulers"]} == {
        "fsrs-fitted",
        "fsrs-default",
        "sm2",
        "sm2-published",
    }
    assert api_for(student).get(f"/api/v1/classrooms/{setup.classroom.pk}/scheduler-evaluation/").status_code == 403
    assert api.post(f"/api/v1/classrooms/{setup.classroom.pk}/fsrs-fits/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert api_for(admin).post(f"/api/v1/classrooms/{setup.classroom.pk}/fsrs-fits/").status_code == 202
    fits = api.get(f"/api/v1/classrooms/{setup.classroom.pk}/fsrs-fits/").json()
    assert fits["count"] == 1 and fits["results"][0]["applied"] is False
    assert api.get("/api/v1/scheduler-evaluation/").status_code == 403
    assert api_for(admin).get("/api/v1/scheduler-evaluation/").status_code == 200


def test_site_evaluation_page_is_for_staff(client_for, admin, teacher, setup):
    assert client_for(teacher).get("/schedulers/evaluation/").status_code == 403
    page = client_for(admin).get("/schedulers/evaluation/")
    assert page.status_code == 200 and "Scheduler evaluation" in page.content.decode()


def test_fitted_parameters_are_used_by_the_class_fsrs_decks(teacher, setup):
    fit = optimize(classroom=setup.classroom)
    assert fit.skipped  # 16 reviews: the library keeps its defaults
    assert Deck.objects.get().fsrs_parameters == []


def test_api_lists_leeches_and_the_teacher_unsuspends(api_for, teacher, rival_teacher, student, setup):
    CardState.objects.create(student=student, card=setup.cards[1], due_at=T0, lapses=8, suspended=True, status="review")
    base = f"/api/v1/classrooms/{setup.classroom.pk}/leeches/"
    rows = api_for(teacher).get(base).json()
    assert rows == [
        {"card": setup.cards[1].pk, "front": "Q0-1", "deck": "Biology deck 1", "students": 1, "suspended": 1}
    ]
    assert api_for(student).get(base).status_code == 403
    assert api_for(rival_teacher).post(f"{base}{setup.cards[1].pk}/unsuspend/").status_code == 404
    assert api_for(teacher).post(f"{base}999999/unsuspend/").status_code == 404
    assert api_for(teacher).post(f"{base}{setup.cards[1].pk}/unsuspend/").json() == {"unsuspended": 1}
    assert not CardState.objects.get().suspended
