"""Sessions read from the cache and written through to the database, with
the cached copy kept for minutes, not for the session's whole life.

Django's cached_db engine caches a session for as long as the session lasts
(two weeks here). Ending sessions outside Django's own log-out (log out
everywhere, a password change, an account deleted: `lms.tokens`) deletes
their rows and their cached copies; a cached copy whose delete Redis never
took (a process that died owing it, lms.cache) would keep the session signed
in until it expired. Here the cache holds a copy for SESSION_CACHE_SECONDS
(five minutes by default, like the session's user in lms.auth): a lost
delete lives that long at most, and a signed-in user costs one session query
every five minutes instead of none.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore


class _ShortLived:
    """A cache whose entries live at most `cap` seconds."""

    def __init__(self, cache: Any, cap: int) -> None:
        self._cache, self._cap = cache, cap

    def _timeout(self, timeout: Any) -> int:
        return self._cap if timeout is None else min(int(timeout), self._cap)

    def set(self, key: str, value: Any, timeout: Any = None, *args: Any, **kwargs: Any) -> Any:
        return self._cache.set(key, value, self._timeout(timeout), *args, **kwargs)

    async def aset(self, key: str, value: Any, timeout: Any = None, *args: Any, **kwargs: Any) -> Any:
        return await self._cache.aset(key, value, self._timeout(timeout), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)

    def __contains__(self, key: str) -> bool:
        return key in self._cache


class SessionStore(CachedDBStore):
    # The same keys as Django's cached_db (lms.tokens drops them by prefix).
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _ShortLived(self._cache, settings.SESSION_CACHE_SECONDS)
