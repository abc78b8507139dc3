from __future__ import annotations

import pytest

from analytics import queries
from analytics import timeutil as tu
from analytics.models import Event, RollupDay
from lms.demo import seed_demo

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_fills_the_dashboard() -> None:
    users = seed_demo()
    events = Event.objects.count()
    assert events > 1000
    assert RollupDay.objects.exists()
    seed_demo()
    assert Event.objects.count() == events
    engagement = queries.engagement(tu.zone("UTC"), days=30)
    assert engagement.active_users > 10
    assert max(engagement.dau) > 0
    assert queries.user_analytics(users.student.pk, tu.zone("UTC"))["total_events"] > 0
