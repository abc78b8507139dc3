from __future__ import annotations

from django.core.management.base import BaseCommand

from lms.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create the demo users and content (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        users = seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for user in (users.admin, users.teacher, users.student):
            self.stdout.write(f"  {user.username:<8} ({user.role}) password: {DEMO_PASSWORD}")
