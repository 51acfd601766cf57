"""The reader-facing site: links, HTML5, listings, feeds, resolve, GitHub Pages readiness.

The default run checks a 300-record build (every link, every non-record page and a sample of
record pages parsed); the slow run checks every page and link of a 1,000-record build."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import html5lib
import pytest
from markupsafe import escape

from generator.pages_check import check_pages
from generator.render.site import CSP
from tests.linkcheck import check_tree, page_links
from tests.sitegen import SPECIAL, build_site

RECORD_PAGE = re.compile(r"(?:pith|paper)/([A-Z2-7]{8}|[A-Z2-7]{26})/index\.html")


def record_suffixes(site: Path) -> list[str]:
    return sorted(p.stem for p in (site / "pith").glob("*.json"))


def parse_strict(page: Path) -> None:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        parser.parse(page.read_bytes())
    except html5lib.html5parser.ParseError as exc:
        raise AssertionError(f"{page}: {exc}") from None


def pages_to_parse(site: Path, every: int) -> list[Path]:
    pages = sorted(site.rglob("*.html"))
    records = [p for p in pages if RECORD_PAGE.search(p.relative_to(site).as_posix())]
    others = [p for p in pages if p not in set(records)]
    return others + records[::every]


@pytest.mark.parametrize("style", ["dirs", "files"])
def test_no_broken_internal_links(reader_sites: dict[str, Path], style: str) -> None:
    site = reader_sites[style]
    base = "https://example.org/mirror/" if style == "dirs" else None
    assert check_tree(site, link_files=style == "files", base_url=base) == []


def test_link_checker_catches_broken_and_folder_links(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="d/">x</a><a href="missing.html">y</a><script src="/abs.js"></script>'
    )
    problems = check_tree(tmp_path, link_files=True)
    assert any("folder" in p for p in problems)
    assert any("missing.html" in p for p in problems)
    assert any("root-relative" in p for p in problems)


@pytest.mark.parametrize("style", ["dirs", "files"])
def test_pages_parse_as_html5(reader_sites: dict[str, Path], style: str) -> None:
    """Every site-wide page and every 25th record and redirect page (all: the slow variant)."""
    for page in pages_to_parse(reader_sites[style], 25):
        parse_strict(page)


@pytest.mark.slow
@pytest.mark.parametrize("style", ["dirs", "files"])
def test_1000_records_every_page_parses_and_no_link_is_broken(
    reader_sites_1000: dict[str, Path], style: str
) -> None:
    site = reader_sites_1000[style]
    assert len(record_suffixes(site)) == 1000 + len(SPECIAL) + 3
    for page in sorted(site.rglob("*.html")):
        parse_strict(page)
    base = "https://example.org/mirror/" if style == "dirs" else None
    assert check_tree(site, link_files=style == "files", base_url=base) == []


def test_every_page_has_the_csp_meta(reader_sites: dict[str, Path]) -> None:
    meta = f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
    for page in reader_sites["files"].rglob("*.html"):
        assert meta in page.read_text(), page


def test_home_page_says_what_how_many_from_where_when_and_which_key(reader_sites: dict[str, Path]) -> None:
    site = reader_sites["dirs"]
    html = (site / "index.html").read_text()
    total = len(record_suffixes(site))
    assert total == 300 + len(SPECIAL) + 3
    assert f"<dd>{total}</dd>" in html
    assert "https://pith.science" in html
    assert "2026-09-21T14:13:20Z" in html  # SOURCE_DATE_EPOCH of the build
    assert "test-key-1" in html and "pith-v1-2026-05" in html
    assert 'role="search"' in html and 'action="search/"' in html
    assert html.count('class="title"') == 20


def test_every_record_is_listed_once_by_category_and_once_by_month(reader_sites: dict[str, Path]) -> None:
    for style in ("dirs", "files"):
        site = reader_sites[style]
        for kind in ("cat", "date"):
            seen: list[str] = []
            for page in sorted((site / "browse" / kind).rglob("index.html")):
                for _tag, url in page_links(page):
                    m = re.search(r"pith/([A-Z2-7]{26})/(?:index\.html)?$", url)
                    if m:
                        seen.append(m.group(1))
            assert sorted(seen) == record_suffixes(site), (style, kind)
    # paginated: the largest category of the 12-a-page site has several pages, each linked
    pages = sorted((reader_sites["dirs"] / "browse/cat/cs.LG").rglob("index.html"))
    assert len(pages) >= 3
    first = (reader_sites["dirs"] / "browse/cat/cs.LG/index.html").read_text()
    assert f'cs.LG/page/{len(pages)}/">{len(pages)}</a>' in first
    assert re.search(r'rel="next" href="[./]*(?:browse/cat/cs\.LG/)?page/2/"', first)
    # three clicks from home: home -> browse -> listing page 1 -> (pager) -> record
    home_links = [u for _t, u in page_links(reader_sites["dirs"] / "index.html")]
    assert "browse/" in home_links


def test_short_number_redirect_pages(reader_sites: dict[str, Path]) -> None:
    site = reader_sites["files"]
    for suffix in record_suffixes(site)[:50]:
        page = site / "pith" / suffix[:8] / "index.html"
        html = page.read_text()
        assert f'content="0; url=../../pith/{suffix}/index.html"' in html
        assert f'href="../../pith/{suffix}/index.html"' in html


def test_resolve_shards_cover_every_alias(reader_sites: dict[str, Path]) -> None:
    site = reader_sites["dirs"]
    layout = json.loads((site / "resolve/index.json").read_text())
    assert layout["version"] == 1
    for rec_file in sorted((site / "pith").glob("*.json"))[:200]:
        rec = json.loads(rec_file.read_bytes())
        arxiv_id, version = rec["source"]["id"], rec["source"]["version"]
        if "/" in arxiv_id:
            archive, num = arxiv_id.split("/")
            shard = site / f"resolve/arxiv/{archive}/{num[:4]}.json"
        else:
            yymm, num = arxiv_id.split(".")
            shard = site / f"resolve/arxiv/{yymm}/{num[:2]}.json"
        assert [version, rec["pith_number"]] in json.loads(shard.read_text())[arxiv_id]
        short8 = rec["pith_number"][-26:][:8]
        assert (
            rec["pith_number"] in json.loads((site / f"resolve/pith/{short8[:2]}.json").read_text())[short8]
        )


def test_feeds_and_crawler_files(reader_sites: dict[str, Path]) -> None:
    site = reader_sites["dirs"]
    atom = "{http://www.w3.org/2005/Atom}"
    feed = ET.fromstring((site / "feed.xml").read_bytes())
    entries = feed.findall(atom + "entry")
    assert len(entries) == 50
    published = [p for e in entries if (p := e.findtext(atom + "published")) is not None]
    assert len(published) == len(entries)
    assert published == sorted(published, reverse=True)
    assert all(
        (link := e.find(atom + "link")) is not None
        and (link.get("href") or "").startswith("https://example.org/mirror/pith/")
        for e in entries
    )
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locs = {e.text for e in ET.fromstring((site / "sitemap.xml").read_bytes()).iter(ns + "loc")}
    for suffix in record_suffixes(site):
        assert f"https://example.org/mirror/pith/{suffix}/" in locs
    assert "https://example.org/mirror/browse/" in locs
    robots = (site / "robots.txt").read_text()
    assert "Sitemap: https://example.org/mirror/sitemap.xml" in robots
    assert "Disallow: /mirror/search/t/" in robots and "Disallow: /mirror/resolve/pith/" in robots
    assert "Disallow: /search/d/" in (reader_sites["files"] / "robots.txt").read_text()
    assert (site / "CNAME").read_text() == "mirror.example.org\n"
    assert (site / ".nojekyll").exists()
    not_found = (site / "404.html").read_text()
    assert 'href="https://example.org/mirror/static/style.css"' in not_found
    assert 'href="https://example.org/mirror/search/"' in not_found
    # without --base-url: no sitemap, relative feed links
    files_site = reader_sites["files"]
    assert not (files_site / "sitemap.xml").exists() and not (files_site / "CNAME").exists()
    assert 'href="pith/' in (files_site / "feed.xml").read_text()


def test_canonical_links_only_with_base_url(reader_sites: dict[str, Path]) -> None:
    suffix = record_suffixes(reader_sites["dirs"])[0]
    page = (reader_sites["dirs"] / f"pith/{suffix}/index.html").read_text()
    assert f'<link rel="canonical" href="https://example.org/mirror/pith/{suffix}/">' in page
    assert 'rel="canonical"' not in (reader_sites["files"] / "browse/index.html").read_text()


def test_math_titles_and_hostile_text(reader_sites: dict[str, Path]) -> None:
    site = reader_sites["dirs"]
    for page in (site / "pith").glob("*/index.html"):
        html = page.read_text()
        if "Zebrafish morphogenesis with" in html:
            break
    else:
        raise AssertionError("special record page not found")
    assert "<msqrt>" in html  # $\sqrt{x^2+1}$ rendered as MathML
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "<img" not in html
    assert '<details class="raw-title">' in html  # the signed raw title stays available
    assert "$\\sqrt{x^2+1}$" in html


def test_site_is_ready_for_github_pages(reader_sites: dict[str, Path]) -> None:
    report = check_pages(reader_sites["dirs"])
    assert report.files > 1000 and report.total_bytes < 200 * 1024**2


def test_search_and_resolve_pages_load_only_site_scripts(reader_sites: dict[str, Path]) -> None:
    for style, suffix in (("dirs", ""), ("files", "index.html")):
        html = (reader_sites[style] / "search/index.html").read_text()
        assert '<script src="../static/search.js" data-root="../"' in html
        html = (reader_sites[style] / "resolve/index.html").read_text()
        assert '<script src="../static/resolve.js" data-root="../"' in html
        assert f'action="../resolve/{suffix}"' in html


def test_two_builds_are_identical(tmp_path: Path) -> None:
    a = build_site(tmp_path, 40, link_files=False, base_url="https://example.org/").rename(tmp_path / "a")
    b = build_site(tmp_path, 40, link_files=False, base_url="https://example.org/")
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
