from __future__ import annotations

from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "Site"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from lms.middleware import stamp_session_on_login

        user_logged_in.connect(stamp_session_on_login, dispatch_uid="lms-idle-timeout")
