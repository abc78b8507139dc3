from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from learning.sanitize import clean_card_html, render_markdown

register = template.Library()


@register.filter
def card_html(value: str) -> SafeString:
    """Card text as HTML. It was sanitized on save; it is sanitized again here
    because rows can also arrive through the admin, imports or old data."""
    return mark_safe(clean_card_html(value))  # noqa: S308 - nh3 output


@register.filter
def markdown(value: str) -> SafeString:
    return mark_safe(render_markdown(value))  # noqa: S308 - nh3 output


@register.inclusion_tag("learning/_move.html", takes_context=True)
def move_buttons(context: template.Context, url_name: str, pk: int, first: bool, last: bool) -> dict:
    request = context["request"]
    return {"url_name": url_name, "pk": pk, "first": first, "last": last, "next": request.get_full_path()}
