"""The console's browser tests: Debian's chromium driven by Playwright for Python, against the console
served on 127.0.0.1 over the sample tenant (the sandbox's stand-ins). scripts/setup.sh installs both."""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from sync_core.console.auth import Admin, LocalGate
from sync_core.console.local import Served, serve_console
from sync_core.console.routes import Console
from tests.e2e.harness import Tenant, sample_tenant

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "ops-console@contoso.com"
# The documents' screenshots are refreshed only on request (CONSOLE_SCREENSHOTS=docs), so that a test run
# leaves the checkout clean; otherwise they go to a temporary folder (taken all the same: a page that cannot
# be drawn still fails).
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
SCREENSHOTS = (
    DOCS_IMAGES
    if os.environ.get("CONSOLE_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / "console-screenshots"
)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Per module, not per session: while it runs, Playwright's sync API keeps an event loop running on
    # this thread, and every later test that calls asyncio.run would fail.
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup.sh` (installs Debian's chromium)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


T = TypeVar("T")


def off_loop(work: Callable[[], T]) -> T:
    """Run `work` in a thread of its own: Playwright's sync API keeps an event loop running in this one,
    and the tenant's cycles and the commands start their own with asyncio.run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


@dataclass
class Running:
    tenant: Tenant
    served: Served
    gate: LocalGate

    @property
    def root(self) -> str:
        return self.served.url.split("?", 1)[0].rstrip("/")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Running]:
    """The sample tenant after its first two cycles, and the local console over its state. The tenant runs
    on the real clock (the console's actions and ages do), started a quarter of an hour ago."""
    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=15)
    with sample_tenant(tmp_path, started) as tenant:
        off_loop(tenant.settle)
        gate = LocalGate(Admin(ADMIN))
        with serve_console(Console(tenant.settings(), gate), gate) as served:
            yield Running(tenant, served, gate)


@pytest.fixture
def page(browser: Browser, console: Running) -> Iterator[Page]:
    """A signed-in page (the one-time token exchanged) on a narrow-enough desktop window."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.goto(console.served.url)
    yield opened
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)


def request(
    running: Running, method: str, path: str, *, cookie: str = "", form: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    parts = urlsplit(running.served.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response


def cookies_of(response: http.client.HTTPResponse) -> dict[str, str]:
    found = {}
    for value in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


@pytest.fixture
def signed_in(console: Running) -> Iterator[tuple[Running, str, str]]:
    """The console, a session cookie header from the one-time token, and the CSRF token."""
    token_path = console.served.url.split(console.root, 1)[1]
    first = request(console, "GET", token_path)
    assert first.status == 303 and first.headers["Location"] == "/"
    session = cookies_of(first)["console_session"]
    page = request(console, "GET", "/", cookie=f"console_session={session}")
    csrf = cookies_of(page)["console_csrf"]
    yield console, f"console_session={session}; console_csrf={csrf}", csrf
