from __future__ import annotations

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        from analytics import feature_requests, flags, receivers

        receivers.connect()
        from lms.signals import personal_data_requested

        personal_data_requested.connect(_personal_data, dispatch_uid="analytics.personal_data")
        flags.on_rollout_start(feature_requests.notify_rollout_start)


def _personal_data(sender: object, user: object, **kwargs: object) -> list:
    from analytics.privacy import personal_data

    return personal_data(user)
