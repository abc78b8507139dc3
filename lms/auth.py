"""The signed-in user of a browser session, read from the cache.

Every signed-in page loads its user by primary key (Django's
`ModelBackend.get_user`). `CachedModelBackend` keeps that row in the cache for
`AUTH_USER_CACHE_SECONDS`; any save or delete of the user (a password, role,
time zone or `is_active` change, `last_login` at log-in) drops the entry, now
and again on commit. What Django checks on each request is unchanged: the
session's password hash against the user's (a password change signs other
sessions out) and `is_active`.

A queryset `.update()` of users sends no signal: code that changes a user that
way must call `forget_user` (nothing in the app does; the demo data's
back-dated `date_joined` does not matter to a session).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from lms import cache as lms_cache
from lms.models import User


def _key(user_id: object) -> str:
    return f"lms:auth-user:{user_id}"


class CachedModelBackend(ModelBackend):
    """ModelBackend whose `get_user` reads the cache first. Listed before
    Django's own in AUTHENTICATION_BACKENDS, so new log-ins use it; sessions
    made before keep naming ModelBackend and keep working, uncached."""

    def get_user(self, user_id: Any) -> User | None:
        seconds = settings.AUTH_USER_CACHE_SECONDS
        if seconds <= 0:
            return super().get_user(user_id)
        user = cache.get(_key(user_id))
        if user is None:
            user = super().get_user(user_id)  # None when missing or inactive
            if user is None:
                return None
            cache.set(_key(user_id), user, seconds)
        return user if self.user_can_authenticate(user) else None


def forget_user(user_id: object) -> None:
    lms_cache.invalidate(delete=[_key(user_id)])


def user_changed(sender: type, instance: User, **kwargs: object) -> None:
    """post_save / post_delete receiver (connected in lms.apps)."""
    forget_user(instance.pk)
