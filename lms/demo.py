"""Demo data, shared by `manage.py seed_demo` and the tests that need it.

Each app contributes its own part through a function registered in
`DEMO_SEEDERS` (called in order with the demo users); every seeder is
idempotent, so running the command twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from lms.models import User

DEMO_PASSWORD = "demo-pass-123"


@dataclass(frozen=True)
class DemoUsers:
    admin: User
    teacher: User
    student: User


def _user(username: str, role: str, first: str, last: str) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"role": role, "first_name": first, "last_name": last, "email": f"{username}@example.com"},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def seed_users() -> DemoUsers:
    return DemoUsers(
        admin=_user("admin", User.Role.ADMIN, "Ada", "Admin"),
        teacher=_user("teacher", User.Role.TEACHER, "Tess", "Teacher"),
        student=_user("student", User.Role.STUDENT, "Sam", "Student"),
    )


def _seeders() -> list[Callable[[DemoUsers], object]]:
    """Each app's seeder, imported lazily so a missing app does not break the rest."""
    import importlib

    found = []
    for module_name in ("learning.demo", "learning.study_demo", "analytics.demo", "ops.demo"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found.append(module.seed)
    return found


@transaction.atomic
def seed_demo() -> DemoUsers:
    users = seed_users()
    for seed in _seeders():
        seed(users)
    return users
