"""Drop waffle's own flag tables: WAFFLE_FLAG_MODEL is analytics.Flag.

waffle's 0001 migration creates `waffle_flag` (and its user/group tables)
whatever the setting says. Django no longer knows those tables once the model
is swapped, so a flush (pytest's transactional tests) could not truncate
`lms_user`: `waffle_flag_users` still pointed at it. They never held data
here (the only waffle object in use before was the maintenance switch).
If a future django-waffle adds a migration that alters its Flag, drop that
operation the same way.
"""

from __future__ import annotations

from django.db import migrations


def drop(apps, schema_editor) -> None:  # noqa: ANN001
    model = apps.get_model("waffle", "Flag")
    if model._meta.db_table in schema_editor.connection.introspection.table_names():
        schema_editor.delete_model(model)


def recreate(apps, schema_editor) -> None:  # noqa: ANN001
    model = apps.get_model("waffle", "Flag")
    if model._meta.db_table not in schema_editor.connection.introspection.table_names():
        schema_editor.create_model(model)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0005_seed_flags"),
        ("waffle", "0004_update_everyone_nullbooleanfield"),
    ]

    operations = [migrations.RunPython(drop, recreate)]
