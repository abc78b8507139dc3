"""Never a 500 from a page or a form: on the demo site, as a student, a
teacher and an admin, every page reached by following links answers, and
every form found on them, sent with hostile values in every field, answers
with something other than a server error.

The API has the same check from its schema (tests/api/test_schemathesis.py);
this one covers the HTML side, where the inputs are whatever a form carries.
A crawl of the kind found `next=-1` (redirect() took it for a view's name)
and a control character in an incident breaking the status feed.

Bounded: at most PAGES pages and FORMS distinct forms (by address pattern
and field names) per persona, two pages per address pattern; links and
forms that end the session, delete things or take a backup are not followed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from lms.demo import seed_demo
from ops.services import forget_switch, maintenance_mode_set

PAGES = 70
FORMS = 70
HOSTILE = ["-1", "99999999999999999999", "\x07<script>x</script>", "é" * 3000]
SKIP = re.compile(
    r"/(logout|delete|remove|revoke|leave|restore)\b|/media/|/static/|\.(csv|apkg|zip|json|atom|txt)$"
    r"|^/(admin|api|metrics|health)/"
    r"|^/ops/backups/"  # a real dump and restore drill each (tests/ops has theirs), run inline here
)
START = {
    "student": ["/dashboard/", "/accounts/profile/", "/feedback/mine/"],
    "teacher": ["/dashboard/", "/classes/", "/decks/"],
    "admin": ["/ops/", "/analytics/", "/ops/incidents/", "/ops/maintenance/", "/analytics/flags/"],
}


class Page(HTMLParser):
    """The links of a page and its POST forms with their fields."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._form: tuple[str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = (a.get("action", ""), {}) if a.get("method", "get").lower() == "post" else None
            if self._form is not None:
                self.forms.append(self._form)
        elif (
            self._form is not None
            and tag in ("input", "select", "textarea")
            and a.get("name")
            and a.get("type") != "file"
        ):
            self._form[1][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _pattern(path: str) -> str:
    return re.sub(r"\d+", "N", urlsplit(path).path)


def _crawl(client: Client, start: list[str]) -> tuple[list[tuple[str, int]], list[tuple[str, str, dict]]]:
    """GET pages breadth first; the server errors met and the POST forms found."""
    errors, forms, seen_forms = [], [], set()
    queue, seen, per_pattern = list(start), set(), {}
    while queue and len(seen) < PAGES:
        path = queue.pop(0)
        pattern = _pattern(path)
        if path in seen or per_pattern.get(pattern, 0) >= 2:
            continue
        seen.add(path)
        per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
        response = client.get(path)
        if response.status_code >= 500:
            errors.append((path, response.status_code))
        if "text/html" not in response.get("Content-Type", "") or response.status_code != 200:
            continue
        page = Page()
        page.feed(response.content.decode())
        for href in page.links:
            url = urlsplit(urljoin(path, href))
            if url.scheme in ("", "http") and url.netloc in ("", "testserver") and not SKIP.search(url.path):
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
        for action, fields in page.forms:
            target = urlsplit(urljoin(path, action or path)).path
            key = (_pattern(target), tuple(sorted(fields)))
            if key not in seen_forms and not SKIP.search(target) and len(forms) < FORMS:
                seen_forms.add(key)
                forms.append((path, target, fields))
    return errors, forms


@pytest.fixture
def demo():
    return seed_demo()


@pytest.mark.parametrize("who", ["student", "teacher", "admin"])
def test_no_page_or_form_answers_a_server_error(demo, who):
    client = Client()
    client.force_login(getattr(demo, who))
    errors, forms = _crawl(client, START[who])
    assert len(forms) >= 5  # the crawl found the forms it is here for
    for page, target, fields in forms:
        for value in HOSTILE:
            # CSRF is the test client's to skip; every other field carries the value.
            data = {name: value for name in fields if name != "csrfmiddlewaretoken"}
            response = client.post(target, data, HTTP_REFERER=f"http://testserver{page}")
            if response.status_code >= 500:
                errors.append((f"POST {target} {sorted(data)} = {value[:12]!r}", response.status_code))
        # A form may have switched maintenance on (the admin's): the next ones
        # would all be 503s, which says nothing about them.
        maintenance_mode_set(on=False)
        forget_switch()
    assert errors == []
