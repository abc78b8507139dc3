"""Which decks a user may read and edit, cached per user.

The study loop loads one card per request; checking that its deck is visible
through `Card.objects.visible_to` costs a join over lesson, course and class
and a subquery over enrolments on every answer. The answer to "which decks
may this user read?" changes only when a class, course, lesson or deck is
saved or deleted (publishing, moves, deletion) or when the user's enrolments
change, so it is computed once and kept in the cache:

- a per-user entry `((generation, user token), visible, editable)` (admins
  see every deck and need none);
- one shared generation token, replaced whenever any class, course, lesson or
  deck is saved or deleted (rare next to answers), which makes every per-user
  entry stale at once;
- a per-user token, replaced when the user's enrolments change, which makes
  their entry alone stale. A token rather than deleting the entry: a request
  that read the enrolments just before the change committed and stores its
  entry just after the invalidation stamps it with the old token, so it is
  stale at once instead of granting access for the entry's lifetime.

All three are read with one `get_many`, so a warm check is one cache round trip
and no SQL; the study loop's API views have the throttle read them in its own
round trip (`cache_keys`, `lms.throttling`), so there it costs none.
Invalidation runs at once and again after the commit, so a reader that
recomputed from the old rows in between cannot keep a stale entry, through
`lms.cache.invalidate`: a process that cannot reach Redis keeps what it owes
and sends it first when Redis answers again.

An entry grants access, so its safety net is short
(VISIBLE_DECKS_CACHE_SECONDS, five minutes): an invalidation lost for good
(its process died while Redis failed) leaks for that long at most, and a
student studying recomputes their entry (one query) every five minutes,
not on every answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

from learning.models import Classroom, Course, Deck, Enrollment, Lesson, _deck_visibility, _is_admin
from lms import cache as lms_cache

if TYPE_CHECKING:
    from lms.models import User

GENERATION_KEY = "learning:visible-decks:generation"


def _user_key(user_id: int) -> str:
    return f"learning:visible-decks:user:{user_id}"


def _user_token_key(user_id: int) -> str:
    return f"learning:visible-decks:user-token:{user_id}"


@dataclass(frozen=True)
class VisibleDecks:
    """The decks a user may read and edit; None means every deck (admins)."""

    visible: frozenset[int] | None
    editable: frozenset[int] | None

    def can_read(self, deck_id: int) -> bool:
        return self.visible is None or deck_id in self.visible

    def can_edit(self, deck_id: int) -> bool:
        return self.editable is None or deck_id in self.editable


EVERYTHING = VisibleDecks(None, None)
NOTHING = VisibleDecks(frozenset(), frozenset())


def compute_visible_decks(user: User) -> VisibleDecks:
    """The live answer, in one query (what the cache holds)."""
    if not user.is_authenticated:
        return NOTHING
    if _is_admin(user):
        return EVERYTHING
    rows = Deck.objects.filter(_deck_visibility(user)).values_list(
        "id", "owner_id", "lesson_id", "lesson__course__classroom__teacher_id"
    )
    visible, editable = set(), set()
    for deck_id, owner_id, lesson_id, teacher_id in rows.order_by():
        visible.add(deck_id)
        if (lesson_id is None and owner_id == user.pk) or teacher_id == user.pk:
            editable.add(deck_id)
    return VisibleDecks(frozenset(visible), frozenset(editable))


def _generation() -> str:
    token = cache.get(GENERATION_KEY)
    if token is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        token = cache.get(GENERATION_KEY)
    return token


def cache_keys(user: User) -> list[str]:
    """The cache keys `visible_decks(user)` reads (none for admins and
    anonymous users), for a caller that reads them ahead."""
    if not user.is_authenticated or _is_admin(user):
        return []
    return [GENERATION_KEY, _user_key(user.pk), _user_token_key(user.pk)]


def visible_decks(user: User, *, read_ahead: Mapping[str, Any] | None = None) -> VisibleDecks:
    """The decks `user` may read and edit, from the cache when it is fresh.

    `read_ahead`: what the cache held for `cache_keys(user)`, read just before
    (missing keys absent), instead of reading them again; None reads them."""
    if not user.is_authenticated:
        return NOTHING
    if _is_admin(user):
        return EVERYTHING  # nothing to look up
    key = _user_key(user.pk)
    found = read_ahead if read_ahead is not None else cache.get_many(cache_keys(user))
    generation = found.get(GENERATION_KEY)
    # The user's token is None until their enrolments first change; it is
    # read before the rows, so a change committed meanwhile moves it past us.
    stamp = (generation, found.get(_user_token_key(user.pk)))
    entry = found.get(key)
    if generation is not None and entry is not None and entry[0] == stamp:
        return VisibleDecks(entry[1], entry[2])
    if generation is None:
        stamp = (_generation(), stamp[1])
    decks = compute_visible_decks(user)
    cache.set(key, (stamp, decks.visible, decks.editable), settings.VISIBLE_DECKS_CACHE_SECONDS)
    return decks


def forget_all() -> None:
    """Make every cached entry stale (a class, course, lesson or deck changed)."""
    lms_cache.invalidate(bump=[GENERATION_KEY])


def forget_user(user_id: int) -> None:
    """Make one user's entry stale (their enrolments changed). The token
    never expires: expired, it would read as the None that entries made
    before the user's first change are stamped with, fresh again."""
    lms_cache.invalidate(bump=[_user_token_key(user_id)])


def _structure_changed(sender: type, **kwargs: object) -> None:
    forget_all()


def _enrollment_changed(sender: type, instance: Enrollment, **kwargs: object) -> None:
    forget_user(instance.student_id)


def connect() -> None:
    signals = (("save", post_save), ("delete", post_delete))
    for model in (Classroom, Course, Lesson, Deck):
        for name, signal in signals:
            signal.connect(_structure_changed, sender=model, dispatch_uid=f"visible-decks-{model.__name__}-{name}")
    for name, signal in signals:
        signal.connect(_enrollment_changed, sender=Enrollment, dispatch_uid=f"visible-decks-enrollment-{name}")
