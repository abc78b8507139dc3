"""A guardrail for the study-answer-bar flag: if users with the bar see more
server errors than everyone else, turn the flag off (it is a 10% rollout
without a plan to step back through)."""

from __future__ import annotations

from django.db import migrations

RULE = {
    "slug": "flag-study-answer-bar-errors",
    "name": "Study answer bar: more server errors than control",
    "kind": "flag_error_rate",
    "flag": "study-answer-bar",
    "flag_action": "off",
    "threshold": 0.02,
    "severity": 3,
    "window_minutes": 10,
    "min_requests": 200,
    "clear_minutes": 10,
    "components": ["web"],
}


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("ops", "DetectionRule").objects.get_or_create(slug=RULE["slug"], defaults=RULE)


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("ops", "DetectionRule").objects.filter(slug=RULE["slug"]).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0014_merge_20261202_0914")]

    operations = [migrations.RunPython(seed, unseed)]
