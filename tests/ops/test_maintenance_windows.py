"""The staff page for scheduled maintenance windows, and the services it shares
with /api/v1/ops/maintenance-windows/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from lms.errors import Conflict
from ops import services
from ops.models import MaintenanceWindow
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FMT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def staff_teacher():
    """Staff who is not an admin: may manage windows, like through the API."""
    return UserFactory(username="stella", role="teacher", is_staff=True)


def _form(start=None, hours=2, **overrides):
    start = start or timezone.now() + timedelta(days=1)
    data = {
        "title": "Database upgrade",
        "starts_at": start.strftime(FMT),
        "ends_at": (start + timedelta(hours=hours)).strftime(FMT),
        "components": ["database"],
        "message": "Read-only for up to two hours.",
    }
    data.update(overrides)
    return data


def _window(title="Cache resize", start_in=timedelta(days=2), hours=1, **kw):
    start = timezone.now() + start_in
    return MaintenanceWindow.objects.create(title=title, starts_at=start, ends_at=start + timedelta(hours=hours), **kw)


# --- permissions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,args,method",
    [
        ("ops:maintenance_windows", [], "get"),
        ("ops:maintenance_window_new", [], "get"),
        ("ops:maintenance_window_new", [], "post"),
        ("ops:maintenance_window_edit", ["PK"], "get"),
        ("ops:maintenance_window_edit", ["PK"], "post"),
        ("ops:maintenance_window_cancel", ["PK"], "post"),
    ],
)
def test_students_and_teachers_are_refused_and_anonymous_sent_to_log_in(
    client_for, student, teacher, name, args, method
):
    window = _window()
    url = reverse(name, args=[window.pk if a == "PK" else a for a in args])
    data = _form() if method == "post" else None
    for user in (student, teacher):
        assert getattr(client_for(user), method)(url, data).status_code == 403
    anonymous = getattr(client_for(None), method)(url, data)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    window.refresh_from_db()
    assert (window.title, window.cancelled_at) == ("Cache resize", None)
    assert MaintenanceWindow.objects.count() == 1


def test_an_unknown_window_is_404(client_for, admin):
    assert client_for(admin).get(reverse("ops:maintenance_window_edit", args=[999])).status_code == 404
    assert client_for(admin).post(reverse("ops:maintenance_window_cancel", args=[999])).status_code == 404


def test_the_cancel_url_only_takes_post(client_for, admin):
    window = _window()
    assert client_for(admin).get(reverse("ops:maintenance_window_cancel", args=[window.pk])).status_code == 405
    window.refresh_from_db()
    assert window.cancelled_at is None


# --- create ---------------------------------------------------------------------------


def test_staff_schedule_a_window_and_the_public_sees_it(client_for, staff_teacher):
    client = client_for(staff_teacher)
    assert client.get(reverse("ops:maintenance_window_new")).status_code == 200
    response = client.post(reverse("ops:maintenance_window_new"), _form())
    assert response.status_code == 302 and response["Location"] == reverse("ops:maintenance_windows")
    window = MaintenanceWindow.objects.get()
    assert window.created_by == staff_teacher
    assert window.components == ["database"]
    assert window.ends_at - window.starts_at == timedelta(hours=2)
    listing = client.get(reverse("ops:maintenance_windows")).content.decode()
    assert "Database upgrade" in listing and "Scheduled" in listing
    status = client_for(None).get("/status/").content.decode()
    assert "Database upgrade" in status and "Read-only for up to two hours." in status


@pytest.mark.parametrize(
    "overrides,field,text",
    [
        ({"hours": -1}, "ends_at", "must end after it starts"),
        ({"hours": 0}, "ends_at", "must end after it starts"),
        ({"start": "past"}, "ends_at", "must end in the future"),
        ({"components": ["database", "moon"]}, "components", "moon"),
        ({"title": "   "}, "title", "required"),
        ({"starts_at": "next tuesday"}, "starts_at", "valid date"),
    ],
)
def test_bad_input_shows_a_clear_error_and_writes_nothing(client_for, admin, overrides, field, text):
    overrides = dict(overrides)
    kwargs = {}
    if "hours" in overrides:
        kwargs["hours"] = overrides.pop("hours")
    if overrides.pop("start", None) == "past":
        kwargs["start"] = timezone.now() - timedelta(days=2)
    response = client_for(admin).post(reverse("ops:maintenance_window_new"), _form(**kwargs, **overrides))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert text in " ".join(form.errors[field])
    assert text in response.content.decode()
    assert MaintenanceWindow.objects.count() == 0


def test_the_service_rejects_unknown_components_and_backwards_windows():
    start = timezone.now() + timedelta(hours=1)
    with pytest.raises(ValidationError) as exc:
        services.maintenance_window_create(
            title="x", starts_at=start, ends_at=start - timedelta(minutes=5), components=["moon"]
        )
    assert set(exc.value.message_dict) == {"ends_at", "components"}
    assert MaintenanceWindow.objects.count() == 0


# --- edit -----------------------------------------------------------------------------


def test_staff_edit_an_upcoming_window(client_for, admin):
    window = _window()
    client = client_for(admin)
    page = client.get(reverse("ops:maintenance_window_edit", args=[window.pk]))
    assert page.status_code == 200
    assert f'value="{window.starts_at:%Y-%m-%dT%H:%M}"' in page.content.decode()
    start = timezone.now() + timedelta(days=3)
    response = client.post(
        reverse("ops:maintenance_window_edit", args=[window.pk]),
        _form(start=start, hours=3, title="Cache resize (moved)", components=[]),
    )
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.title == "Cache resize (moved)"
    assert window.starts_at == start.replace(second=0, microsecond=0)
    assert window.components == []


def test_a_bad_edit_changes_nothing(client_for, admin):
    window = _window()
    before = (window.title, window.starts_at, window.ends_at, window.components)
    response = client_for(admin).post(
        reverse("ops:maintenance_window_edit", args=[window.pk]), _form(hours=-2, title="Changed")
    )
    assert response.status_code == 400
    assert "must end after it starts" in response.content.decode()
    window.refresh_from_db()
    assert (window.title, window.starts_at, window.ends_at, window.components) == before


def test_past_and_cancelled_windows_cannot_be_edited(client_for, admin):
    past = _window("Old", start_in=-timedelta(days=1))
    cancelled = _window("Called off", cancelled_at=timezone.now())
    client = client_for(admin)
    for window in (past, cancelled):
        response = client.post(reverse("ops:maintenance_window_edit", args=[window.pk]), _form(title="Rewritten"))
        assert response.status_code == 302
        window.refresh_from_db()
        assert window.title != "Rewritten"
    with pytest.raises(Conflict):
        services.maintenance_window_update(window=past, title="Rewritten")


# --- cancel ---------------------------------------------------------------------------


def test_cancelling_keeps_the_row_and_takes_it_off_the_status_page(client_for, admin):
    window = _window("Cache resize")
    client = client_for(admin)
    assert "Cache resize" in client_for(None).get("/status/").content.decode()
    response = client.post(reverse("ops:maintenance_window_cancel", args=[window.pk]))
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.cancelled_at is not None and window.cancelled_by == admin
    assert "Cache resize" not in client_for(None).get("/status/").content.decode()
    listing = client.get(reverse("ops:maintenance_windows"))
    assert [w.pk for w in listing.context["past"].object_list] == [window.pk]
    assert listing.context["upcoming"] == []
    assert "cancelled by ada" in listing.content.decode()
    # A second cancel is refused politely, not a 500.
    again = client.post(reverse("ops:maintenance_window_cancel", args=[window.pk]), follow=True)
    assert "already cancelled" in again.content.decode()


def test_ending_a_window_in_progress_ends_the_maintenance_status(client_for, admin):
    window = _window("Reindex", start_in=-timedelta(minutes=10), components=["database"])
    assert client_for(None).get("/api/v1/status/").json()["status"] == "maintenance"
    client_for(admin).post(reverse("ops:maintenance_window_cancel", args=[window.pk]))
    assert client_for(None).get("/api/v1/status/").json()["status"] != "maintenance"


def test_the_api_delete_cancels_through_the_same_service(api_for, admin):
    window = _window()
    assert api_for(admin).delete(f"/api/v1/ops/maintenance-windows/{window.pk}/").status_code == 204
    window.refresh_from_db()
    assert window.cancelled_at is not None
    again = api_for(admin).delete(f"/api/v1/ops/maintenance-windows/{window.pk}/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "window_cancelled"
    listed = api_for(admin).get("/api/v1/ops/maintenance-windows/").json()["results"]
    assert listed[0]["state"] == "cancelled"
    assert api_for(admin).get("/api/v1/ops/maintenance-windows/?upcoming=1").json()["count"] == 0


def test_the_api_refuses_to_edit_a_past_window(api_for, admin):
    past = _window("Old", start_in=-timedelta(days=1))
    response = api_for(admin).patch(f"/api/v1/ops/maintenance-windows/{past.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 409
    past.refresh_from_db()
    assert past.title == "Old"


# --- listing --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 30])
def test_the_list_splits_upcoming_from_past_in_constant_queries(client_for, admin, count, django_assert_num_queries):
    for i in range(count):
        _window(f"Future {i}", start_in=timedelta(days=i + 1), created_by=admin)
        _window(f"Past {i}", start_in=-timedelta(days=i + 1), created_by=admin)
    _window("Running", start_in=-timedelta(minutes=5))
    client = client_for(admin)
    # user (the session is cached), upcoming windows, count of past windows, one page of past windows
    with django_assert_num_queries(4):
        response = client.get(reverse("ops:maintenance_windows"))
    upcoming = response.context["upcoming"]
    assert upcoming[0].title == "Running" and upcoming[0].current_state == "in_progress"
    assert len(upcoming) == count + 1
    past = response.context["past"]
    assert past.paginator.count == count
    assert past.object_list[0].title == "Past 0"
    html = response.content.decode()
    assert "End now" in html and "In progress" in html


def test_the_dashboard_links_to_the_page(client_for, admin):
    html = client_for(admin).get(reverse("ops:dashboard")).content.decode()
    assert reverse("ops:maintenance_windows") in html
    assert "admin/ops/maintenancewindow" not in html


def test_an_empty_list_says_so(client_for, admin):
    html = client_for(admin).get(reverse("ops:maintenance_windows")).content.decode()
    assert "Nothing scheduled" in html and "No past maintenance" in html


def test_the_api_refuses_a_window_in_the_past_with_the_error_shape(api_for, admin):
    start = timezone.now() - timedelta(days=2)
    response = api_for(admin).post(
        "/api/v1/ops/maintenance-windows/",
        {"title": "Too late", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "must end in the future" in str(response.json()["error"]["details"]["ends_at"])
    assert MaintenanceWindow.objects.count() == 0
