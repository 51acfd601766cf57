"""Home, listing, record, search and resolver in Chromium, from file:// and from a server on
127.0.0.1 under a subpath: no console errors, no failed requests, nothing loaded from elsewhere."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page

from generator.serve import serve_in_thread
from tests.browser.conftest import Watch

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"


def find_record(site: Path, arxiv_id: str, version: int) -> tuple[str, str]:
    for f in sorted((site / "pith").glob("*.json")):
        rec = json.loads(f.read_bytes())
        if rec["source"] == {"kind": "arxiv", "id": arxiv_id, "version": version}:
            return f.stem, rec["pith_number"]
    raise AssertionError(f"no record for {arxiv_id}v{version}")


@pytest.fixture(scope="module")
def server_root(reader_sites: dict[str, Path]) -> Iterator[str]:
    server, url = serve_in_thread(reader_sites["dirs"], "/mirror/")
    yield url
    server.shutdown()
    server.server_close()


def modes(reader_sites: dict[str, Path], server_root: str) -> dict[str, tuple[Path, str, str]]:
    """mode -> (site dir, root URL, suffix added to folder links)."""
    return {
        "file": (reader_sites["files"], reader_sites["files"].as_uri() + "/", "index.html"),
        "http": (reader_sites["dirs"], server_root, ""),
    }


@pytest.mark.parametrize("mode", ["file", "http"])
def test_pages_search_and_resolve(
    browser: Browser, reader_sites: dict[str, Path], server_root: str, artifacts: Path, mode: str
) -> None:
    site, root, index = modes(reader_sites, server_root)[mode]
    suffix, pith_number = find_record(site, "2402.01234", 2)
    old_suffix, _ = find_record(site, "cs/0004010", 1)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch = Watch(page, root)

    def visit(path: str, shot: str) -> Page:
        page.goto(root + path)
        page.wait_for_load_state("load")
        page.screenshot(path=str(artifacts / f"{mode}-{shot}.png"), full_page=False)
        return page

    visit("index.html", "home")
    assert page.locator("h1").first.inner_text() == "Pith mirror"
    visit(f"browse/cat/q-bio.TO/{index}", "listing")
    assert page.locator("ol.records li").count() == 2
    visit(f"pith/{suffix}/{index}", "record")
    assert page.locator("h1 math").count() == 1
    visit(f"about/{index}", "content")
    # search by a title word
    visit(f"search/{index}?q=zebrafish", "search")
    page.wait_for_selector("#search-results li")
    links = page.locator("#search-results li a.title")
    assert links.count() == 2
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(2)]
    assert f"../pith/{suffix}/{index}" in hrefs
    assert int(page.locator("#search-results").get_attribute("data-ms") or "9999") < 1000
    # newest first, on the first page of results and after "more" (documents are numbered oldest first)
    page.fill("#q-page", "cs.lg")
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length === 20")
    page.locator("#search-more").click()
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length === 40")
    dates = page.evaluate(
        "() => [...document.querySelectorAll('#search-results li .meta')].map(m => m.textContent.slice(-10))"
    )
    assert len(dates) == 40 and dates == sorted(dates, reverse=True) and dates[0] > dates[-1]
    # typing a new query: prefix of an author name, then an arXiv id with version
    page.fill("#q-page", "uniqueauth")
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length === 2")
    page.fill("#q-page", "2402.01234v2")
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length === 2")
    page.fill("#q-page", "cs/0004010")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#search-results li a')]"
        f".some(a => a.href.includes('{old_suffix}'))"
    )
    page.fill("#q-page", pith_number)
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#search-results li a')].map(a => a.href).join()"
        f".endsWith('pith/{suffix}/{index}')"
    )
    assert page.locator("#search-results li").count() == 1
    page.fill("#q-page", "zzzz")  # clear, then the bare SUFFIX
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length === 0")
    page.fill("#q-page", suffix)
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length === 1")
    # clicking a result opens the record
    page.locator("#search-results li a.title").first.click()  # the only result
    page.wait_for_url(re.compile(rf"pith/{suffix}/"))
    # the resolver
    visit(f"resolve/{index}", "resolve")
    for query, want in (
        ("arxiv=2402.01234", suffix),
        ("arxiv=2402.01234v2", suffix),
        ("doi=10.48550/arXiv.2402.01234", suffix),
        ("arxiv=cs/0004010", old_suffix),
        (f"pith={pith_number}", suffix),
        (f"pith=pith:{suffix[:8]}", suffix),
    ):
        page.goto(root + f"resolve/{index}?{query}")
        page.wait_for_url(re.compile(rf"pith/{want}/{index}$"))
        assert page.locator("article.record").get_attribute("data-pith-number") is not None
    page.goto(root + f"resolve/{index}?arxiv=2402.01234v7")
    page.wait_for_selector("#resolve-choices li")
    assert "no record for version 7" in page.locator("#resolve-status").inner_text()
    page.goto(root + f"resolve/{index}?arxiv=9912.99999")
    page.wait_for_function(
        "() => document.getElementById('resolve-status').textContent.includes('No record')"
    )
    # the short-number redirect page
    page.goto(root + f"pith/{suffix[:8]}/{index}")
    page.wait_for_url(re.compile(rf"pith/{suffix}/{index}$"))
    watch.assert_clean()
    assert any(u.endswith("search/manifest.js") for u in watch.requests)
    context.close()


def _axe_violations(
    browser: Browser, site: Path, root: str, scheme: Literal["light", "dark"]
) -> dict[str, list[str]]:
    suffix, _ = find_record(site, "2402.01234", 2)
    # bypass_csp only so that the test can inject axe; the pages themselves are unchanged
    context = browser.new_context(bypass_csp=True, color_scheme=scheme)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for path in (
        "",
        "browse/",
        "browse/cat/cs.LG/",
        f"pith/{suffix}/",
        "search/?q=quantum",
        "resolve/",
        "about/",
    ):
        page.goto(root + path)
        if "search" in path:
            page.wait_for_selector("#search-results li")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[path or "home"] = bad
    context.close()
    return found


def test_no_serious_accessibility_violations(
    browser: Browser, reader_sites: dict[str, Path], server_root: str
) -> None:
    """One page of each type (home, browse, listing, record, search, resolve, content), light scheme."""
    assert _axe_violations(browser, reader_sites["dirs"], server_root, "light") == {}


@pytest.mark.slow
def test_no_serious_accessibility_violations_dark(
    browser: Browser, reader_sites: dict[str, Path], server_root: str
) -> None:
    assert _axe_violations(browser, reader_sites["dirs"], server_root, "dark") == {}
