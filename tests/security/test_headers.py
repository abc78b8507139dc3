"""The CSP allows no inline or eval'd script, and pages never ship inline script."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_csp_script_src_is_self_only(client_for, student) -> None:
    policy = client_for(student).get(reverse("learning:dashboard"))["Content-Security-Policy"]
    directives = _directives(policy)
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-eval'" not in policy
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]


@pytest.mark.parametrize("name", ["login", "signup", "learning:dashboard", "learning:deck_list", "profile"])
def test_pages_have_no_inline_script(client_for, student, name: str) -> None:
    client = client_for(None if name in ("login", "signup") else student)
    body = client.get(reverse(name)).content.decode()
    inline = [m for m in re.findall(r"<script\b[^>]*>", body) if "src=" not in m]
    assert inline == []
    assert not re.search(r"\son[a-z]+\s*=", body)  # no inline event handlers either
