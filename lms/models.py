from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from lms.signals import user_deleting


@cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})
    return [(name, name.replace("_", " ")) for name in names]


def validate_timezone(value: str) -> None:
    if value not in dict(timezone_choices()):
        raise ValidationError(f"{value!r} is not a known time zone.")


class UserQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        # Bulk deletion (the admin's "delete selected") must hand over too.
        with transaction.atomic(using=self.db):
            user_deleting.send(sender=User, users=list(self))
            return super().delete()


class LmsUserManager(UserManager.from_queryset(UserQuerySet)):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: object
    ) -> User:
        extra_fields.setdefault("role", User.Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)

    def teachers(self) -> models.QuerySet:
        return self.filter(role=User.Role.TEACHER)

    def admins(self) -> models.QuerySet:
        return self.filter(role=User.Role.ADMIN, is_active=True)


class User(AbstractUser):
    class Role(models.TextChoices):
        STUDENT = "student", "Student"
        TEACHER = "teacher", "Teacher"
        ADMIN = "admin", "Admin"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT, db_index=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # No product analytics about this person (the browser's Global Privacy
    # Control header has the same effect for a request). See docs/privacy.md.
    # db_default too: code running against an older model state (migration
    # tests, a rolling deploy) inserts users without naming this column.
    analytics_opt_out = models.BooleanField(
        default=False, db_default=False, help_text="Do not record my activity for product analytics."
    )
    # Set when the person asks to delete their account; a scheduled job deletes
    # it after ACCOUNT_DELETION_GRACE_DAYS, and logging in again cancels.
    deletion_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Signed up but has not yet followed the emailed confirmation link: the
    # account is inactive until then (lms.signup). Never set for create_user().
    signup_pending = models.BooleanField(default=False, db_default=False, editable=False)

    objects = LmsUserManager()

    class Meta:
        ordering = ["username"]

    def save(self, *args, **kwargs) -> None:
        # The role is the source of truth: admins are staff and superusers, and
        # nobody else is a superuser (a teacher may still be made staff).
        self.is_superuser = self.role == self.Role.ADMIN
        if self.is_superuser:
            self.is_staff = True
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "role" in update_fields:
            kwargs["update_fields"] = {*update_fields, "is_staff", "is_superuser"}
        # set_password() leaves the raw password in _password until the save;
        # a hash upgrade on log-in clears it first, so this is a real change.
        password_changed = self._password is not None and not self._state.adding
        super().save(*args, **kwargs)
        if password_changed:
            # Whoever held an API token may be the reason for the change.
            self.api_tokens.all().delete()

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            user_deleting.send(sender=User, users=[self])
            return super().delete(*args, **kwargs)

    @property
    def is_teacher(self) -> bool:
        return self.role == self.Role.TEACHER

    @property
    def is_student(self) -> bool:
        return self.role == self.Role.STUDENT

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now: datetime | None = None) -> ApiTokenQuerySet:
        return self.filter(expires__gt=now or timezone.now())

    def active_for(self, user: User) -> ApiTokenQuerySet:
        return self.active().filter(user=user).order_by("-created")


class ApiToken(models.Model):
    """An API credential. Only the SHA-256 digest of the token is stored: the
    token is 256 random bits, so a fast hash is enough (nothing to brute-force)
    and a copy of the database holds nothing that authenticates. The token is
    shown once, when it is issued; `prefix` lets its owner recognise it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(db_index=True)
    last_used = models.DateTimeField(null=True, blank=True)
    created_ip = models.GenericIPAddressField(null=True, blank=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"


def _export_path(instance: DataExport, filename: str) -> str:
    return f"private/exports/{instance.user_id}/{filename}"


class DataExportQuerySet(models.QuerySet):
    def claimable(self, now: datetime) -> DataExportQuerySet:
        """Pending with no live build: never claimed, or claimed longer than
        DATA_EXPORT_CLAIM_STALE_SECONDS ago (past the task's time limit, so
        that build's worker died)."""
        stale = now - timedelta(seconds=settings.DATA_EXPORT_CLAIM_STALE_SECONDS)
        return self.filter(status=DataExport.Status.PENDING).filter(
            models.Q(started_at__isnull=True) | models.Q(started_at__lt=stale)
        )


class DataExport(models.Model):
    """One "download my data" request: built by a Celery task, downloaded by
    its owner only, until it expires (DATA_EXPORT_TTL_HOURS).

    A build claims the export first (`started_at`, `attempts`), so of two
    deliveries of its task one builds; the sweep (lms.privacy.data_exports_sweep)
    re-sends one whose message was lost and fails one whose builds keep dying."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    file = models.FileField(upload_to=_export_path, blank=True, max_length=255)
    size_bytes = models.PositiveBigIntegerField(default=0)
    # When its build task was last sent (the request, or a re-send by the sweep).
    queued_at = models.DateTimeField(default=timezone.now)
    # When the build holding it claimed it, and how many builds have (each claim adds one).
    started_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    objects = DataExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.user_id} ({self.status})"
