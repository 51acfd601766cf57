"""Shared Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright.

There is no skip: without Chromium these tests fail (CI installs it, see .ci/run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class Watch:
    """Everything a page does that a site must not: console errors, failed requests, and
    requests to anywhere outside the site root."""

    def __init__(self, page: Page, site_root: str) -> None:
        self.site_root = site_root
        self.console: list[str] = []
        self.failed: list[str] = []
        self.outside: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)
        page.on("response", self._response)

    def _response(self, resp: Response) -> None:
        if resp.status >= 400:
            self.failed.append(f"{resp.url} {resp.status}")

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.console.append(f"{msg.type}: {msg.text}")

    def _failed(self, req: Request) -> None:
        # ERR_ABORTED: cancelled because the test navigated on (a favicon, say). A missing file
        # is never reported that way: it is a 4xx response or ERR_FILE_NOT_FOUND, both caught.
        if req.failure != "net::ERR_ABORTED":
            self.failed.append(f"{req.url} {req.failure}")

    def _request(self, req: Request) -> None:
        self.requests.append(req.url)
        if not req.url.startswith(self.site_root):
            self.outside.append(req.url)

    def assert_clean(self) -> None:
        assert self.console == [], self.console
        assert self.failed == [], self.failed
        assert self.outside == [], self.outside
