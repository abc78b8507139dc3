from __future__ import annotations

from django.core import mail

from lms.models import User
from tests.factories import UserFactory
from tests.lms.signup_helpers import confirm_path


def test_landing_page_for_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Create an account" in response.content


def test_login_page_renders_with_labels(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'<label for="id_username">' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_signup_as_teacher_signs_in_with_that_role_after_the_emailed_link(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/signup/",
            {
                "username": "newteach",
                "email": "New@Example.com",
                "first_name": "New",
                "last_name": "Teacher",
                "role": "teacher",
                "timezone": "America/New_York",
                "password1": "a-long-Passphrase-9",
                "password2": "a-long-Passphrase-9",
            },
        )
    assert response.status_code == 200 and "Check your email" in response.content.decode()
    assert client.get("/accounts/profile/").status_code == 302
    assert client.post(confirm_path()).status_code == 302
    user = User.objects.get(username="newteach")
    assert user.role == "teacher"
    assert user.email == "new@example.com"
    assert user.timezone == "America/New_York"
    assert not user.is_staff
    assert client.get("/accounts/profile/").status_code == 200


def test_invited_visitor_keeps_the_invite_through_log_in_and_sign_up(client, django_capture_on_commit_callbacks):
    # An invite link sends a visitor to log in; a newcomer follows "Create an
    # account" and must come back to the invite, not to an empty dashboard.
    login_page = client.get("/accounts/login/?next=/join/ABCDEFGH/").content.decode()
    assert 'href="/accounts/signup/?next=/join/ABCDEFGH/"' in login_page
    assert "You were invited to a class" in login_page
    signup_page = client.get("/accounts/signup/?next=/join/ABCDEFGH/").content.decode()
    assert 'href="/accounts/login/?next=/join/ABCDEFGH/"' in signup_page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/signup/?next=/join/ABCDEFGH/",
            {
                "username": "invited",
                "email": "invited@example.com",
                "role": "student",
                "timezone": "UTC",
                "password1": "a-long-Passphrase-9",
                "password2": "a-long-Passphrase-9",
            },
        )
    assert response.status_code == 200
    # The invite rides in the emailed link and comes back after confirming.
    response = client.post(confirm_path())
    assert response.status_code == 302 and response["Location"] == "/join/ABCDEFGH/"


def test_plain_log_in_page_has_no_invite_notice(client):
    text = client.get("/accounts/login/").content.decode()
    assert "You were invited" not in text and 'href="/accounts/signup/"' in text


def test_signup_page_preselects_the_browser_time_zone_with_a_static_script(client):
    text = client.get("/accounts/signup/").content.decode()
    assert "js/timezone.js" in text
    # A searchable text field, not hundreds of options in every page.
    assert 'list="timezone-list"' in text and "<option" not in text.split('name="timezone"', 1)[1].split("</div>", 1)[0]
    assert text.count("<option") < 20 and len(text) < 15_000


def test_an_unknown_typed_time_zone_is_refused_and_nothing_is_written(client):
    from lms.models import User

    response = client.post(
        "/accounts/signup/",
        {
            "username": "zed",
            "email": "zed@example.com",
            "role": "student",
            "timezone": "Europe/Atlantis",
            "password1": "a-long-Passphrase-9",
            "password2": "a-long-Passphrase-9",
        },
    )
    assert response.status_code in (200, 400) and "Unknown time zone" in response.content.decode()
    assert not User.objects.filter(username="zed").exists()


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/img/favicon.svg")


def test_signup_cannot_choose_admin_role(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "sneaky",
            "email": "s@example.com",
            "role": "admin",
            "timezone": "UTC",
            "password1": "a-long-Passphrase-9",
            "password2": "a-long-Passphrase-9",
        },
    )
    assert response.status_code == 400
    assert not User.objects.filter(username="sneaky").exists()


def test_signup_rejects_short_and_common_passwords(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "weak",
            "email": "w@example.com",
            "role": "student",
            "timezone": "UTC",
            "password1": "abc",
            "password2": "abc",
        },
    )
    assert response.status_code == 400
    assert b"at least 8 characters" in response.content
    assert not User.objects.filter(username="weak").exists()


def test_profile_updates_time_zone(client_for):
    user = UserFactory(username="pat")
    client = client_for(user)
    response = client.post(
        "/accounts/profile/",
        {"first_name": "Pat", "last_name": "", "email": "pat@example.com", "timezone": "Asia/Tokyo"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.timezone == "Asia/Tokyo"


def test_profile_rejects_unknown_time_zone(client_for):
    user = UserFactory(username="pat")
    response = client_for(user).post("/accounts/profile/", {"email": "pat@example.com", "timezone": "Mars/Olympus"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.timezone == "UTC"


def test_profile_needs_login(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_password_reset_sends_an_email(client):
    UserFactory(username="pat", email="pat@example.com")
    response = client.post("/accounts/password_reset/", {"email": "pat@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_password_change(client_for):
    user = UserFactory(username="pat")
    response = client_for(user).post(
        "/accounts/password_change/",
        {
            "old_password": "demo-pass-123",
            "new_password1": "another-Passphrase-7",
            "new_password2": "another-Passphrase-7",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-Passphrase-7")


def test_logout_is_a_post(client_for):
    client = client_for(UserFactory(username="pat"))
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code in (200, 302)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_admin_role_makes_staff_and_superuser():
    user = User.objects.create_user("boss", password="demo-pass-123", role="admin")
    assert user.is_staff and user.is_superuser
    user.role = User.Role.TEACHER
    user.save()
    user.refresh_from_db()
    assert user.role == "teacher"


def test_admin_user_list_filters_by_role(client_for, admin):
    UserFactory(username="t1", role="teacher")
    response = client_for(admin).get("/admin/lms/user/?role__exact=teacher")
    assert response.status_code == 200
    assert b"t1" in response.content


def test_every_response_has_a_request_id_and_echoes_a_given_one(client):
    generated = client.get("/health/live/")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/health/live/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    # A header that could inject into logs is replaced, not echoed.
    assert client.get("/health/live/", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"


def test_forbidden_page_says_why(client_for):
    student = UserFactory(username="stu", role="student")
    response = client_for(student).get("/classes/new/")
    assert response.status_code == 403
    assert "Only teachers can create classes." in response.content.decode()


def test_signup_form_with_errors_answers_400_and_a_blank_form_200(client):
    assert client.get("/accounts/signup/").status_code == 200
    response = client.post("/accounts/signup/", {"username": ""})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not User.objects.exists()
