"""Seed the flags a real rollout here uses, with their audit entries, and the
scheduler experiment they feed. Editable afterwards (staff page, API, admin)."""

from __future__ import annotations

from django.db import migrations
from django.utils import timezone

PLAN_5_TO_100 = {
    "current_percentage": 5.0,
    "target_percentage": 100.0,
    "increment": 10.0,
    "steps": [15.0, 25.0, 35.0, 45.0, 55.0, 65.0, 75.0, 85.0, 95.0, 100.0],
    "total_steps": 10,
    "recommendation": "Gradually increase from 5% to 100% in 10 steps",
}

FLAGS = [
    {
        "name": "fsrs-new-personal-decks",
        "title": "FSRS for new personal decks",
        "note": "New personal decks start on FSRS instead of SM-2 (scheduler-default experiment decides).",
        "enabled": True,
        "strategy": "gradual",
        "percentage": 5,
        "rollout_plan": PLAN_5_TO_100,
        "auto_advance": True,
        "hold_minutes": 1440,
    },
    {
        "name": "nps-survey",
        "title": "NPS question after a few study sessions",
        "note": "Asks students 0-10 at most once per 90 days, after their third study session.",
        "enabled": True,
        "strategy": "percentage",
        "percentage": 25,
    },
    {
        "name": "public-roadmap",
        "title": "Roadmap link in the footer",
        "note": "Shows the link to the public roadmap and feature requests in every page's footer.",
        "enabled": True,
        "strategy": "all_users",
        "percentage": 100,
    },
]

AUDITED = ("title", "note", "everyone", "enabled", "strategy", "percentage", "attributes", "allow_users",
           "deny_users", "rollout_plan", "rollout_step", "auto_advance", "hold_minutes")


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    flag_model = apps.get_model("analytics", "Flag")
    change_model = apps.get_model("analytics", "FlagChange")
    experiment_model = apps.get_model("analytics", "Experiment")
    now = timezone.now()
    for spec in FLAGS:
        flag, created = flag_model.objects.get_or_create(name=spec["name"], defaults={**spec, "created": now})
        if created:
            after = {k: float(getattr(flag, k)) if k == "percentage" else getattr(flag, k) for k in AUDITED}
            change_model.objects.create(
                flag=flag, flag_name=flag.name, source="seed", at=now, before={}, after=after, reason="seeded"
            )
    experiment_model.objects.get_or_create(
        name="scheduler-default",
        defaults={
            "title": "FSRS or SM-2 as a new personal deck's scheduler",
            "hypothesis": "FSRS keeps true retention at least as high with fewer reviews per day.",
            "variants": [{"key": "sm2", "weight": 50}, {"key": "fsrs", "weight": 50}],
            "flag": flag_model.objects.get(name="fsrs-new-personal-decks"),
            "primary_metric": {"kind": "true_retention"},
            "guardrail_metrics": [{"kind": "reviews_per_day"}],
            "mde": 0.03,
            "status": "running",
            "started_at": now,
        },
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("analytics", "Experiment").objects.filter(name="scheduler-default").delete()
    apps.get_model("analytics", "Flag").objects.filter(name__in=[f["name"] for f in FLAGS]).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0004_flags_experiments_feedback_requests")]

    operations = [migrations.RunPython(seed, unseed)]
