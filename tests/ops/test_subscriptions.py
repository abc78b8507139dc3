"""Status subscriptions: double opt-in, one-click unsubscribe, notices by
email and by webhook (to a real local HTTP server), per-component choice,
retries without duplicates; the incident page, history and Atom feed."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.test import TestCase

from ops import services, subscriptions
from ops.models import Subscriber, SubscriberNotice


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Hook.fail_next:
            Hook.fail_next -= 1
            self.send_response(503)
        else:
            Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    Hook.received, Hook.fail_next = [], 0
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/status-hook"
    server.shutdown()
    server.server_close()


def _link(body: str, name: str) -> str:
    return re.search(rf"https?://[^\s]+/status/{name}/[^\s]+/", body).group(0).split("8000", 1)[-1]


def _subscribe_and_confirm(client, email: str, **extra) -> Subscriber:
    with TestCase.captureOnCommitCallbacks(execute=True):  # the confirmation email leaves on commit
        response = client.post("/status/subscribe/", {"email": email, "kind": "email", **extra})
    assert response.status_code == 200 and b"Check your email" in response.content
    confirm = _link(mail.outbox[-1].body, "subscribe/confirm")
    assert client.get(confirm).status_code == 200
    return Subscriber.objects.get(email=email)


def test_double_opt_in(client, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/status/subscribe/", {"email": "Pat@Example.com", "kind": "email", "components": ["web"]})
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "pat@example.com" and not subscriber.active and subscriber.components == ["web"]
    assert len(mail.outbox) == 1 and "Confirm" in mail.outbox[0].subject
    confirm = _link(mail.outbox[0].body, "subscribe/confirm")
    assert client.get(confirm).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.active
    assert client.get("/status/subscribe/confirm/not-a-token/").status_code == 400


def test_bad_input_is_refused_and_writes_nothing(client) -> None:
    assert client.post("/status/subscribe/", {"email": "nope", "kind": "email"}).status_code == 400
    response = client.post("/status/subscribe/", {"email": "a@example.com", "kind": "webhook", "url": "ftp://x"})
    assert response.status_code == 400
    assert Subscriber.objects.count() == 0


def test_private_webhook_urls_are_refused_in_production(settings) -> None:
    settings.OPS_SUBSCRIBER_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(Exception, match="private or local"):
        subscriptions.subscriber_subscribe(email="a@example.com", kind="webhook", url="http://127.0.0.1:9/x")
    with pytest.raises(Exception, match="private or local"):
        subscriptions.subscriber_subscribe(email="a@example.com", kind="webhook", url="http://10.1.2.3/x")


def test_a_new_public_incident_reaches_email_and_webhook_subscribers(
    client, admin, hook_url, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        reader = _subscribe_and_confirm(client, "reader@example.com")
        robot = subscriptions.subscriber_subscribe(email="robot@example.com", kind="webhook", url=hook_url)
        subscriptions.subscriber_confirm(token=subscriptions.confirm_token(robot))
        cache_only = _subscribe_and_confirm(client, "cache@example.com", components=["cache"])
        subscriptions.subscriber_subscribe(email="never@example.com")  # never confirmed
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        incident = services.incident_open(
            title="Study pages failing", severity=2, components=["web"], public_message="We are looking into it."
        )
    notices = [m for m in mail.outbox if m.subject.startswith("[Flashcard LMS status]")]  # not the on-call page
    assert [m.to for m in notices] == [[reader.email]]
    assert "We are looking into it." in notices[0].body
    assert notices[0].extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(Hook.received) == 1
    payload = Hook.received[0]
    assert payload["type"] == "incident.update" and payload["incident"]["id"] == incident.pk
    assert payload["incident"]["severity"] == "SEV2" and payload["message"] == "We are looking into it."
    assert SubscriberNotice.objects.filter(sent_at__isnull=False).count() == 2
    assert not SubscriberNotice.objects.filter(subscriber=cache_only).exists()  # chose another component
    # An internal update tells nobody; the resolution is public and does.
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_post_update(incident=incident, user=admin, message="Internal note", public=False)
        services.incident_resolve(incident=incident, user=admin, message="Fixed.")
    assert len(Hook.received) == 2 and Hook.received[1]["type"] == "incident.resolved"


def test_a_failing_webhook_is_retried_and_never_sent_twice(hook_url, django_capture_on_commit_callbacks) -> None:
    from ops.tasks import deliver_notice

    robot = subscriptions.subscriber_subscribe(email="robot@example.com", kind="webhook", url=hook_url)
    subscriptions.subscriber_confirm(token=subscriptions.confirm_token(robot))
    Hook.fail_next = 1
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_open(title="Flaky", severity=3, components=["web"])
    notice = SubscriberNotice.objects.get()
    assert Hook.received == [] and notice.sent_at is None and "503" in notice.error
    # What the worker does after the back-off: the retry delivers it, once.
    update_id = int(notice.key.split(":")[3])
    deliver_notice.delay(notice.pk, "incident", update_id, "update")
    deliver_notice.delay(notice.pk, "incident", update_id, "update")
    notice.refresh_from_db()
    assert len(Hook.received) == 1 and notice.sent_at is not None and notice.attempts == 2


def test_one_click_unsubscribe(client, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        subscriber = _subscribe_and_confirm(client, "bye@example.com")
        services.incident_open(title="Something", severity=3)
    link = _link(mail.outbox[-1].body, "unsubscribe")
    assert client.get(link).status_code == 200  # asks; a link scanner unsubscribes nobody
    subscriber.refresh_from_db()
    assert subscriber.active
    assert client.post(link).status_code == 200  # no CSRF token needed: the signed link is the credential
    subscriber.refresh_from_db()
    assert not subscriber.active
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_open(title="Something else", severity=3)
    assert mail.outbox == []
    assert client.post("/status/unsubscribe/forged/").status_code == 400


def test_maintenance_notices(admin, django_capture_on_commit_callbacks) -> None:
    from datetime import timedelta

    from django.utils import timezone

    subscriber = subscriptions.subscriber_subscribe(email="m@example.com")
    subscriptions.subscriber_confirm(token=subscriptions.confirm_token(subscriber))
    mail.outbox.clear()
    start = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.maintenance_window_create(title="DB upgrade", starts_at=start, ends_at=start + timedelta(hours=1))
    assert len(mail.outbox) == 1 and "DB upgrade: scheduled" in mail.outbox[0].subject


def test_incident_page_history_and_feed(client, admin) -> None:
    incidents = []
    for i in range(25):
        incident = services.incident_open(title=f"Incident {i}", severity=3, public_message=f"Public text {i}")
        services.incident_post_update(incident=incident, user=admin, message=f"Secret {i}", public=False)
        incidents.append(incident)
    page = client.get(f"/status/incidents/{incidents[0].pk}/")
    assert page.status_code == 200 and b"Public text 0" in page.content and b"Secret 0" not in page.content
    assert client.get("/status/incidents/999999/").status_code == 404
    history = client.get("/status/history/")
    assert b"Incident 24" in history.content and b"Incident 0<" not in history.content
    older = client.get("/status/history/?page=2")
    assert b"Incident 0" in older.content
    feed = client.get("/status/feed.atom")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("application/atom+xml")
    assert b"<feed" in feed.content and b"Public text 24" in feed.content and b"Secret" not in feed.content
    assert b"/status/subscribe/" in client.get("/status/").content


def test_the_feed_leaves_out_characters_xml_cannot_carry(client) -> None:
    """An incident's text with a control character made the feed a 500."""
    services.incident_open(
        title="Bell\x07 and\x1f unit", severity=3, public_message="Tab\tstays, \x0bvertical tab goes"
    )
    feed = client.get("/status/feed.atom")
    assert feed.status_code == 200
    assert b"Bell and unit" in feed.content and b"Tab\tstays, vertical tab goes" in feed.content
