from __future__ import annotations

from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "Site"

    def ready(self) -> None:
        # Connects the receiver that stamps audit entries with actor and address.
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_delete, post_save

        from lms import audit  # noqa: F401
        from lms.auth import user_changed
        from lms.middleware import stamp_session_on_login
        from lms.privacy import cancel_deletion_on_log_in

        user_logged_in.connect(cancel_deletion_on_log_in, dispatch_uid="lms.cancel_deletion_on_log_in")
        user_logged_in.connect(stamp_session_on_login, dispatch_uid="lms-idle-timeout")
        for signal in (post_save, post_delete):
            signal.connect(user_changed, sender="lms.User", dispatch_uid=f"lms-auth-user-{signal is post_save}")
        bound_text_fields_in_the_api()


def bound_text_fields_in_the_api() -> None:
    """Every model TextField a ModelSerializer exposes gets a maximum length
    (TEXT_FIELD_MAX_CHARS) unless the serializer declares its own: a TextField
    has no limit in the database, so without this one a description could be
    as long as the request body allows. Done here, once, rather than in each
    serializer, so a new serializer cannot forget it; the schema shows it as maxLength."""
    from django.conf import settings
    from django.db import models
    from rest_framework import serializers

    class BoundedTextField(serializers.CharField):
        def __init__(self, **kwargs: object) -> None:
            kwargs.setdefault("max_length", settings.TEXT_FIELD_MAX_CHARS)
            super().__init__(**kwargs)

    serializers.ModelSerializer.serializer_field_mapping[models.TextField] = BoundedTextField
