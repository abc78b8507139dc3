"""Sign-up that does not say whether an email address is registered.

Every valid sign-up answers the same page, "Check your email", and sends one
email the same way (a Celery task enqueued on commit):

- a new address gets a *pending* account (inactive, `signup_pending`) and a
  confirmation link; following it activates the account and signs the person
  in, back where they were going (`next`, e.g. a class invite);
- an address that belongs to an account gets no new account: its owner is told
  someone tried to sign up with it, with a password-reset link.

The link is a signed, timestamped token (django.core.signing, i.e.
TimestampSigner) naming the account, its address and `next`; it works for
SIGNUP_CONFIRM_TTL_HOURS and only while the account is still pending, so it
works once. See docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from lms.models import User

SALT = "lms.signup.confirm"

# What the emailed message says: the two kinds a sign-up can send.
CONFIRM = "confirm"
ADDRESS_TAKEN = "address_taken"


class SignupLinkInvalid(Exception):
    """The link is forged, expired, or its account is no longer pending."""


class UsernameTaken(Exception):
    """Another sign-up took the username between the form's check and the insert."""


@dataclass(frozen=True)
class SignupMail:
    kind: str
    user_id: int


def signup_request(
    *,
    username: str,
    email: str,
    password: str,
    role: str,
    timezone_name: str = "UTC",
    first_name: str = "",
    last_name: str = "",
) -> SignupMail:
    """Create a pending account, or none when the address is registered; say
    which email to send. The caller enqueues it (tasks.send_signup_mail) on commit.

    Both paths do the same expensive work (hash the password, one email by
    the same route), so the response time does not tell them apart either."""
    email = email.strip().lower()
    # The slow part of a sign-up (PBKDF2 in production): done in both cases.
    hashed = make_password(password)
    with transaction.atomic():
        owner = User.objects.filter(email__iexact=email, signup_pending=False).order_by("pk").first()
        if owner is not None:
            return SignupMail(kind=ADDRESS_TAKEN, user_id=owner.pk)
        # An earlier unconfirmed sign-up with this address never became usable
        # (only this mailbox could have confirmed it): the newest one wins, so
        # a squatter cannot hold someone's address hostage.
        User.objects.filter(email__iexact=email, signup_pending=True, is_active=False).delete()
        try:
            with transaction.atomic():
                user = User.objects.create(
                    username=username,
                    email=email,
                    password=hashed,
                    role=role,
                    timezone=timezone_name,
                    first_name=first_name,
                    last_name=last_name,
                    is_active=False,
                    signup_pending=True,
                )
        except IntegrityError as error:  # the unique username, taken by a simultaneous sign-up
            raise UsernameTaken from error
    return SignupMail(kind=CONFIRM, user_id=user.pk)


def signup_token(*, user: User, next_url: str = "") -> str:
    return signing.dumps({"u": user.pk, "e": user.email, "n": next_url}, salt=SALT, compress=True)


def _read(token: str) -> dict:
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(hours=settings.SIGNUP_CONFIRM_TTL_HOURS))
    except signing.BadSignature as error:  # SignatureExpired is a BadSignature
        raise SignupLinkInvalid from error
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise SignupLinkInvalid
    return data


def signup_pending_for(*, token: str) -> User:
    """The pending account a link confirms (read only: the page with the button)."""
    data = _read(token)
    user = User.objects.filter(pk=data["u"], signup_pending=True, is_active=False).first()
    if user is None or user.email != data.get("e"):
        raise SignupLinkInvalid
    return user


def signup_confirm(*, token: str) -> tuple[User, str]:
    """Activate the account a link names; returns it and where to go next."""
    data = _read(token)
    with transaction.atomic():
        # Locked: two clicks at once activate (and sign in) once.
        user = User.objects.select_for_update().filter(pk=data["u"], signup_pending=True, is_active=False).first()
        if user is None or user.email != data.get("e"):
            raise SignupLinkInvalid
        user.is_active = True
        user.signup_pending = False
        user.save(update_fields=["is_active", "signup_pending"])
    next_url = data.get("n")
    return user, next_url if isinstance(next_url, str) else ""


def signup_mail_send(*, kind: str, user_id: int, next_url: str = "") -> None:
    """Send the one email a sign-up causes (the Celery task calls this)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    site = settings.SITE_URL.rstrip("/")
    if kind == CONFIRM:
        if not user.signup_pending:
            return
        link = site + reverse("signup_confirm", args=[signup_token(user=user, next_url=next_url)])
        send_mail(
            "Confirm your email to finish signing up",
            f"Hello {user.display_name},\n\nTo finish creating your Flashcard LMS account ({user.username}), "
            f"open this link:\n\n{link}\n\nIt works for {settings.SIGNUP_CONFIRM_TTL_HOURS} hours. "
            "If you did not sign up, ignore this message: without the link the account is never usable "
            "and it is deleted.\n",
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
        return
    send_mail(
        "Someone tried to sign up with your email address",
        f"Hello {user.display_name},\n\nSomeone just tried to create a Flashcard LMS account with this address, "
        f"which already belongs to your account ({user.username}).\n\nIf it was you, log in: {site}"
        f"{reverse('login')}\nForgot your password? Reset it here: {site}{reverse('password_reset')}\n\n"
        "If it was not you, you can ignore this message; nothing was changed.\n",
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def signups_delete_expired(*, now: datetime | None = None) -> int:
    """Delete accounts never confirmed within the link's lifetime (daily job)."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.SIGNUP_CONFIRM_TTL_HOURS)
    # is_active=False too: an admin who activated one by hand keeps it.
    _, per_model = User.objects.filter(signup_pending=True, is_active=False, date_joined__lt=cutoff).delete()
    return per_model.get(User._meta.label, 0)
