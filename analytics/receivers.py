"""Where events from other apps arrive: `lms.tracking.event_tracked`, auth signals, account deletion."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.http import HttpRequest

from analytics import experiments, queries, services
from learning.services import personal_scheduler_requested
from lms.signals import user_deleting


def on_event_tracked(
    sender: Any, *, name: str, user: Any = None, session_key: str = "", properties: dict | None = None, **_: Any
) -> None:
    services.record(name, user=user, session_key=services.hash_session_key(session_key), properties=properties or {})


def on_logged_in(sender: Any, *, request: HttpRequest | None = None, user: Any = None, **_: Any) -> None:
    via = "api" if request is not None and request.path.startswith("/api/") else "web"
    services.record("login", user=user, session_key=services.request_session_key(request), properties={"via": via})


def on_logged_out(sender: Any, *, request: HttpRequest | None = None, user: Any = None, **_: Any) -> None:
    services.record("logout", user=user, session_key=services.request_session_key(request))


def on_login_failed(
    sender: Any, *, credentials: dict | None = None, request: HttpRequest | None = None, **_: Any
) -> None:
    # Only the username tried: Django already masks the password, and we never keep it anyway.
    # People often type their password into the username box; so a name that
    # is no account's is kept only as "(unknown)", never as typed.
    username = str((credentials or {}).get("username", ""))[:150]
    model = get_user_model()
    if not username or not model._default_manager.filter(**{f"{model.USERNAME_FIELD}__iexact": username}).exists():
        username = "(unknown)"
    services.record(
        "login_failed", session_key=services.request_session_key(request), properties={"username": username}
    )


def on_personal_scheduler_requested(sender: Any, *, owner: Any, **_: Any) -> str | None:
    # The FSRS rollout: flagged users enter the scheduler-default experiment here.
    return experiments.choose_personal_scheduler(owner)


def on_users_deleting(sender: Any, *, users: list[Any], **_: Any) -> None:
    # Their events and rollup rows go with the accounts (cascade): neither the
    # cached dashboard figures nor a cached funnel may count them after the commit.
    services.rollups_mark_changed(user_ids=[user.pk for user in users])
    transaction.on_commit(queries.forget_funnels)


def connect() -> None:
    from lms.tracking import event_tracked

    personal_scheduler_requested.connect(on_personal_scheduler_requested, dispatch_uid="analytics.scheduler")
    event_tracked.connect(on_event_tracked, dispatch_uid="analytics.event_tracked")
    user_deleting.connect(on_users_deleting, dispatch_uid="analytics.users_deleting")
    user_logged_in.connect(on_logged_in, dispatch_uid="analytics.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="analytics.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="analytics.login_failed")
