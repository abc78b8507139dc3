from __future__ import annotations

from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "Site"

    def ready(self) -> None:
        # Connects the receiver that stamps audit entries with actor and address.
        from django.contrib.auth.signals import user_logged_in

        from lms import audit  # noqa: F401
        from lms.privacy import cancel_deletion_on_log_in

        user_logged_in.connect(cancel_deletion_on_log_in, dispatch_uid="lms.cancel_deletion_on_log_in")
