"""API tokens: issued at each log-in, stored hashed, expiring, revocable.

Expiry is fixed, not renewed on use: a token lives API_TOKEN_TTL_DAYS from the
log-in that issued it, however busy it is. A leaked token then stops at a known
time, and a client that must run longer logs in again (one request).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from importlib import import_module

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from lms import audit, rawsql
from lms import cache as lms_cache
from lms.models import ApiToken, User

# Recording "last used" on every request would turn each API read into a write;
# once a minute per token is precise enough for the token page.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    try:
        return get_client_ip_address(request) or None
    except ValueError:
        return None


def token_issue(*, user: User, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """A new token for the user; returns the row and the token, which exists
    nowhere else once the response is sent."""
    raw = "lms_" + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        digest=digest_of(raw),
        prefix=raw[:10],
        created=now,
        expires=now + timedelta(days=settings.API_TOKEN_TTL_DAYS),
        created_ip=_client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request else "")[:200],
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    token.delete()


def tokens_revoke_all(*, user: User) -> int:
    return user.api_tokens.all().delete()[0]


def user_log_out_everywhere(*, user: User, actor: User | None = None) -> dict[str, int]:
    """Revoke every token and end every web session of the user.

    Sessions have no user column, so the live ones are decoded one by one: fine
    for an admin's occasional action, not something to run per request."""
    with transaction.atomic():
        tokens = tokens_revoke_all(user=user)
        doomed = []
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
            if session.get_decoded().get("_auth_user_id") == str(user.pk):
                doomed.append(session.pk)
        sessions = Session.objects.filter(pk__in=doomed).delete()[0]
        forget_cached_sessions(doomed)
        audit.record("user.log_out_everywhere", target=user, actor=actor, tokens=tokens, sessions=sessions)
    return {"tokens": tokens, "sessions": sessions}


@functools.cache
def _token_sql() -> str:
    return (
        f"SELECT {rawsql.columns(ApiToken, 't')}, {rawsql.columns(User, 'u')}"  # noqa: S608 - names are ours
        f" FROM {rawsql.table(ApiToken)} t INNER JOIN {rawsql.table(User)} u ON u.id = t.user_id"
        " WHERE t.digest = %s AND t.expires > %s AND u.is_active"
    )


def forget_cached_sessions(keys: list[str]) -> None:
    """Drop the cached copies of sessions deleted from the database, with a
    cached session engine (cached_db reads its cache first); now and again on
    commit, so a request that cached the row in between cannot revive it."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    prefix = getattr(store, "cache_key_prefix", None)
    if prefix is None or not keys:
        return
    cache_keys = [prefix + key for key in keys]
    if settings.SESSION_CACHE_ALIAS == "default":
        # Kept and sent later if Redis cannot take them now (lms.cache): a
        # session ended here must not live on in the cache.
        lms_cache.invalidate(delete=cache_keys)
        return
    cache = caches[settings.SESSION_CACHE_ALIAS]
    cache.delete_many(cache_keys)
    transaction.on_commit(lambda: cache.delete_many(cache_keys))


def token_lookup(key: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token with this value, with its user, or None.

    Every API request runs this: one statement written out (lms.rawsql) rather
    than compiled by the ORM on each call. Revocation is deleting the row and
    expiry is the `expires` column, so the next request sees either at once."""
    now = now or timezone.now()
    row = rawsql.fetch_one(_token_sql(), [digest_of(key), rawsql.datetime_param(now)])
    if row is None:
        return None
    token = rawsql.build(ApiToken, row)
    token.user = rawsql.build(User, row, rawsql.width(ApiToken))
    return token


def tokens_delete_expired(*, now: datetime | None = None) -> int:
    return ApiToken.objects.filter(expires__lte=now or timezone.now()).delete()[0]


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <token>` against the hashed, expiring tokens."""

    keyword = "Token"
    model = ApiToken

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        self._request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        now = timezone.now()
        token = token_lookup(key, now=now)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        ip = _client_ip(getattr(self, "_request", None))
        if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION or token.last_ip != ip:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now, last_ip=ip)
            token.last_used, token.last_ip = now, ip
        return token.user, token
