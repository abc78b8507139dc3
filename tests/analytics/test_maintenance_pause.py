"""Maintenance mode stops analytics writes (a restore must not race event
inserts); analytics learns of the switch through lms.maintenance, not ops."""

from __future__ import annotations

from analytics.models import Event
from lms import maintenance
from lms.tracking import track
from ops import services


def test_no_event_is_written_while_maintenance_mode_is_on(admin, student, client_for) -> None:
    services.maintenance_mode_set(on=True, message="Restoring", user=admin)
    assert maintenance.active()
    track("deck_created", user=student, deck_id=1)
    staff = client_for(admin)  # staff still reach the site during maintenance
    response = staff.post(
        "/api/v1/analytics/events/", {"events": [{"name": "card_flipped"}]}, content_type="application/json"
    )
    assert response.status_code == 201 and response.json() == {"accepted": 0}
    staff.get("/decks/")  # page views of staff are not recorded either
    assert Event.objects.count() == 0

    services.maintenance_mode_set(on=False, user=admin)
    track("deck_created", user=student, deck_id=1)
    assert list(Event.objects.values_list("name", flat=True)) == ["deck_created"]


def test_a_failing_reader_does_not_stop_tracking(monkeypatch) -> None:
    def broken() -> bool:
        raise RuntimeError("switch table missing")

    monkeypatch.setattr(maintenance, "_readers", [broken])
    assert maintenance.active() is False
