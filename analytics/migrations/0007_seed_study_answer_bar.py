"""Seed the second product change behind a flag: the study screen's answer bar
(on a phone the four answer buttons stay at the bottom of the screen, within
thumb reach, however long the answer is). 10% of users, sticky; the flag's
guardrail rules (ops 0015) compare its errors and p95 with everyone else."""

from __future__ import annotations

from django.db import migrations
from django.utils import timezone

SPEC = {
    "name": "study-answer-bar",
    "title": "Study screen: answer buttons in a bar at the bottom on phones",
    "note": "On narrow screens the Again/Hard/Good/Easy buttons stick to the bottom of the screen.",
    "enabled": True,
    "strategy": "percentage",
    "percentage": 10,
}
AUDITED = ("title", "note", "everyone", "enabled", "strategy", "percentage", "attributes", "allow_users",
           "deny_users", "rollout_plan", "rollout_step", "auto_advance", "hold_minutes")


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    flag_model = apps.get_model("analytics", "Flag")
    change_model = apps.get_model("analytics", "FlagChange")
    now = timezone.now()
    flag, created = flag_model.objects.get_or_create(name=SPEC["name"], defaults={**SPEC, "created": now})
    if created:
        after = {k: float(getattr(flag, k)) if k == "percentage" else getattr(flag, k) for k in AUDITED}
        change_model.objects.create(
            flag=flag, flag_name=flag.name, source="seed", at=now, before={}, after=after, reason="seeded"
        )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("analytics", "Flag").objects.filter(name=SPEC["name"]).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0006_drop_swapped_waffle_flag")]

    operations = [migrations.RunPython(seed, unseed)]
