"""Sign-up does not say whether an email is registered; the emailed link
activates the account, signs in and lands where the person was going."""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.hashers import make_password
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from learning.models import Classroom, Enrollment
from lms import signup, tasks
from lms.models import User
from tests.factories import UserFactory
from tests.lms.signup_helpers import PASSWORD, confirm_path, post_signup


def _can_log_in(username: str) -> bool:
    client = Client()
    client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    return "_auth_user_id" in client.session


def test_a_new_address_gets_a_pending_account_and_a_link(client, django_capture_on_commit_callbacks):
    response = post_signup(client, django_capture_on_commit_callbacks, email="Fresh@Example.com")
    assert response.status_code == 200
    assert "Check your email to finish signing up" in response.content.decode()
    user = User.objects.get(username="newbie")
    assert user.email == "fresh@example.com"
    assert (user.is_active, user.signup_pending) == (False, True)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["fresh@example.com"]
    assert mail.outbox[0].subject == "Confirm your email to finish signing up"
    # Not signed in, and the password does not work until the link is followed.
    assert client.get("/accounts/profile/").status_code == 302
    assert not _can_log_in("newbie")


def test_a_registered_address_creates_nothing_and_tells_the_owner(student, client, django_capture_on_commit_callbacks):
    response = post_signup(client, django_capture_on_commit_callbacks, email=student.email.upper())
    assert response.status_code == 200
    body = response.content.decode()
    assert "Check your email to finish signing up" in body
    assert "already" not in body.lower() and "exists" not in body.lower()
    assert not User.objects.filter(username="newbie").exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [student.email]
    message = mail.outbox[0]
    assert message.subject == "Someone tried to sign up with your email address"
    assert student.username in message.body and "/accounts/password_reset/" in message.body
    assert "/accounts/signup/confirm/" not in message.body
    assert client.get("/accounts/profile/").status_code == 302


def test_both_cases_look_the_same_from_outside(student, django_capture_on_commit_callbacks):
    """Same status, page (but for the typed address), cookies and one email each."""
    new, taken = Client(), Client()
    fresh = post_signup(new, django_capture_on_commit_callbacks, email="fresh@example.com")
    known = post_signup(taken, django_capture_on_commit_callbacks, email=student.email, username="other")

    def page(response, email):
        text = response.content.decode().replace(email, "EMAIL")
        # The CSRF token in the page differs per client; it is not a signal.
        return [line for line in text.splitlines() if "csrf" not in line.lower()]

    assert fresh.status_code == known.status_code == 200
    assert page(fresh, "fresh@example.com") == page(known, student.email)
    assert sorted(fresh.cookies) == sorted(known.cookies)
    assert [m.to for m in mail.outbox] == [["fresh@example.com"], [student.email]]


def test_both_cases_hash_the_password_so_timing_does_not_tell(student, django_capture_on_commit_callbacks):
    # Hashing is the slow step in production (PBKDF2); skipping it for a
    # registered address would make that answer measurably faster.
    with mock.patch("lms.signup.make_password", wraps=make_password) as hashing:
        post_signup(Client(), django_capture_on_commit_callbacks, email="fresh@example.com")
        post_signup(Client(), django_capture_on_commit_callbacks, email=student.email, username="other")
    assert [call.args[0] for call in hashing.call_args_list] == [PASSWORD, PASSWORD]


def test_both_cases_send_the_mail_through_the_same_task(student, django_capture_on_commit_callbacks):
    with mock.patch.object(tasks.send_signup_mail, "delay") as delay:
        post_signup(Client(), django_capture_on_commit_callbacks, email="fresh@example.com")
        post_signup(Client(), django_capture_on_commit_callbacks, email=student.email, username="other")
    kinds = [call.args[0] for call in delay.call_args_list]
    assert kinds == [signup.CONFIRM, signup.ADDRESS_TAKEN]


def test_opening_the_link_shows_a_button_and_activates_nothing(client, django_capture_on_commit_callbacks):
    post_signup(client, django_capture_on_commit_callbacks)
    response = client.get(confirm_path())
    # A mail scanner that opens the link must not use it up.
    assert response.status_code == 200 and "Confirm and sign in" in response.content.decode()
    assert User.objects.get(username="newbie").signup_pending


def test_confirming_activates_signs_in_and_tracks_the_signup(client, settings, django_capture_on_commit_callbacks):
    from analytics.models import Event

    settings.ANALYTICS_ENABLED = True
    post_signup(client, django_capture_on_commit_callbacks, role="teacher")
    response = client.post(confirm_path())
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="newbie")
    assert (user.is_active, user.signup_pending, user.role) == (True, False, "teacher")
    assert client.get("/accounts/profile/").status_code == 200
    assert Event.objects.filter(name="signup", user=user).count() == 1
    # The password works from now on.
    assert _can_log_in("newbie")


def test_the_link_works_once(client, django_capture_on_commit_callbacks):
    post_signup(client, django_capture_on_commit_callbacks)
    path = confirm_path()
    assert client.post(path).status_code == 302
    again = Client()
    response = again.post(path)
    assert response.status_code == 400 and "expired or has been used" in response.content.decode()
    assert again.get(path).status_code == 400
    assert again.get("/accounts/profile/").status_code == 302


def test_an_expired_link_is_refused(client, settings, django_capture_on_commit_callbacks):
    settings.SIGNUP_CONFIRM_TTL_HOURS = 72
    sent_at = time.time() - 73 * 3600
    with mock.patch.object(signing.time, "time", return_value=sent_at):
        post_signup(client, django_capture_on_commit_callbacks)
    response = client.post(confirm_path())
    assert response.status_code == 400
    assert User.objects.get(username="newbie").signup_pending


@pytest.mark.parametrize("mangle", ["flip", "other_salt", "other_user"])
def test_a_forged_link_is_refused(client, student, mangle, django_capture_on_commit_callbacks):
    post_signup(client, django_capture_on_commit_callbacks)
    pending = User.objects.get(username="newbie")
    path = confirm_path()
    if mangle == "flip":
        token = path.rstrip("/").rsplit("/", 1)[1]
        path = path.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    elif mangle == "other_salt":
        path = f"/accounts/signup/confirm/{signing.dumps({'u': pending.pk, 'e': pending.email, 'n': ''})}/"
    else:
        # A genuine token for a confirmed account (the student) confirms nothing.
        path = f"/accounts/signup/confirm/{signup.signup_token(user=student)}/"
    assert client.post(path).status_code == 400
    assert User.objects.get(username="newbie").signup_pending
    assert client.get("/accounts/profile/").status_code == 302


def test_the_invite_survives_signing_up_and_confirming(client, teacher, django_capture_on_commit_callbacks):
    classroom = Classroom.objects.create(name="Biology", teacher=teacher)
    invite = f"/join/{classroom.join_code}/"
    post_signup(client, django_capture_on_commit_callbacks, url=f"/accounts/signup/?next={invite}")
    response = client.post(confirm_path())
    assert response.status_code == 302 and response["Location"] == invite
    assert client.post(invite).status_code == 302
    assert Enrollment.objects.filter(classroom=classroom, student__username="newbie").exists()


def test_a_next_to_another_site_is_dropped(client, django_capture_on_commit_callbacks):
    post_signup(client, django_capture_on_commit_callbacks, url="/accounts/signup/?next=https://evil.example/")
    response = client.post(confirm_path())
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_a_taken_username_is_still_said(client, student, django_capture_on_commit_callbacks):
    # Usernames are public handles, not contact details.
    response = post_signup(client, django_capture_on_commit_callbacks, username=student.username.upper())
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert mail.outbox == []


def test_a_username_taken_by_a_simultaneous_sign_up_is_a_400_not_a_500(client, django_capture_on_commit_callbacks):
    # The other request inserts between this one's form check and its insert.
    real_create = User.objects.create

    def other_request_first(**fields):
        User(username=fields["username"], email="quicker@example.com").save()
        return real_create(**fields)

    with mock.patch.object(User.objects, "create", side_effect=other_request_first):
        response = post_signup(client, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and "already exists" in response.content.decode()
    # (The other request's row is rolled back here with this one's transaction;
    # in real life it was committed by its own request.)
    assert not User.objects.filter(email="newbie@example.com").exists()
    assert mail.outbox == []


def test_signing_up_again_with_the_address_replaces_the_unconfirmed_account(client, django_capture_on_commit_callbacks):
    post_signup(client, django_capture_on_commit_callbacks, username="first")
    first_link = confirm_path()
    post_signup(client, django_capture_on_commit_callbacks, username="second")
    assert list(User.objects.filter(email="newbie@example.com").values_list("username", flat=True)) == ["second"]
    assert client.post(first_link).status_code == 400
    assert client.post(confirm_path()).status_code == 302
    assert User.objects.get(username="second").is_active


def test_a_pending_account_cannot_reset_its_password(client, django_capture_on_commit_callbacks):
    post_signup(client, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    response = client.post("/accounts/password_reset/", {"email": "newbie@example.com"})
    assert response.status_code == 302 and mail.outbox == []


def test_the_daily_job_deletes_unconfirmed_accounts_after_the_link_expires(settings):
    settings.SIGNUP_CONFIRM_TTL_HOURS = 72
    old = timezone.now() - timedelta(hours=73)
    stale = UserFactory(username="stale", is_active=False, signup_pending=True, date_joined=old)
    recent = UserFactory(username="recent", is_active=False, signup_pending=True)
    # An admin who activated a pending account by hand keeps it; a deactivated
    # ordinary account is not a sign-up.
    by_hand = UserFactory(username="byhand", is_active=True, signup_pending=True, date_joined=old)
    deactivated = UserFactory(username="off", is_active=False, date_joined=old)
    assert tasks.privacy_daily()["signups_deleted"] == 1
    assert set(User.objects.values_list("username", flat=True)) >= {"recent", "byhand", "off"}
    assert not User.objects.filter(pk=stale.pk).exists()
    assert {recent.pk, by_hand.pk, deactivated.pk} <= set(User.objects.values_list("pk", flat=True))


def test_create_user_is_usable_at_once():
    user = User.objects.create_user("direct", password=PASSWORD, role="teacher")
    assert (user.is_active, user.signup_pending) == (True, False)
    assert _can_log_in("direct")


def test_confirming_takes_a_constant_number_of_queries(
    client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    post_signup(client, django_capture_on_commit_callbacks)
    path = confirm_path()
    # 1 read the pending account (the link is still good)
    # 2 savepoint, 3 lock and read it, 4 auditlog reads the old row, 5 its
    #   log entry, 6 activate, 7 release
    # log-in: 8 session exists?, 9-11 savepoint/insert/release the session,
    #   12 axes attempts, 13 axes access log, 14 axes attempts again,
    #   15 auditlog reads the user, 16 last_login, 17-19 savepoint/save/release session
    with django_assert_num_queries(19):
        client.post(path)


def test_the_privacy_page_says_how_long_an_unconfirmed_sign_up_is_kept(client, settings):
    settings.SIGNUP_CONFIRM_TTL_HOURS = 48
    text = client.get("/privacy/").content.decode()
    assert "A sign-up not yet confirmed from its email" in text and "48 hours, then deleted" in text
