from __future__ import annotations

import functools

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html

register = template.Library()


@functools.lru_cache(maxsize=256)
def _reverse_once(urlconf: str, prefix: str, url_name: str) -> str | None:
    try:
        return reverse(url_name, urlconf=urlconf)
    except NoReverseMatch:
        return None


def cached_url(url_name: str) -> str | None:
    """The URL of an argument-less route, reversed once per process (per
    URLconf and script prefix), or None when there is none: every page's
    navigation reverses the same dozen names."""
    return _reverse_once(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), url_name)


@register.simple_tag
def site_url(url_name: str) -> str:
    """`{% url %}` for the argument-less routes of base.html, from cached_url."""
    url = cached_url(url_name)
    if url is None:
        raise NoReverseMatch(f"Reverse for {url_name!r} not found.")
    return url


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
    url = cached_url(url_name)
    if url is None:
        return ""
    # A page with breadcrumbs belongs to the section its first crumb names: a
    # class deck lives at /decks/<id>/ but sits under "Classes", not "My decks".
    crumbs = context.get("crumbs")
    current = crumbs[0][1] == url if crumbs else (request.path.startswith(url) and url != "/")
    if current:
        return format_html('<li><a href="{}" aria-current="page">{}</a></li>', url, label)
    return format_html('<li><a href="{}">{}</a></li>', url, label)
