"""Formatting for experiment results: rates as percents, lifts with a sign, small p-values readable."""

from __future__ import annotations

from typing import Any

from django import template

from analytics.models import Feedback

register = template.Library()


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f}%"


@register.filter
def signed_pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.{digits}f}%"


@register.filter
def signed(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}"


@register.filter
def pvalue(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"


@register.inclusion_tag("analytics/_feedback.html", takes_context=True)
def feedback_control(context: template.Context) -> dict[str, Any]:
    """The feedback control on every page. It reads nothing: the NPS question
    and unread notices arrive with htmx from feedback_prompt, so a page costs
    no query more than it did."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show": False}
    return {
        "show": True,
        "page_url": request.get_full_path()[:500],
        "kinds": Feedback.Kind.choices,
        "csrf_token": context.get("csrf_token"),
    }
