from __future__ import annotations

import pytest

from analytics import queries
from analytics import timeutil as tu
from analytics.models import Event, Experiment, FeatureRequest, Feedback, FlagChange, NpsResponse, RollupDay
from lms.demo import seed_demo

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_fills_the_dashboard_and_the_loop_pages(client_for) -> None:
    users = seed_demo()
    events = Event.objects.count()
    loop = (Feedback.objects.count(), NpsResponse.objects.count(), FeatureRequest.objects.count())
    assert loop[0] >= 5 and loop[1] >= 20 and loop[2] >= 5
    assert FlagChange.objects.filter(flag_name="nps-survey", source="staff").count() == 2
    assert Experiment.objects.get(name="dashboard-study-button").exposures.count() > 20
    assert events > 1000
    assert RollupDay.objects.exists()
    seed_demo()
    assert Event.objects.count() == events
    assert (Feedback.objects.count(), NpsResponse.objects.count(), FeatureRequest.objects.count()) == loop
    engagement = queries.engagement(tu.zone("UTC"), days=30)
    assert engagement.active_users > 10
    assert max(engagement.dau) > 0
    assert queries.user_analytics(users.student.pk, tu.zone("UTC"))["total_events"] > 0

    client = client_for(users.admin)
    for url in (
        "/analytics/flags/",
        "/analytics/flags/nps-survey/",
        "/analytics/experiments/dashboard-study-button/",
        "/analytics/feedback/",
        "/analytics/requests/",
        "/roadmap/",
    ):
        assert client.get(url).status_code == 200, url
