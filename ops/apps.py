from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save
        from waffle.models import Switch

        from lms import chart_annotations
        from lms import maintenance as site_maintenance
        from ops import annotations as ops_annotations
        from ops import services
        from ops.models import Incident, IncidentUpdate, MaintenanceWindow

        post_save.connect(_switch_saved, sender=Switch, dispatch_uid="ops-maintenance-switch-saved")
        post_delete.connect(_switch_deleted, sender=Switch, dispatch_uid="ops-maintenance-switch-deleted")
        post_save.connect(_update_saved, sender=IncidentUpdate, dispatch_uid="ops-incident-update-subscribers")
        # The public status page is cached whole: any change to what it shows, from
        # any path (services, admin, the watchdog), drops it at once.
        for model in (Incident, IncidentUpdate, MaintenanceWindow):
            for verb, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(_status_changed, sender=model, dispatch_uid=f"ops-status-{model.__name__}-{verb}")
        # Analytics stops writing events while the maintenance switch is on.
        site_maintenance.register(services.maintenance_mode_on)
        # Charts (analytics, performance) shade incidents and maintenance through lms.chart_annotations.
        chart_annotations.register("ops", ops_annotations.provider)

        # Feedback records the incidents open when it was sent (analytics cannot import ops).
        from analytics import feedback

        if _open_incidents not in feedback.incident_reader:
            feedback.incident_reader.append(_open_incidents)


def _open_incidents() -> list[dict[str, Any]]:
    from ops.models import Incident

    return [
        {"id": pk, "title": title, "severity": severity}
        for pk, title, severity in Incident.objects.open().values_list("pk", "title", "severity")[:5]
    ]


def _status_changed(sender: Any, **kwargs: Any) -> None:
    from ops import status_page

    status_page.forget()


def _switch_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    from ops import services, status_page

    if instance.name == services.MAINTENANCE_SWITCH:
        services.remember_switch(instance.active, instance.note)
        status_page.forget()


def _switch_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    from ops import services, status_page

    if instance.name == services.MAINTENANCE_SWITCH:
        services.remember_switch(False, "")
        status_page.forget()


def _update_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """Every public incident update, from any path (people, detection, the
    watchdog), is a notice for status subscribers, sent after commit."""
    from ops import services

    if created and instance.public:
        services.notify_subscribers_on_commit("incident", instance.pk, "update")
