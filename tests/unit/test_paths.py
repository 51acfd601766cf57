"""Path containment: data never names a file directly."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import paths
from generator.errors import OutputError
from generator.identifiers import is_arxiv_id

HOSTILE = [
    "..",
    "../x",
    "a/../../b",
    "/etc/passwd",
    "%2e%2e/x",
    "a\x00b",
    "a\nb",
    "CON",
    "x.",
    "a\\b",
    "A" * 300,
    "",
    ".",
    "pith/./x",
    "Ａ" * 26,
    "ＡＢ/..",
    "a//b",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_ids_are_refused(text: str) -> None:
    for fn in (
        paths.record_page,
        paths.record_json,
        paths.graph_json,
        paths.events_json,
        paths.bundle_json,
        paths.state_json,
        paths.well_known_bundle_json,
        paths.paper_page,
        paths.integrity_json,
    ):
        with pytest.raises(OutputError):
            fn(text)


def test_old_style_arxiv_ids_nest_one_level() -> None:
    assert paths.integrity_json("cs/0004010") == "pith/cs/0004010/integrity.json"
    assert paths.integrity_json("math.AG/0101001") == "pith/math.AG/0101001/integrity.json"
    assert paths.integrity_json("2604.20237") == "pith/2604.20237/integrity.json"


def _contained(rel: str) -> bool:
    norm = posixpath.normpath(rel)
    return not rel.startswith("/") and norm.split("/")[0] != ".." and norm == rel


@settings(max_examples=2000, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_every_accepted_id_gives_a_contained_path(text: str) -> None:
    for fn in (
        paths.record_page,
        paths.record_json,
        paths.paper_page,
        paths.integrity_json,
        paths.bundle_json,
    ):
        try:
            rel = fn(text)
        except OutputError:
            continue
        assert _contained(rel), rel
        assert paths.safe_rel(rel) == rel


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzAG0123456789./-_\\%\x00\n", max_size=30))
def test_safe_rel_never_accepts_an_escape(text: str) -> None:
    try:
        rel = paths.safe_rel(text)
    except OutputError:
        return
    assert _contained(rel)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=30))
def test_arxiv_pattern_never_admits_traversal(text: str) -> None:
    if is_arxiv_id(text):
        assert ".." not in text and not text.startswith("/") and "\\" not in text
        assert text.count("/") <= 1


def test_relative_links() -> None:
    rel = paths.relative_url
    assert rel("pith/X/index.html", "index.html", link_files=False) == "../../"
    assert rel("pith/X/index.html", "index.html", link_files=True) == "../../index.html"
    assert rel("index.html", "index.html", link_files=False) == "./"
    assert rel("index.html", "pith/Y/index.html", link_files=False) == "pith/Y/"
    assert rel("a/b/c.html", "static/style.css", link_files=False) == "../../static/style.css"
