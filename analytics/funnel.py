"""Funnel definitions: what a request may ask for and how step figures relate.

Pure Python (no Django): the database computes who reached which step
(analytics.queries.funnel); this module validates a definition and turns
per-step user counts into conversion and drop-off.

Definition: a user reaches step k when they have events for steps 1..k at
times t1 <= t2 <= ... <= tk, each matched by a different event, all inside the
range, with tk - t1 <= window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MIN_STEPS, MAX_STEPS = 2, 10
DEFAULT_DAYS = 30
MAX_DAYS = 366
DEFAULT_WINDOW_HOURS = 336
MAX_WINDOW_HOURS = 24 * 366


class FunnelError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FunnelSpec:
    steps: tuple[str, ...]
    days: int = DEFAULT_DAYS
    window_hours: int = DEFAULT_WINDOW_HOURS
    breakdown: str = ""

    def __post_init__(self) -> None:
        if not MIN_STEPS <= len(self.steps) <= MAX_STEPS:
            raise FunnelError("steps", f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps.")
        for step in self.steps:
            if not isinstance(step, str) or not EVENT_NAME.match(step):
                raise FunnelError("steps", f"{step!r} is not an event name (lower_snake_case).")
        if not 1 <= self.days <= MAX_DAYS:
            raise FunnelError("days", f"days must be between 1 and {MAX_DAYS}.")
        if not 1 <= self.window_hours <= MAX_WINDOW_HOURS:
            raise FunnelError("window_hours", f"window_hours must be between 1 and {MAX_WINDOW_HOURS}.")
        if self.breakdown and not PROPERTY_KEY.match(self.breakdown):
            raise FunnelError("breakdown", "breakdown must be a property name (letters, digits, underscore).")


@dataclass(frozen=True)
class StepResult:
    name: str
    users: int
    conversion: float  # share of the previous step's users (1.0 for step 1)
    drop_off: float  # 1 - conversion
    overall: float  # share of step 1's users
    median_seconds: float | None  # from the previous step, over users who reached this one


def step_results(steps: tuple[str, ...], counts: list[int], medians: list[float | None]) -> list[StepResult]:
    results = []
    first = counts[0] if counts else 0
    for index, name in enumerate(steps):
        users = counts[index]
        previous = counts[index - 1] if index else users
        conversion = users / previous if previous else 0.0
        if index == 0:
            conversion = 1.0 if users else 0.0
        results.append(
            StepResult(
                name=name,
                users=users,
                conversion=round(conversion, 4),
                drop_off=round(1 - conversion, 4) if users or previous else 0.0,
                overall=round(users / first, 4) if first else 0.0,
                median_seconds=medians[index] if index else None,
            )
        )
    return results


def counts_from_depths(depths: dict[int, int], steps: int) -> list[int]:
    """Users reaching at least step k, from 'users whose deepest step is d'."""
    return [sum(n for depth, n in depths.items() if depth >= k) for k in range(1, steps + 1)]
