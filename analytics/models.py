"""The event stream and the small daily tables summarised from it.

Days in the rollup tables are UTC day numbers (days since 1970-01-01) so that
"the next day" is `day + 1` in any database. Which local day a UTC moment falls
on depends on the viewer's time zone; the activity rollup therefore keeps, per
user and UTC day, a bitmap of the quarter-hours in which the user was active
(96 slots split over two 48-bit integers), which is enough to place activity
on local days exactly for every real time-zone offset, DST included.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventQuerySet(models.QuerySet):
    def for_user(self, user_id: int) -> EventQuerySet:
        return self.filter(user_id=user_id).order_by("-timestamp", "-id")

    def for_session(self, session_key: str) -> EventQuerySet:
        return self.filter(session_key=session_key).select_related("user").order_by("timestamp", "id")

    def errors(self) -> EventQuerySet:
        return self.filter(name="error")


class Event(models.Model):
    name = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="analytics_events"
    )
    # A keyed hash of the Django session key (never the key itself: it is a credential).
    session_key = models.CharField(max_length=64, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)

    objects = EventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["name", "timestamp"], name="event_name_time"),
            models.Index(fields=["user", "timestamp"], name="event_user_time"),
            models.Index(fields=["session_key", "timestamp"], name="event_session_time"),
            # Funnels look up "the next event called X by this user after t".
            models.Index(fields=["user", "name", "timestamp"], name="event_user_name_time"),
            models.Index(fields=["timestamp"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class ActiveUserDay(models.Model):
    """One row per signed-in user per UTC day with any event."""

    day = models.IntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    slots_am = models.BigIntegerField(help_text="bit i: active in quarter-hour i (00:00-11:59 UTC)")
    slots_pm = models.BigIntegerField(help_text="bit i: active in quarter-hour 48+i (12:00-23:59 UTC)")
    events = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="active_user_day_unique")]
        indexes = [models.Index(fields=["user", "day"], name="active_user_day_user")]

    def __str__(self) -> str:
        return f"user {self.user_id} active on day {self.day}"


class DailyEventCount(models.Model):
    day = models.IntegerField()
    name = models.CharField(max_length=64)
    events = models.IntegerField()
    users = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "name"], name="daily_event_count_unique")]

    def __str__(self) -> str:
        return f"{self.name} on day {self.day}: {self.events}"


class FeatureUserDay(models.Model):
    """Who used which event name on a UTC day: distinct users per feature over any range."""

    day = models.IntegerField()
    name = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "name", "user"], name="feature_user_day_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} used {self.name} on day {self.day}"


class DailySessionStats(models.Model):
    """Sessions (runs of one user's events without a gap over 30 minutes) by the UTC day they start."""

    day = models.IntegerField(unique=True)
    sessions = models.IntegerField()
    duration_seconds = models.BigIntegerField()
    events = models.IntegerField()

    def __str__(self) -> str:
        return f"day {self.day}: {self.sessions} sessions"


class RollupDay(models.Model):
    """A UTC day whose rollups are complete; days without a row are computed live."""

    day = models.IntegerField(primary_key=True)
    rolled_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"day {self.day} rolled up at {self.rolled_at:%Y-%m-%d %H:%M}"
