"""A student's schedules and review log, exported so that official Anki shows
the same due dates and history (checked by importing with the anki library)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from django.utils import timezone

from learning.models import Card, CardState, Deck, Review

pytestmark = pytest.mark.django_db


def _review(student, card, when, quality, before, after):
    return Review(
        student=student,
        card=card,
        mode="review",
        quality=quality,
        correct=quality >= 3,
        response_ms=4200,
        reviewed_at=when,
        status_before=before[0],
        repetitions_before=before[1],
        interval_before=before[2],
        ease_before=2.5,
        repetitions_after=after[1],
        interval_after=after[2],
        ease_after=2.5,
        status_after=after[0],
        changed_schedule=True,
    )


def test_export_with_scheduling_shows_the_same_due_dates_and_history_in_anki(student, outsider, api_for, tmp_path):
    deck = Deck.objects.create(title="Verbs", owner=student)
    learnt = Card.objects.create(deck=deck, front="manger", back="to eat", position=1)
    fresh = Card.objects.create(deck=deck, front="boire", back="to drink", position=2)
    now = timezone.now()
    CardState.objects.create(
        student=student,
        card=learnt,
        status="review",
        repetitions=3,
        interval=10,
        ease=2.5,
        due_at=now + timedelta(days=10),
        reviews_count=3,
        lapses=1,
        last_reviewed_at=now,
    )
    Review.objects.bulk_create(
        [
            _review(student, learnt, now - timedelta(days=4), 4, ("new", 0, 0), ("review", 1, 1)),
            _review(student, learnt, now - timedelta(days=3), 1, ("review", 1, 1), ("relearning", 0, 1)),
            _review(student, learnt, now, 5, ("review", 2, 4), ("review", 3, 10)),
        ]
    )
    # Another student's history of the same card stays out of this export.
    CardState.objects.create(student=outsider, card=fresh, status="review", interval=3, due_at=now, reviews_count=1)

    response = api_for(student).get(f"/api/v1/decks/{deck.pk}/export/?format=apkg&scheduling=1")
    assert response.status_code == 200
    package = tmp_path / "verbs.apkg"
    package.write_bytes(response.content)

    col = Collection(os.fspath(tmp_path / "collection.anki2"))
    try:
        col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=os.fspath(package), options=ImportAnkiPackageOptions(with_scheduling=True)
            )
        )
        cards = {col.get_card(cid).note()["Front"]: col.get_card(cid) for cid in col.find_cards("")}
        assert set(cards) == {"manger", "boire"}
        card = cards["manger"]
        assert (card.type, card.queue, card.ivl, card.factor, card.reps, card.lapses) == (2, 2, 10, 2500, 3, 1)
        assert card.due - col.sched.today in (9, 10, 11)  # due in ten days, give or take Anki's day rollover
        assert cards["boire"].type == 0  # never studied by this student: new in Anki too
        log = col.db.all("SELECT ease, ivl, lastIvl, type FROM revlog WHERE cid = ? ORDER BY id", card.id)
        assert log == [[3, 1, 0, 0], [1, 1, 1, 1], [4, 10, 4, 1]]
    finally:
        col.close()


def test_export_without_scheduling_leaves_every_card_new(student, api_for, tmp_path):
    deck = Deck.objects.create(title="Verbs", owner=student)
    card = Card.objects.create(deck=deck, front="manger", back="to eat", position=1)
    CardState.objects.create(student=student, card=card, status="review", interval=10, due_at=timezone.now())
    package = tmp_path / "verbs.apkg"
    package.write_bytes(api_for(student).get(f"/api/v1/decks/{deck.pk}/export/?format=apkg").content)
    col = Collection(os.fspath(tmp_path / "c.anki2"))
    try:
        col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=os.fspath(package), options=ImportAnkiPackageOptions(with_scheduling=True)
            )
        )
        assert [col.get_card(cid).type for cid in col.find_cards("")] == [0]
        assert col.db.scalar("SELECT count() FROM revlog") == 0
    finally:
        col.close()


# --- importing a package's history ------------------------------------------------------


def _reviewed(col) -> None:
    from tests.learning.anki_packages import add

    add(col, "Basic", {"Front": "manger", "Back": "to eat"})
    add(col, "Basic", {"Front": "boire", "Back": "to drink"})
    card = col.sched.getCard()
    col.sched.answerCard(card, 4)  # Easy: straight to review, due in a few days


@pytest.mark.parametrize("legacy", [False, True])
def test_import_with_scheduling_makes_the_packages_history_the_students(legacy, student, api_for, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.learning.anki_packages import build

    settings.MEDIA_ROOT = tmp_path / "media"
    built = build(tmp_path, _reviewed, legacy=legacy, scheduling=True)
    col = Collection(os.fspath(tmp_path / "peek.anki2"))
    try:
        col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=os.fspath(built.path), options=ImportAnkiPackageOptions(with_scheduling=True)
            )
        )
        reviewed = next(col.get_card(c) for c in col.find_cards("is:review"))
        days_left = reviewed.due - col.sched.today
        front = reviewed.note()["Front"]
        interval = reviewed.ivl
    finally:
        col.close()

    upload = SimpleUploadedFile("h.apkg", built.path.read_bytes())
    response = api_for(student).post("/api/v1/decks/import/", {"file": upload, "scheduling": True}, format="multipart")
    assert response.status_code == 201, response.json()
    state = CardState.objects.get(student=student)
    assert state.card.front == front and state.status == "review" and state.interval == interval
    assert abs((state.due_at - timezone.now()).days - days_left) <= 1  # the same day Anki shows
    review = Review.objects.get(student=student)
    assert (review.quality, review.card_id, review.interval_after) == (5, state.card_id, interval)


def test_import_without_scheduling_brings_no_history(student, api_for, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.learning.anki_packages import build

    settings.MEDIA_ROOT = tmp_path / "media"
    built = build(tmp_path, _reviewed, scheduling=True)
    upload = SimpleUploadedFile("h.apkg", built.path.read_bytes())
    assert api_for(student).post("/api/v1/decks/import/", {"file": upload}, format="multipart").status_code == 201
    assert not CardState.objects.exists() and not Review.objects.exists()


def test_an_imported_deck_exported_with_scheduling_brings_its_pictures_and_due_dates_to_anki(
    student, api_for, tmp_path, settings
):
    """Round trip through official Anki: a package's picture (stored once by
    content hash here) comes back as a media file Anki has, next to the due
    date of the student's schedule."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.learning.anki_packages import PNG, add, build

    settings.MEDIA_ROOT = tmp_path / "media"

    def fill(col):
        add(col, "Basic", {"Front": 'dog <img src="dog photo.png">', "Back": "chien"})

    built = build(tmp_path, fill, media={"dog photo.png": PNG})
    client = api_for(student)
    imported = client.post(
        "/api/v1/decks/import/", {"file": SimpleUploadedFile("in.apkg", built.path.read_bytes())}, format="multipart"
    )
    assert imported.status_code == 201, imported.content
    card = Card.objects.get(deck_id=imported.json()["deck"])
    CardState.objects.create(
        student=student, card=card, status="review", interval=5, due_at=timezone.now() + timedelta(days=5)
    )
    package = tmp_path / "out.apkg"
    package.write_bytes(client.get(f"/api/v1/decks/{card.deck_id}/export/?format=apkg&scheduling=1").content)

    col = Collection(os.fspath(tmp_path / "anki.anki2"))
    try:
        col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=os.fspath(package), options=ImportAnkiPackageOptions(with_scheduling=True)
            )
        )
        (cid,) = col.find_cards("")
        anki_card = col.get_card(cid)
        (name,) = col.media.files_in_str(anki_card.note().mid, anki_card.note()["Front"])
        assert col.media.have(name)
        assert (tmp_path / "anki.media" / name).read_bytes() == PNG
        assert anki_card.type == 2 and anki_card.due - col.sched.today in (4, 5, 6)
    finally:
        col.close()
