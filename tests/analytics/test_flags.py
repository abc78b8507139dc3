"""Feature flags: sticky percentages, lists, attributes, gradual rollout, audit, one query per request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from waffle import flag_is_active

from analytics import flags
from analytics.models import Flag, FlagChange, FlagExposure
from learning.models import Classroom, Enrollment


@pytest.fixture(autouse=True)
def _no_seeded_flags() -> None:
    """Start from no flags (migration 0005 seeds three)."""
    Flag.objects.all().delete()


def subjects(n: int = 10_000) -> list[flags.Subject]:
    return [flags.Subject(key=str(i), user_id=i) for i in range(1, n + 1)]


def make(name: str = "new-ui", **fields: object) -> Flag:
    return flags.flag_create(name=name, actor=None, source=FlagChange.Source.SEED, **fields)


def test_25_percent_enables_25_plus_minus_2_points_of_10000_users_and_the_same_ones_each_time() -> None:
    flag = make(enabled=True, percentage=25)
    first = {s.user_id for s in subjects() if flags.evaluate(flag, s)[0]}
    assert 2300 <= len(first) <= 2700
    reloaded = Flag.objects.get(pk=flag.pk)
    again = {s.user_id for s in subjects() if flags.evaluate(reloaded, s)[0]}
    assert again == first


def test_raising_the_percentage_keeps_everyone_who_had_it() -> None:
    flag = make(enabled=True, percentage=10)
    before = {s.user_id for s in subjects(3000) if flags.evaluate(flag, s)[0]}
    flag = flags.flag_update(flag=flag, actor=None, source="api", percentage=35)
    after = {s.user_id for s in subjects(3000) if flags.evaluate(flag, s)[0]}
    assert before < after


def test_different_flags_pick_different_users() -> None:
    a, b = make("a", enabled=True, percentage=50), make("b", enabled=True, percentage=50)
    on_a = {s.user_id for s in subjects(2000) if flags.evaluate(a, s)[0]}
    on_b = {s.user_id for s in subjects(2000) if flags.evaluate(b, s)[0]}
    assert 0.4 < len(on_a & on_b) / len(on_a) < 0.6  # independent, not the same half


def test_deny_list_beats_allow_list_and_allow_list_beats_percentage() -> None:
    flag = make(enabled=True, percentage=0, allow_users=[1, 2], deny_users=[2])
    assert flags.evaluate(flag, flags.Subject("1", 1))[0] is True
    assert flags.evaluate(flag, flags.Subject("2", 2)) == (False, "deny list")
    assert flags.evaluate(flag, flags.Subject("3", 3))[0] is False


def test_disabled_and_waffle_everyone_override() -> None:
    flag = make(enabled=False, strategy="all_users")
    assert not flags.evaluate(flag, flags.Subject("1", 1))[0]
    flag = flags.flag_update(flag=flag, actor=None, source="api", everyone=True)
    assert flags.evaluate(flag, flags.Subject("1", 1))[0]


def test_attribute_targeting_by_role_class_sign_up_date_and_time_zone(student, outsider, teacher) -> None:
    classroom = Classroom.objects.create(name="Bio", teacher=teacher)
    Enrollment.objects.create(classroom=classroom, student=student)
    flag = make(
        enabled=True,
        strategy="user_attribute",
        attributes={
            "role": ["student"],
            "classrooms": [classroom.pk],
            "timezone": "Europe/Berlin",
            "joined_after": (timezone.now() - timedelta(days=3)).date().isoformat(),
        },
    )
    assert flags.evaluate(flag, flags.subject_for(student)) == (True, "in 100%")
    assert flags.evaluate(flag, flags.subject_for(outsider))[0] is False  # not in the class, other zone
    assert flags.evaluate(flag, flags.subject_for(teacher))[0] is False  # a teacher
    student.date_joined = timezone.now() - timedelta(days=30)
    assert flags.evaluate(flag, flags.subject_for(student))[0] is False
    # Any attribute the caller keeps, e.g. a plan.
    plan_flag = make("premium", enabled=True, strategy="user_attribute", attributes={"plan": "premium"})
    assert flags.evaluate(plan_flag, flags.subject_for(outsider, {"plan": "premium"}))[0]
    assert not flags.evaluate(plan_flag, flags.subject_for(outsider, {"plan": "free"}))[0]


def test_the_briefs_gradual_rollout_example_gives_exactly_its_steps() -> None:
    plan = flags.gradual_plan(5.0, 100.0, 10.0)
    assert plan == {
        "current_percentage": 5.0,
        "target_percentage": 100.0,
        "increment": 10.0,
        "steps": [15.0, 25.0, 35.0, 45.0, 55.0, 65.0, 75.0, 85.0, 95.0, 100.0],
        "total_steps": 10,
        "recommendation": "Gradually increase from 5% to 100% in 10 steps",
    }


def test_a_stored_plan_advances_step_by_step_and_every_change_is_audited(admin) -> None:
    flag = make(enabled=True, percentage=5)
    flag = flags.flag_plan_rollout(flag=flag, actor=admin, source="staff")
    seen = []
    while flags.next_step(flag) is not None:
        flag = flags.flag_advance(flag=flag, actor=admin, source="staff")
        seen.append(float(flag.percentage))
    assert seen == flag.rollout_plan["steps"]
    changes = list(FlagChange.objects.filter(flag_name="new-ui").order_by("at", "id"))
    assert len(changes) == 1 + 1 + 10  # created, planned, ten steps
    assert changes[2].before["percentage"] == 5.0 and changes[2].after["percentage"] == 15.0
    assert changes[2].actor == admin and "step 1 of 10" in changes[2].reason
    flag = flags.flag_step_back(flag=flag, actor=admin, source="staff", reason="p95 up")
    assert float(flag.percentage) == 95.0 and flag.rollout_step == 9
    assert FlagChange.objects.filter(flag_name="new-ui").count() == 13


def test_auto_advance_only_after_guardrails_held_for_the_hold_time() -> None:
    flag = make(enabled=True, percentage=5)
    flag = flags.flag_plan_rollout(flag=flag, actor=None, source="api", auto_advance=True, hold_minutes=60)
    now = timezone.now()
    assert flags.rollouts_advance(now=now + timedelta(hours=2)) == []  # nobody watches it
    flags.flag_guard_report(name=flag.name, healthy=True, now=now)
    assert flags.rollouts_advance(now=now + timedelta(minutes=30)) == []
    assert flags.rollouts_advance(now=now + timedelta(minutes=61)) == ["new-ui"]
    assert float(Flag.objects.get(pk=flag.pk).percentage) == 15.0
    assert FlagChange.objects.filter(source="auto").count() == 1
    # The step just changed: the next one waits another hold.
    assert flags.rollouts_advance(now=now + timedelta(minutes=62)) == []
    flags.flag_guard_report(name=flag.name, healthy=False, now=now + timedelta(minutes=70))
    assert flags.rollouts_advance(now=now + timedelta(hours=5)) == []


def test_stale_flags_are_those_at_0_or_100_unchanged_for_30_days() -> None:
    old = timezone.now() - timedelta(days=31)
    make("full", enabled=True, strategy="all_users")
    make("half", enabled=True, percentage=50)
    make("off", enabled=False)
    Flag.objects.update(modified=old)
    make("fresh", enabled=True, strategy="all_users")
    assert sorted(f.name for f in flags.stale_flags()) == ["full", "off"]


def test_waffle_flag_is_active_and_the_template_tag_use_the_sticky_rules(student) -> None:
    make(enabled=True, percentage=0, allow_users=[student.pk])
    request = RequestFactory().get("/")
    request.user = student
    assert flag_is_active(request, "new-ui") is True
    html = Template("{% load waffle_tags %}{% flag 'new-ui' %}ON{% else %}OFF{% endflag %}").render(
        Context({"request": request})
    )
    assert html == "ON"
    assert request.flags_seen == {"new-ui": "on"}


def test_a_request_evaluates_every_flag_with_one_query_then_none(client_for, student) -> None:
    for i in range(5):
        make(f"f{i}", enabled=True, percentage=50)
    flags.forget_snapshot()
    client = client_for(student)
    with CaptureQueriesContext(connection) as cold:
        response = client.get("/api/v1/flags/me/")
    assert response.status_code == 200 and len(response.json()["flags"]) == 5
    flag_queries = [q for q in cold.captured_queries if 'FROM "analytics_flag"' in q["sql"]]
    assert len(flag_queries) == 1  # the snapshot, shared by all five
    with CaptureQueriesContext(connection) as warm:
        client.get("/api/v1/flags/me/")
    assert not [q for q in warm.captured_queries if 'FROM "analytics_flag"' in q["sql"]]


def test_exposures_are_recorded_once_per_user_for_flags_that_were_on(client_for, student) -> None:
    make("on-for-all", enabled=True, strategy="all_users")
    make("off-for-all", enabled=False)
    client = client_for(student)
    client.get("/api/v1/flags/me/")
    client.get("/api/v1/flags/me/")
    assert list(FlagExposure.objects.values_list("flag_name", "user")) == [("on-for-all", student.pk)]


def admin_form_data(page, flag, *, percentage: str) -> dict:
    """The admin change form of `flag` as served, turned into a percentage rollout."""
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list | dict)}
    data.update(
        name="new-ui",
        enabled="on",
        strategy="percentage",
        percentage=percentage,
        attributes="{}",
        allow_users="[]",
        deny_users="[]",
        rollout_plan="{}",
        rollout_step="0",
        hold_minutes="60",
        created_0=flag.created.strftime("%Y-%m-%d"),
        created_1=flag.created.strftime("%H:%M:%S"),
        modified_0=flag.modified.strftime("%Y-%m-%d"),
        modified_1=flag.modified.strftime("%H:%M:%S"),
    )
    return data


def test_an_admin_change_in_the_django_admin_is_audited(client_for, admin) -> None:
    flag = make(enabled=False)
    client = client_for(admin)
    page = client.get(f"/admin/analytics/flag/{flag.pk}/change/")
    assert page.status_code == 200
    data = admin_form_data(page, flag, percentage="30")
    response = client.post(f"/admin/analytics/flag/{flag.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    change = FlagChange.objects.filter(source="admin").get()
    assert change.actor == admin and change.after["percentage"] == 30.0 and change.after["enabled"] is True


def test_deleting_a_flag_in_the_django_admin_is_audited_and_the_change_reaches_evaluation(
    client_for, admin, student, django_capture_on_commit_callbacks
) -> None:
    flag = make(enabled=True, strategy="all_users")
    request = RequestFactory().get("/")
    request.user = student
    assert flags.flag_on(request, "new-ui") is True
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(f"/admin/analytics/flag/{flag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    change = FlagChange.objects.get(source="admin")
    assert (change.flag_name, change.actor, change.after) == ("new-ui", admin, {})
    assert change.before["strategy"] == "all_users" and change.reason == "deleted in the Django admin"
    fresh = RequestFactory().get("/")
    fresh.user = student
    assert flags.flag_on(fresh, "new-ui") is False


def test_an_admin_change_that_starts_a_rollout_tells_the_requests_voters(client_for, admin, student) -> None:
    from analytics import feature_requests
    from analytics.models import Notice

    flag = make(enabled=True, percentage=0)
    item = feature_requests.request_submit(user=student, title="New UI")
    feature_requests.request_update(request=item, actor=admin, flag=flag)
    page = client_for(admin).get(f"/admin/analytics/flag/{flag.pk}/change/")
    data = admin_form_data(page, flag, percentage="5")
    assert client_for(admin).post(f"/admin/analytics/flag/{flag.pk}/change/", data).status_code == 302
    assert Notice.objects.filter(user=student, message__startswith="Rolling out").count() == 1
    assert Flag.objects.get(pk=flag.pk).step_changed_at is not None
