from __future__ import annotations

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        from analytics import feature_requests, flags, receivers

        receivers.connect()
        flags.on_rollout_start(feature_requests.notify_rollout_start)
