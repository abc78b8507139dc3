"""Browser tests: Debian's Chromium driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import contextlib
import os
import shutil
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
