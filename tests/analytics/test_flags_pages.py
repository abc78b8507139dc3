"""Staff flag pages: the list (rollout, exposures, guardrail state, stale) and
one flag with its plan, admin-only actions and the audit log of every change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics import flags
from analytics.models import Flag, FlagChange, FlagExposure
from lms.models import User


@pytest.fixture(autouse=True)
def _no_seeded_flags() -> None:
    Flag.objects.all().delete()


@pytest.fixture
def staff_teacher(teacher: User) -> User:
    """Staff who may read flags but, not being an admin, not change them."""
    teacher.is_staff = True
    teacher.save(update_fields=["is_staff"])
    return teacher


def make(name: str, **fields: object) -> Flag:
    return flags.flag_create(name=name, actor=None, source=FlagChange.Source.SEED, **fields)


def test_list_shows_rollout_exposures_guardrails_and_stale_flags_in_fixed_queries(
    client_for, admin, student, outsider, django_assert_max_num_queries
) -> None:
    rollout = make("new-ui", title="New UI", enabled=True, percentage=5)
    flags.flag_plan_rollout(flag=rollout, actor=admin, source="staff", auto_advance=True)
    FlagExposure.objects.create(flag_name="new-ui", user=student)
    FlagExposure.objects.create(flag_name="new-ui", user=outsider)
    flags.flag_guard_report(name="new-ui", healthy=False, note="errors up")
    for i in range(6):
        make(f"old-{i}", enabled=True, strategy="all_users")
    Flag.objects.filter(name__startswith="old-").update(modified=timezone.now() - timedelta(days=31))
    client = client_for(admin)
    client.get("/analytics/flags/")
    # user (the session is cached), the flags with their exposure counts, the analytics INSERT (+ savepoints)
    with django_assert_max_num_queries(7):
        page = client.get("/analytics/flags/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "5%" in html and "step 0 of 10 (auto)" in html
    assert '<td class="num">2</td>' in html
    assert '<span class="badge bad">tripped</span>' in html
    assert "Stale (at 0% or 100%" in html and "old-0, old-1, old-2, old-3, old-4, old-5" in html
    assert html.count('<span class="badge warn">stale</span>') == 6


def test_detail_shows_the_plan_and_the_audit_log_of_every_change(client_for, admin) -> None:
    flag = make("new-ui", enabled=True, percentage=5)
    flag = flags.flag_plan_rollout(flag=flag, actor=admin, source="api")
    flags.flag_advance(flag=flag, actor=admin, source="api", reason="p95 flat for a day")
    html = client_for(admin).get("/analytics/flags/new-ui/").content.decode()
    assert "Gradually increase from 5% to 100% in 10 steps" in html
    assert html.count("<li class=") == 10 and '<li class="done current">15%</li>' in html
    log = html.split('id="log-h"')[1]
    assert log.count("<tr>") == 1 + 3  # header, created, planned, step 1
    assert "<code>percentage</code>: 5.0 → 15.0" in log and "p95 flat for a day" in log and "ada" in log


def test_an_admin_changes_a_flag_on_its_page_and_the_change_is_audited(client_for, admin) -> None:
    make("new-ui", enabled=True, percentage=5)
    client = client_for(admin)
    url = "/analytics/flags/new-ui/"
    response = client.post(url, {"action": "percentage", "percentage": "20", "reason": "beta group grew"})
    assert response.status_code == 302 and response["Location"] == url
    response = client.post(url, {"action": "plan", "target": "100", "increment": "20", "auto_advance": "on"})
    flag = Flag.objects.get(name="new-ui")
    assert flag.rollout_plan["steps"] == [40.0, 60.0, 80.0, 100.0] and flag.auto_advance
    client.post(url, {"action": "advance"})
    client.post(url, {"action": "disable", "reason": "support tickets"})
    flag = Flag.objects.get(name="new-ui")
    assert float(flag.percentage) == 40 and not flag.enabled
    changes = list(FlagChange.objects.filter(flag_name="new-ui", source="staff").order_by("id"))
    assert [c.reason for c in changes] == [
        "beta group grew",
        "Gradually increase from 20% to 100% in 4 steps",
        "step 1 of 4: 40%",
        "support tickets",
    ]
    assert all(c.actor == admin for c in changes)
    page = client.get(url).content.decode()
    assert "support tickets" in page and "beta group grew" in page


@pytest.mark.parametrize(
    "data",
    [
        {"action": "percentage", "percentage": "150"},
        {"action": "percentage", "percentage": "lots"},
        {"action": "plan", "target": "3", "increment": "10"},
        {"action": "advance"},  # no plan
        {"action": "explode"},
    ],
)
def test_bad_changes_are_refused_with_a_message_and_write_nothing(client_for, admin, data) -> None:
    make("new-ui", enabled=True, percentage=5)
    client = client_for(admin)
    response = client.post("/analytics/flags/new-ui/", data, follow=True)
    assert response.status_code == 200
    assert '<li class="message error">' in response.content.decode()
    assert FlagChange.objects.filter(flag_name="new-ui").count() == 1
    assert float(Flag.objects.get(name="new-ui").percentage) == 5


def test_staff_read_but_only_admins_change_and_students_see_nothing(client_for, staff_teacher, student) -> None:
    make("new-ui", enabled=True, percentage=5)
    staff = client_for(staff_teacher)
    assert staff.get("/analytics/flags/").status_code == 200
    page = staff.get("/analytics/flags/new-ui/")
    assert page.status_code == 200 and 'name="action"' not in page.content.decode()
    assert staff.post("/analytics/flags/new-ui/", {"action": "disable"}).status_code == 403
    assert client_for(student).get("/analytics/flags/").status_code == 403
    assert client_for(student).get("/analytics/flags/new-ui/").status_code == 403
    assert client_for(student).post("/analytics/flags/new-ui/", {"action": "disable"}).status_code == 403
    assert client_for(None).get("/analytics/flags/").status_code == 302
    assert Flag.objects.get(name="new-ui").enabled is True
    assert FlagChange.objects.filter(flag_name="new-ui").count() == 1
    assert client_for(staff_teacher).get("/analytics/flags/missing/").status_code == 404


def test_enter_in_a_field_sets_the_percentage_never_turns_the_flag_off(client_for, admin) -> None:
    """Browsers submit a form's first button on Enter: it must be the harmless one."""
    make("new-ui", enabled=True, percentage=5)
    html = client_for(admin).get("/analytics/flags/new-ui/").content.decode()
    first_button = html.split('id="act-h"')[1].split("<button")[1]
    assert 'value="percentage"' in first_button


def test_a_change_that_changes_nothing_says_so_and_writes_no_audit_row(client_for, admin) -> None:
    make("new-ui", enabled=True, percentage=5)
    response = client_for(admin).post(
        "/analytics/flags/new-ui/", {"action": "percentage", "percentage": "5"}, follow=True
    )
    assert "Nothing changed" in response.content.decode()
    assert FlagChange.objects.filter(flag_name="new-ui").count() == 1
