"""Django admin for learning content: search, filters and the natural inlines
(courses in a class, lessons in a course, cards in a deck). Card text is
sanitized on save here too, since the admin bypasses the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest

from learning.media import rename_for, validate_media
from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from learning.sanitize import clean_card_html, plain_text
from learning.services import normalize_tags
from lms.errors import ServiceError


class CourseInline(admin.TabularInline):
    model = Course
    extra = 0
    fields = ["title", "position"]
    show_change_link = True


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    raw_id_fields = ["student"]
    readonly_fields = ["joined_at"]


@admin.register(Classroom)
class ClassroomAdmin(admin.ModelAdmin):
    list_display = ["name", "teacher", "join_code", "archived", "created_at"]
    list_filter = ["archived", "created_at"]
    search_fields = ["name", "description", "join_code", "teacher__username", "teacher__email"]
    list_select_related = ["teacher"]
    raw_id_fields = ["teacher"]
    inlines = [CourseInline, EnrollmentInline]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["student", "classroom", "joined_at"]
    list_filter = ["joined_at", "classroom__archived"]
    search_fields = ["student__username", "student__email", "classroom__name"]
    list_select_related = ["student", "classroom"]
    raw_id_fields = ["student", "classroom"]


class LessonInline(admin.TabularInline):
    model = Lesson
    extra = 0
    fields = ["title", "position", "published"]
    show_change_link = True


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "classroom", "position", "updated_at"]
    list_filter = ["classroom__archived", "created_at"]
    search_fields = ["title", "description", "classroom__name"]
    list_select_related = ["classroom"]
    raw_id_fields = ["classroom"]
    inlines = [LessonInline]


class DeckInline(admin.TabularInline):
    model = Deck
    extra = 0
    fields = ["title", "owner", "position"]
    raw_id_fields = ["owner"]
    show_change_link = True


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ["title", "course", "position", "published", "updated_at"]
    list_filter = ["published", "created_at"]
    search_fields = ["title", "body", "course__title", "course__classroom__name"]
    list_select_related = ["course"]
    raw_id_fields = ["course"]
    inlines = [DeckInline]


class CardAdminForm(forms.ModelForm):
    """Uploads through the admin get the same content check as everywhere else."""

    class Meta:
        model = Card
        fields = "__all__"  # noqa: DJ007 - the admin edits every field

    def _media(self, name: str) -> object:
        value = self.cleaned_data.get(name)
        if isinstance(value, UploadedFile):
            try:
                return rename_for(value, validate_media(value, kind=name))
            except ServiceError as exc:
                raise ValidationError(exc.message) from exc
        return value

    def clean_image(self) -> object:
        return self._media("image")

    def clean_audio(self) -> object:
        return self._media("audio")


class CardInline(admin.TabularInline):
    model = Card
    form = CardAdminForm
    extra = 0
    fields = ["front", "back", "tags", "position", "image", "audio"]
    show_change_link = True


class PersonalFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("personal", "Personal"), ("lesson", "In a lesson")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "personal":
            return queryset.filter(lesson__isnull=True)
        if self.value() == "lesson":
            return queryset.filter(lesson__isnull=False)
        return queryset


@admin.register(Deck)
class DeckAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "lesson", "card_count", "new_cards_per_day", "reviews_per_day"]
    list_filter = [PersonalFilter, "created_at"]
    search_fields = ["title", "description", "owner__username", "lesson__title"]
    list_select_related = ["owner", "lesson"]
    raw_id_fields = ["owner", "lesson"]
    inlines = [CardInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).with_card_count()

    @admin.display(ordering="card_count", description="cards")
    def card_count(self, obj: Deck) -> int:
        return obj.card_count

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for inline_form in formset.forms:
            card = inline_form.instance
            if isinstance(card, Card):
                card.front, card.back = clean_card_html(card.front), clean_card_html(card.back)
                card.tags = normalize_tags(card.tags)
        super().save_formset(request, form, formset, change)


class HasMediaFilter(admin.SimpleListFilter):
    title = "media"
    parameter_name = "media"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("image", "Has an image"), ("audio", "Has audio"), ("none", "No media")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "image":
            return queryset.exclude(image="")
        if self.value() == "audio":
            return queryset.exclude(audio="")
        if self.value() == "none":
            return queryset.filter(image="", audio="")
        return queryset


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    form = CardAdminForm
    list_display = ["short_front", "deck", "tags", "position", "updated_at"]
    list_filter = [HasMediaFilter, "created_at"]
    search_fields = ["front", "back", "tags", "deck__title"]
    list_select_related = ["deck"]
    raw_id_fields = ["deck"]

    @admin.display(description="front")
    def short_front(self, obj: Card) -> str:
        return plain_text(obj.front)[:80]

    def save_model(self, request: HttpRequest, obj: Card, form: Any, change: bool) -> None:
        obj.front, obj.back = clean_card_html(obj.front), clean_card_html(obj.back)
        obj.tags = normalize_tags(obj.tags)
        super().save_model(request, obj, form, change)


# The study models (card states, reviews, sessions) register themselves there.
from learning import study_admin  # noqa: E402, F401
