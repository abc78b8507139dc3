"""Forms for the content pages. They check the shape of the input; the rules
(sanitizing, media types, codes) live in learning.services, which the views
call with `cleaned_data`."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.html import escape

from learning import schedulers
from learning.media import LABELS
from learning.models import JOIN_CODE_LENGTH, Deck
from learning.schedulers.base import DESIRED_RETENTION_RANGE, format_steps, parse_steps

IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp"
AUDIO_ACCEPT = "audio/mpeg,audio/ogg,audio/wav,audio/x-wav,audio/mp4,.m4a"


# Free-text limits (the API's serializers use the same ones).
DESCRIPTION_MAX = 5_000
LESSON_BODY_MAX = 100_000
BULK_TEXT_MAX = 500_000


class ClassroomForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX)


class ClassroomEditForm(ClassroomForm):
    archived = forms.BooleanField(required=False, help_text="An archived class accepts no new students.")
    default_scheduler = forms.ChoiceField(
        choices=schedulers.CHOICES,
        initial=schedulers.DEFAULT,
        label="Scheduler for new decks",
        help_text="Each deck can still choose its own.",
    )


class JoinForm(forms.Form):
    join_code = forms.CharField(
        label="Class code",
        max_length=32,
        help_text=f"The {JOIN_CODE_LENGTH}-character code your teacher gave you.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )


class CourseForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX)


class LessonForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
        max_length=LESSON_BODY_MAX,
        help_text="Markdown: **bold**, *italic*, lists, [links](https://example.org), `code`.",
    )
    published = forms.BooleanField(
        required=False,
        help_text="Students see published lessons only. Leave it off to prepare a draft; publish it in one click later.",
    )


def _steps_field(initial: str, help_text: str) -> forms.CharField:
    return forms.CharField(max_length=100, required=False, initial=initial, help_text=help_text)


class DeckForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX)
    new_cards_per_day = forms.IntegerField(min_value=0, max_value=1000, initial=20)
    reviews_per_day = forms.IntegerField(min_value=0, max_value=10000, initial=200)
    # Scheduling (learning.services.clean_scheduling checks them again).
    scheduler = forms.ChoiceField(
        choices=[("", "The class's default"), *schedulers.CHOICES],
        required=False,
        help_text="SM-2 with learning steps works like Anki; FSRS-6 fits a memory model on the class's own reviews.",
    )
    desired_retention = forms.FloatField(
        min_value=DESIRED_RETENTION_RANGE[0],
        max_value=DESIRED_RETENTION_RANGE[1],
        initial=0.9,
        required=False,
        help_text="FSRS only: the share of cards you want remembered when they come due (0.70–0.97).",
    )
    learning_steps = _steps_field("1m 10m", "Delays for new cards, e.g. “1m 10m 1h” (s, m, h, d).")
    relearning_steps = _steps_field("10m", "Delays after a card is forgotten, e.g. “10m”.")
    graduating_interval = forms.IntegerField(min_value=1, max_value=36500, initial=1, required=False)
    easy_interval = forms.IntegerField(min_value=1, max_value=36500, initial=4, required=False)
    starting_ease = forms.FloatField(min_value=1.3, max_value=5.0, initial=2.5, required=False)
    hard_multiplier = forms.FloatField(min_value=1.0, max_value=3.0, initial=1.2, required=False)
    easy_bonus = forms.FloatField(min_value=1.0, max_value=5.0, initial=1.3, required=False)
    lapse_multiplier = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.0,
        required=False,
        help_text="New interval after a lapse, as a share of the old one (0: one day).",
    )
    maximum_interval = forms.IntegerField(min_value=1, max_value=36500, initial=36500, required=False)
    fuzz = forms.BooleanField(required=False, initial=True, help_text="Spread cards learned together over a few days.")
    leech_action = forms.ChoiceField(
        choices=Deck.LeechAction.choices,
        initial=Deck.LeechAction.TAG,
        required=False,
        help_text="What happens at 8 lapses: the card is tagged “leech”, and suspended if you choose so.",
    )

    def clean_learning_steps(self) -> str:
        return self._steps("learning_steps")

    def clean_relearning_steps(self) -> str:
        return self._steps("relearning_steps")

    def _steps(self, name: str) -> str:
        try:
            return format_steps(parse_steps(self.cleaned_data.get(name) or ""))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


# lms/_form.html renders help text as HTML, so the tag names are escaped here.
_CARD_HELP = escape(
    "Allowed: <b>, <i>, <u>, lists, <br>, <code>, <sub>, <sup> and http(s) links. Anything else is removed."
)


class CardForm(forms.Form):
    front = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000, help_text=_CARD_HELP)
    back = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000)
    tags = forms.CharField(max_length=500, required=False, help_text="Separated by spaces, e.g. “cells mitosis”.")
    image = forms.FileField(
        required=False,
        help_text=f"{LABELS['image']}, up to 10 MB.",
        widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
    )
    audio = forms.FileField(
        required=False,
        help_text=f"{LABELS['audio']}, up to 10 MB.",
        widget=forms.FileInput(attrs={"accept": AUDIO_ACCEPT}),
    )


class CardEditForm(CardForm):
    clear_image = forms.BooleanField(required=False, label="Remove the image")
    clear_audio = forms.BooleanField(required=False, label="Remove the audio")


class BulkAddForm(forms.Form):
    text = forms.CharField(
        label="Cards, one per line",
        max_length=BULK_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
        help_text=escape(
            "front<TAB>back or front;back — an optional third column holds tags. Lines starting with # are skipped."
        ),
    )


class CardPreviewForm(forms.Form):
    front = forms.CharField(required=False, max_length=10_000)
    back = forms.CharField(required=False, max_length=10_000)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text=(
            "A .csv (front, back, tags) or .json file up to 50 MB, or an Anki .apkg/.colpkg package up to "
            f"{settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        ),
    )
    format = forms.ChoiceField(
        choices=[("", "Tell by the file name"), ("csv", "CSV"), ("json", "JSON"), ("apkg", "Anki package")],
        required=False,
    )
    skip_invalid = forms.BooleanField(
        required=False, label="Import the readable rows and skip the others", initial=False
    )
    scheduling = forms.BooleanField(
        required=False,
        label="Bring my Anki review history",
        help_text="An Anki package's due dates and review log become your own study history.",
    )


class ImportNewDeckForm(ImportForm):
    title = forms.CharField(
        max_length=200, required=False, help_text="Leave empty to use the name inside the file (or the file name)."
    )
    field_order = ["file", "title", "format", "skip_invalid", "scheduling"]
