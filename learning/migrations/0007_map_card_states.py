"""Map today's card states onto the scheduler-state representation.

Before 0006 a card was "learning" while SM-2's repetitions were below 2 and
"review" after; both had whole-day intervals. From 0006 on, "learning" and
"relearning" mean "in a learning step" (minutes), so every card answered
before is a review card: status becomes "review" with step 0, and nothing
else changes (repetitions, interval, ease, due, lapses, counts stay exactly).
Review rows get the same relabelling of status_before. The reverse is exact
for rows this migration touched: SM-2's repetitions tell which were learning.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import Q


def forwards(apps, schema_editor):
    CardState = apps.get_model("learning", "CardState")
    Review = apps.get_model("learning", "Review")
    CardState.objects.filter(status="learning").update(status="review", step=0)
    Review.objects.filter(status_before="learning").update(status_before="review")


def backwards(apps, schema_editor):
    CardState = apps.get_model("learning", "CardState")
    Review = apps.get_model("learning", "Review")
    CardState.objects.filter(Q(status__in=["learning", "relearning"]) | Q(status="review", repetitions__lt=2)).update(
        status="learning", step=0
    )
    CardState.objects.filter(status="review", repetitions__gte=2).update(step=0)
    Review.objects.filter(Q(status_before="relearning") | Q(status_before="review", repetitions_before__lt=2)).update(
        status_before="learning"
    )


class Migration(migrations.Migration):
    dependencies = [("learning", "0006_scheduler_state")]

    operations = [migrations.RunPython(forwards, backwards)]
