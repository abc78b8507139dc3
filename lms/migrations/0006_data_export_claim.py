"""DataExport.queued_at, started_at and attempts: a build claims its export
before building (so of two deliveries of its task one builds), and the sweep
measures lost messages and dead builds from them.

Exports already pending get queued_at = now: the first sweeps after the
deploy re-send those that were stuck."""

from __future__ import annotations

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lms", "0005_user_signup_pending"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataexport",
            name="queued_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="dataexport",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="dataexport",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
