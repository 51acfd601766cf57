"""The open-graph section in real Chromium from file://: hostile text stays text, nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog

from generator.cli import main
from generator.synth import TestKey as SigningKey
from tests.integration.test_opengraph_build import _hostile_tree

pytestmark = pytest.mark.browser

PAYLOAD = (
    '<script>alert(1)</script><img src=x onerror="alert(2)"><svg onload=alert(3)>'
    '<a href="javascript:alert(4)">x</a>" onmouseover="alert(5)'
)


def test_hostile_open_graph_is_inert_in_chromium(
    browser: Browser, tmp_path: Path, test_key: SigningKey, keyring_file: Path
) -> None:
    root = tmp_path / "mirror"
    suffix = _hostile_tree(root, test_key, PAYLOAD)
    out = tmp_path / "site"
    argv = ["build", str(root), "-o", str(out), "--keyring", str(keyring_file), "--link-style", "file", "-q"]
    assert main(argv) == 0
    page = browser.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    requests: list[str] = []

    def dismiss(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dismiss)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / f"pith/{suffix}/index.html").as_uri())
    section = page.locator("section.open-graph")
    assert section.is_visible()
    section.locator("tr").first.hover()
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    text = section.inner_text()
    assert "<script>alert(1)</script>" in text  # shown as text
    assert "signed and verified" in text and "failed" in text
    assert (
        page.locator("section.open-graph script, section.open-graph img, section.open-graph svg").count() == 0
    )
    assert dialogs == []
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
    page.close()
