"""Sentry, on only when SENTRY_DSN is set, and never sent a secret."""

from __future__ import annotations

import re
from typing import Any

SENSITIVE = re.compile(
    r"pass(word)?|passwd|secret|token|api[_-]?key|authorization|cookie|csrf|session(id)?|dsn|credential",
    re.IGNORECASE,
)
FILTERED = "[Filtered]"
# Password-reset links carry the account's reset token in the path.
RESET_PATH = re.compile(r"(/reset/)[^/]+/[^/]+/")


def scrub(value: Any, depth: int = 0) -> Any:
    """Replace the value of every key that looks sensitive, at any depth."""
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {
            key: FILTERED if isinstance(key, str) and SENSITIVE.search(key) else scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # Header lists arrive as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and SENSITIVE.search(value[0]):
            return [value[0], FILTERED]
        return [scrub(item, depth + 1) for item in value]
    return value


def before_send(event: dict, hint: dict | None = None) -> dict:
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        if isinstance(request.get("url"), str):
            request["url"] = RESET_PATH.sub(rf"\g<1>{FILTERED}/{FILTERED}/", request["url"])
        if isinstance(request.get("query_string"), str) and SENSITIVE.search(request["query_string"]):
            request["query_string"] = FILTERED
    return scrub(event)


def init_sentry(dsn: str, *, environment: str, release: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        send_default_pii=False,
        traces_sample_rate=0.0,
        before_send=before_send,
    )
