"""Where a page may send people on to: one check for every `next` address a
form or link carries."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def on_this_site(request: HttpRequest, url: str | None) -> str:
    """`url` when it is an address on this site, else "".

    An absolute path ("/decks/3/") or a full URL of this host (https when the
    request came over https: a page served over HTTPS must not send people on
    to http://). Anything else is "": another host, a scheme change, and a
    relative address such as "-1", which `redirect()` would take for the name
    of a view and fail on (a 500)."""
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return url if urlsplit(url).netloc or url.startswith("/") else ""
