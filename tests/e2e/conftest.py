"""Browser tests: Debian's Chromium driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator

import pytest

CHROMIUM = os.getenv("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; the Django calls the
# tests make around it are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (make browser installs Debian's)")
        for item in items:
            if "tests/e2e" in str(item.fspath):
                item.add_marker(skip)


class _InFlight:
    """Counts the live server's open connections, so teardown can wait for none.

    The browser may still send a request as a context closes (an analytics
    beacon on visibilitychange), and the live server may still be answering
    one; the test database must not be flushed under it, or PostgreSQL breaks
    the tie between that request's locks and TRUNCATE's as a deadlock.
    """

    def __init__(self, httpd: object) -> None:
        self._idle = threading.Condition()
        self._open = 0
        serve = httpd.process_request_thread

        def counted(request: object, client_address: object) -> None:
            with self._idle:
                self._open += 1
            try:
                serve(request, client_address)
            finally:
                with self._idle:
                    self._open -= 1
                    self._idle.notify_all()

        # socketserver starts each connection's thread with this attribute as
        # its target, so the instance attribute is what runs.
        httpd.process_request_thread = counted

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._open == 0, timeout=timeout)


@pytest.fixture(autouse=True)
def _live_server_drained(request: pytest.FixtureRequest) -> Iterator[None]:
    """Set up after pytest-django's transactional_db, torn down before its flush
    and after every browser context of the test has closed."""
    if "live_server" not in request.fixturenames:
        yield
        return
    httpd = request.getfixturevalue("live_server").thread.httpd
    if not hasattr(httpd, "lms_in_flight"):
        httpd.lms_in_flight = _InFlight(httpd)
    yield
    # Keep-alive connections close when their browser context does; one still
    # open after that is a request being answered.
    httpd.lms_in_flight.wait_idle(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    # Let the page's last requests (htmx swaps, event beacons) finish first:
    # the live server would otherwise still be answering one while the test
    # database is flushed, and PostgreSQL may break that tie as a deadlock.
    with contextlib.suppress(Exception):  # a page that never goes idle is closed anyway
        page.wait_for_load_state("networkidle", timeout=5_000)
    context.close()


@pytest.fixture
def login(page: object, live_server: object) -> object:
    """Sign in through the real log-in form."""

    def do(username: str, password: str = "demo-pass-123") -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        # Wait for the form's own navigation (redirects included), not just for
        # a quiet network, which a loaded machine can reach before it starts.
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    return do
