"""Search index, resolve shards, content pages, feeds, the Pages check and the preview server."""

from __future__ import annotations

import json
import os
import re
import unicodedata
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.content import load_pages, parse_page
from generator.errors import PagesCheckError, SourceError, UsageError
from generator.pages_check import check_pages
from generator.render import resolve, search
from generator.render.cached import CachedPage
from generator.render.feeds import sitemap_files
from generator.render.listings import pager
from generator.render.site import OutputFile, RecordSummary
from generator.serve import normalise_base_path, serve_in_thread

BASE = RecordSummary(
    suffix="A" * 26,
    pith_number="pith:2024:" + "A" * 26,
    arxiv_id="2401.01234",
    version=1,
    title="Schrödinger's dark-matter café",
    authors="R. Ren\\'e, Z. Müller",
    submitted_at="2024-01-02T03:04:05Z",
    primary_cat="astro-ph.CO",
    canonical_sha256="0" * 64,
    raw_sha256="1" * 64,
    key_id="k",
    key_fingerprint="f",
    signed_at="2026-01-01T00:00:00Z",
    where="x",
    checks=(),
    outputs=(),
    cross_cats=("cs.LG",),
)


def summary(n: int, **kw: Any) -> RecordSummary:
    suffix = f"{n:026b}".replace("0", "A").replace("1", "B")
    return replace(BASE, suffix=suffix, pith_number="pith:2024:" + suffix, **kw)


# -- search ---------------------------------------------------------------------------------
def test_tokens_fold_accents_latex_and_compounds() -> None:
    toks = search.tokens("Schrödinger's dark-matter Ren\\'e, the cs.LG")
    assert "schrodinger" in toks and "rene" in toks
    assert {"dark-matter", "dark", "matter", "cs.lg", "cs", "lg"} <= set(toks)
    assert "the" not in toks


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_fold_shortcut_for_ascii_text_is_the_full_rule(text: str) -> None:
    """ASCII text skips normalisation and the mark filter: it folds exactly as the full rule."""
    latex_free = search._LATEX_ACCENT.sub(r"\1", text)
    full = "".join(
        c for c in unicodedata.normalize("NFKD", latex_free) if not unicodedata.category(c).startswith("M")
    ).lower()
    assert search.fold(text) == full


def test_fold_mark_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table of seen code points stops growing at its bound; folding stays the full rule."""
    table = search._WithoutMarks()
    monkeypatch.setattr(search, "_WITHOUT_MARKS", table)
    monkeypatch.setattr(search, "_MARKS_KEPT", 8)
    text = "".join(chr(c) for c in range(0xC0, 0x250)) + "e\u0301\u20dd\U0001d400"
    kept = [c for c in unicodedata.normalize("NFKD", text) if not unicodedata.category(c).startswith("M")]
    assert search.fold(text) == search.fold(text) == "".join(kept).lower()
    assert len(table) == 8


def search_files(records: list[RecordSummary]) -> dict[str, bytes]:
    """Every search file's bytes (cached pages rendered)."""
    files: dict[str, bytes] = {}
    for f in search.build_search(records):
        out = f.render() if isinstance(f, CachedPage) else f
        assert isinstance(out, OutputFile), out  # a full build keeps no previous search/
        files[out.dest_path] = out.data
    return files


def _load_js(data: bytes) -> tuple[str, list[object]]:
    m = re.fullmatch(rb"(PithSearch\.\w+|PithResolve\.\w+)\((.*)\);\n", data, re.DOTALL)
    assert m, data[:100]
    return m.group(1).decode(), json.loads(b"[" + m.group(2) + b"]")


def test_search_index_finds_each_record_by_every_kind_of_term() -> None:
    records = [summary(i, arxiv_id=f"2401.{i:05d}", title=f"word{i} common") for i in range(300)]
    records.append(summary(999, arxiv_id="cs/0004010", title="Old style"))
    files = search_files(records)
    _, (manifest,) = _load_js(files["search/manifest.js"])
    assert isinstance(manifest, dict)
    assert manifest["docs"] == 301
    postings: dict[str, list[int]] = {}
    for leaf in manifest["leaves"]:
        call, (name, terms) = _load_js(files[f"search/t/{search.leaf_name(leaf)}.js"])
        assert call == "PithSearch.terms" and name == leaf
        assert isinstance(terms, dict)
        for t, deltas in terms.items():
            assert t.startswith(leaf)
            ids, acc = [], 0
            for d in deltas:
                acc += d
                ids.append(acc)
            postings[t] = ids
    docs: list[list[object]] = []
    for n in range(-(-301 // search.DOCS_PER_SHARD)):
        _, (num, rows) = _load_js(files[f"search/d/{n}.js"])
        assert num == n
        assert isinstance(rows, list)
        docs.extend(rows)
    by_suffix = {row[0]: i for i, row in enumerate(docs)}
    for s in records:
        doc = by_suffix[s.suffix]
        for term in (
            "word" + s.title[4:].split()[0] if s.title.startswith("word") else "old",
            "common" if "common" in s.title else "style",
            s.suffix[:8].lower(),
            "rene",
            "cs.lg",
            "astro-ph.co",
            "2024",
        ):
            assert doc in postings[term], term
    assert by_suffix[summary(999).suffix] in postings["0004010"]
    assert by_suffix[records[5].suffix] in postings["2401.00005"]


def test_leaves_split_until_small() -> None:
    records = [summary(i, title=" ".join(f"t{i}x{j}" for j in range(30))) for i in range(400)]
    files = search_files(records)
    term_files = [data for rel, data in files.items() if rel.startswith("search/t/")]
    assert len(term_files) > 3
    assert max(len(data) for data in term_files) < 2 * search.LEAF_BYTES


def test_leaf_names_are_safe() -> None:
    assert search.leaf_name("ab") == "ab"
    assert search.leaf_name("é.") == "_e9__2e_"


# -- resolve --------------------------------------------------------------------------------
def test_resolve_shards_map_every_alias() -> None:
    records = [
        summary(1, arxiv_id="2301.01234", version=1),
        summary(2, arxiv_id="2301.01234", version=2),
        summary(3, arxiv_id="cs/0004010", version=1),
    ]
    files: dict[str, bytes] = {}
    for f in resolve.build_resolve(records):
        out = f.render() if isinstance(f, CachedPage) else f
        assert isinstance(out, OutputFile), out  # a full build keeps no previous resolve/
        files[out.dest_path] = out.data
    new = json.loads(files["resolve/arxiv/2301/01.json"])
    assert new == {"2301.01234": [[1, records[0].pith_number], [2, records[1].pith_number]]}
    old = json.loads(files["resolve/arxiv/cs/0004.json"])
    assert old == {"cs/0004010": [[1, records[2].pith_number]]}
    short = json.loads(files["resolve/pith/AA.json"])
    assert short["AAAAAAAA"] == sorted(r.pith_number for r in records)
    call, (names,) = _load_js(files["resolve/shards.js"])
    assert call == "PithResolve.shards" and isinstance(names, list) and "arxiv/2301/01" in names
    call, (name, data) = _load_js(files["resolve/arxiv/2301/01.js"])
    assert name == "arxiv/2301/01" and data == new
    layout = json.loads(files["resolve/index.json"])
    assert layout["arxiv_new"] == "resolve/arxiv/{yymm}/{nn}.json"


def test_resolve_refuses_unsafe_ids() -> None:
    with pytest.raises(Exception, match="invalid arXiv id"):
        resolve.arxiv_shard("../../etc")


# -- listings -------------------------------------------------------------------------------
def test_pager_window() -> None:
    assert pager(1, 1) == [1]
    assert pager(5, 100) == [1, None, 3, 4, 5, 6, 7, None, 100]
    assert pager(2, 4) == [1, 2, 3, 4]


# -- content --------------------------------------------------------------------------------
def test_content_pages_front_matter_and_no_raw_html(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "b.md").write_text(
        "---\ntitle: Bee\norder: 2\n---\n# Hi\n<script>alert(1)</script>\n[x](javascript:alert(1))\n"
    )
    (pages / "a.md").write_text("---\ntitle: Ay\norder: 5\nslug: ay-page\n---\ntext\n")
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "r.md").write_text("not a page")
    loaded = load_pages(tmp_path)
    assert [(p.slug, p.title) for p in loaded] == [("b", "Bee"), ("ay-page", "Ay")]
    assert "<script>" not in loaded[0].body_html and "&lt;script&gt;" in loaded[0].body_html
    assert 'href="javascript' not in loaded[0].body_html


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("---\ntitle: x\n", "never closed"),
        ("---\nnonsense\n---\n", "key: value"),
        ("---\ncolour: red\n---\n", "unknown front matter"),
        ("---\norder: soon\n---\n", "order must be an integer"),
        ("---\nslug: pith\n---\n", "slug"),
        ("---\nslug: ../x\n---\n", "slug"),
    ],
)
def test_content_page_errors_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    src = tmp_path / "note.md"
    src.write_text(text)
    with pytest.raises(SourceError, match=match) as info:
        parse_page(src)
    assert str(src) in str(info.value)


# -- feeds ----------------------------------------------------------------------------------
def test_sitemap_splits_into_an_index() -> None:
    urls = [(f"pith/{i}/index.html", "2026-01-01") for i in range(25)]
    small = list(sitemap_files("https://e.org/m/", urls[:10], max_urls=10))
    assert [f.dest_path for f in small] == ["sitemap.xml"]
    assert small[0].data.count(b"<url>") == 10
    files = {f.dest_path: f.data for f in sitemap_files("https://e.org/m/", urls, max_urls=10)}
    assert sorted(files) == ["sitemap.xml", *(f"sitemaps/sitemap-{n}.xml" for n in (1, 2, 3))]
    index = ET.fromstring(files["sitemap.xml"])
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    assert index.tag == ns + "sitemapindex"
    assert [e.text for e in index.iter(ns + "loc")] == [
        f"https://e.org/m/sitemaps/sitemap-{n}.xml" for n in (1, 2, 3)
    ]
    locs = [
        e.text for n in (1, 2, 3) for e in ET.fromstring(files[f"sitemaps/sitemap-{n}.xml"]).iter(ns + "loc")
    ]
    assert locs == [f"https://e.org/m/pith/{i}/" for i in range(25)]


# -- GitHub Pages check ---------------------------------------------------------------------
def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / ".nojekyll").write_bytes(b"")
    (root / "index.html").write_text("<!doctype html>")
    return root


def test_pages_check_accepts_a_clean_tree(tmp_path: Path) -> None:
    report = check_pages(_tree(tmp_path))
    assert report.files == 2 and not report.problems


def test_pages_check_names_every_problem(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / ".nojekyll").unlink()
    (root / "link").symlink_to(root / "index.html")
    os.link(root / "index.html", root / "hard.html")
    with open(root / "big.bin", "wb") as fh:
        fh.truncate(101 * 1024**2)  # sparse: no real disk use
    with pytest.raises(PagesCheckError) as info:
        check_pages(root, site_limit=50 * 1024**2)
    text = str(info.value)
    for needle in (
        ".nojekyll is missing",
        "link: symbolic link",
        "hard link",
        "big.bin",
        "over the 52428800-byte limit",
    ):
        assert needle in text
    assert main(["check-pages", str(root), "-q"]) == 1


def test_pages_check_cli_ok(tmp_path: Path) -> None:
    assert main(["check-pages", str(_tree(tmp_path)), "-q"]) == 0


# -- preview server -------------------------------------------------------------------------
def test_serve_under_a_subpath(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "404.html").write_text("missing page")
    (root / "a").mkdir()
    (root / "a" / "index.html").write_text("page a")
    server, url = serve_in_thread(root, "/repo/")
    try:
        assert url.endswith("/repo/")
        with urllib.request.urlopen(url + "a/") as resp:
            assert resp.read() == b"page a"
        with urllib.request.urlopen(url + "a") as resp:  # redirect keeps the subpath
            assert resp.geturl() == url + "a/"
        with urllib.request.urlopen(url.replace("/repo/", "/")) as resp:
            assert resp.geturl() == url
        for missing in (url + "nope.html", url.replace("/repo/", "/a/"), url + "../../etc/passwd"):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(missing)
            assert info.value.code == 404
            assert info.value.read() == b"missing page"
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        normalise_base_path("/a/../b/")
    with pytest.raises(UsageError, match=r"no index\.html"):
        serve_in_thread(tmp_path)


def test_cli_refuses_bad_serve_dir_and_bad_cname(tmp_path: Path) -> None:
    assert main(["serve", str(tmp_path), "-q"]) == 2  # no index.html: not a built site
    assert main(["serve", str(_tree(tmp_path)), "--base-path", "/../x/", "-q"]) == 2
    out = tmp_path / "built"
    assert main(["build", "-o", str(out), "--cname", "https://bad/", "-q"]) == 2
    assert not out.exists()
