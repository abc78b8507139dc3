"""Seed the guardrails of the FSRS rollout and the experiments' SRM rule."""

from __future__ import annotations

from django.db import migrations

RULES = [
    {
        "slug": "flag-fsrs-errors",
        "name": "FSRS rollout: more server errors than control",
        "kind": "flag_error_rate",
        "flag": "fsrs-new-personal-decks",
        "flag_action": "step_back",
        "threshold": 0.02,
        "severity": 3,
        "window_minutes": 10,
        "min_requests": 200,
        "clear_minutes": 10,
        "components": ["web"],
    },
    {
        "slug": "flag-fsrs-p95",
        "name": "FSRS rollout: slower than control",
        "kind": "flag_p95",
        "flag": "fsrs-new-personal-decks",
        "flag_action": "step_back",
        "threshold": 300,
        "severity": 3,
        "window_minutes": 10,
        "min_requests": 200,
        "clear_minutes": 10,
        "components": ["web"],
    },
    {
        "slug": "experiment-srm",
        "name": "Experiment sample ratio mismatch",
        "kind": "experiment_srm",
        "threshold": 0,
        "severity": 4,
        "window_minutes": 1,
        "min_requests": 0,
        "clear_minutes": 10,
        "components": [],
    },
]


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    rule_model = apps.get_model("ops", "DetectionRule")
    for spec in RULES:
        rule_model.objects.get_or_create(slug=spec["slug"], defaults=spec)


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("ops", "DetectionRule").objects.filter(slug__in=[r["slug"] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0006_flag_guardrails")]

    operations = [migrations.RunPython(seed, unseed)]
