"""The demo's audio clips: real WAV files made offline, attached at seed time."""

from __future__ import annotations

import io
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from learning import demo as learning_demo
from learning import demo_audio
from learning.media import validate_media
from learning.models import Card, Deck
from lms.demo import seed_users


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_tone_is_a_playable_wav_that_media_validation_accepts():
    data = demo_audio.tone_wav("Nucleus")
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, demo_audio.SAMPLE_RATE)
        seconds = wav.getnframes() / wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    assert 0.5 < seconds < 1.5
    assert max(frames) > 0  # not silence
    info = validate_media(SimpleUploadedFile("x.bin", data), kind="audio")
    assert (info.extension, info.mime) == ("wav", "audio/wav")


def test_each_term_gets_its_own_chime():
    assert demo_audio.tone_wav("Nucleus") != demo_audio.tone_wav("Osmosis")
    assert demo_audio.tone_wav("Nucleus") == demo_audio.tone_wav("Nucleus")


def test_without_espeak_the_tone_is_used(monkeypatch):
    monkeypatch.setattr(demo_audio.shutil, "which", lambda name: None)
    assert demo_audio.spoken_wav("Nucleus") is None
    assert demo_audio.term_audio("Nucleus") == demo_audio.tone_wav("Nucleus")


def test_a_failing_speech_program_falls_back_to_the_tone(monkeypatch):
    monkeypatch.setattr(demo_audio.shutil, "which", lambda name: "/bin/false")
    assert demo_audio.spoken_wav("Nucleus") is None
    assert demo_audio.term_audio("Nucleus") == demo_audio.tone_wav("Nucleus")


def test_seed_attaches_audio_that_the_deck_and_study_pages_play(media, client_for):
    users = seed_users()
    learning_demo.seed(users)
    with_audio = Card.objects.exclude(audio="")
    assert with_audio.count() == len(learning_demo.AUDIO)
    card = with_audio.get(front="Osmosis")
    assert card.audio.name.endswith(".wav")

    student = client_for(users.student)
    page = student.get(reverse("learning:deck_detail", args=[card.deck_id])).content.decode()
    audio_url = reverse("learning:card_audio", args=[card.pk])
    assert f'<audio controls preload="none" src="{audio_url}"' in page
    response = student.get(audio_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"


def test_reseeding_adds_no_audio_twice_and_backfills_decks_seeded_without_it(media):
    users = seed_users()
    learning_demo.seed(users)
    files = set(Card.objects.exclude(audio="").values_list("audio", flat=True))
    learning_demo.seed(users)
    assert set(Card.objects.exclude(audio="").values_list("audio", flat=True)) == files

    # A deck seeded before the demo had audio gets its clips once...
    deck = Deck.objects.get(title="Membrane transport")
    deck.cards.update(audio="")
    learning_demo.seed(users)
    assert deck.cards.exclude(audio="").count() == 1
    # ...but a teacher's choice to drop one clip of a deck that has others stays.
    organelles = Deck.objects.get(title="Organelles")
    organelles.cards.filter(front="Nucleus").update(audio="")
    learning_demo.seed(users)
    assert not organelles.cards.get(front="Nucleus").audio
