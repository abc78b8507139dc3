"""Small formatting filters for the study and progress pages."""

from __future__ import annotations

from datetime import datetime, timedelta

import nh3
from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince, timeuntil

from learning.answer_diff import char_diff

register = template.Library()

# Card text may carry a little formatting; nothing executable survives.
CARD_TAGS = {"b", "strong", "i", "em", "u", "sub", "sup", "br", "p", "ul", "ol", "li", "code", "pre", "span", "mark"}


@register.filter
def card_html(value: str) -> SafeString:
    return mark_safe(nh3.clean(value or "", tags=CARD_TAGS, attributes={}))  # noqa: S308 - sanitized by nh3


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now", "5 minutes ago", "3 days ago": one unit, as a teacher reads it
    (Django's timesince alone says "0 minutes" and "20 hours, 39 minutes")."""
    return ago_at(value, timezone.now())


def ago_at(value: datetime | None, now: datetime) -> str:
    """`ago` as read at `now` (progress.ago_stamp says when it reads differently)."""
    if value is None:
        return ""
    if now - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now, depth=1)} ago"


@register.filter
def due_in(value: datetime | None) -> str:
    """ "now", "in 23 hours", "in 6 days": when the next card is due, in one unit."""
    if value is None:
        return ""
    now = timezone.now()
    if value - now < timedelta(minutes=1):
        return "now"
    return f"in {timeuntil(value, now, depth=1)}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)}%"


@register.filter
def duration(seconds: int | None) -> str:
    """'45s', '12 min', '3 h 05 min'."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def card_media_url(card: object, kind: str) -> str:
    """The permission-checked media view (`learning:card_image` / `learning:card_audio`):
    card files are never served from a public URL."""
    if not getattr(card, kind, None):
        return ""
    return reverse(f"learning:card_{kind}", args=[card.pk])


@register.filter
def image_url(card: object) -> str:
    return card_media_url(card, "image")


@register.filter
def audio_url(card: object) -> str:
    return card_media_url(card, "audio")


@register.simple_tag
def answer_diff(typed: str, expected: str) -> SafeString:
    """Typed vs expected, character by character, as Anki's type-in answer:
    wrong typed characters struck through (<del>), missing expected ones
    underlined (<ins>); screen readers hear the two lines and their labels."""
    typed_line, expected_line = char_diff(typed or "", strip_tags(expected or ""))
    tags = {"same": "span", "wrong": "del", "missing": "ins"}

    def line(segments: list) -> SafeString:
        return format_html_join("", "<{0}>{1}</{0}>", ((tags[seg.kind], seg.text) for seg in segments))

    return format_html(
        '<div class="answer-diff" data-answer-diff><div><span class="diff-label">You typed</span> '
        '<code class="diff-line">{}</code></div><div><span class="diff-label">Expected</span> '
        '<code class="diff-line">{}</code></div></div>',
        line(typed_line),
        line(expected_line),
    )
