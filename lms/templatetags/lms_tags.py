from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context: template.Context, url_name: str, label: str, roles: str = "") -> str:
    """A navigation link shown to the given roles ("staff" means is_staff), or
    nothing when the URL does not exist (yet) or the user may not use it."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    if roles:
        allowed = {r.strip() for r in roles.split(",")}
        if user.role not in allowed and not ("staff" in allowed and user.is_staff):
            return ""
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return ""
    # A page with breadcrumbs belongs to the section its first crumb names: a
    # class deck lives at /decks/<id>/ but sits under "Classes", not "My decks".
    crumbs = context.get("crumbs")
    current = crumbs[0][1] == url if crumbs else (request.path.startswith(url) and url != "/")
    if current:
        return format_html('<li><a href="{}" aria-current="page">{}</a></li>', url, label)
    return format_html('<li><a href="{}">{}</a></li>', url, label)
