from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _analytics_on(settings: pytest.FixtureRequest) -> None:
    """Analytics is off under pytest for the other apps' sake; these tests switch it on."""
    settings.ANALYTICS_ENABLED = True
