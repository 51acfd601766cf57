"""Path containment: data never names a file directly."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import paths
from generator.errors import OutputError
from generator.identifiers import SHORT8_RE, is_arxiv_id, is_suffix
from tests.unit.test_path_collisions import ALL as ALL_PATHS

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
    "abcdefghijklmnopqrstuvwxyz",  # a SUFFIX in lower case
    "ABCDEFGHIJKLMNOPQRSTUVWXYz",
    "abcdefgh",  # a short number in lower case
    "CS/0004010",  # old-style ids: the archive is lower case
    "Cs/0004010",
    "math.ag/0101001",  # ... and the subject class upper case
    "MATH.AG/0101001",
    "cs/0004010/",
    "cs/0004010/..",
    "cs//0004010",
    "e\u0301/0004010",  # NFD: e + combining acute
    "\u00e9/0004010",  # the same letter, NFC
    "ABCDEFGHIJKLMNOPQRSTUVWXYE\u0301",
    "ABCDEFGHIJKLMNOPQRSTUVWXY\u00c9",
    "\uff21BCDEFGHIJKLMNOPQRSTUVWXYZ",  # one full-width letter
    "\uff12\uff16\uff10\uff14.\uff12\uff10\uff12\uff13\uff17",  # full-width digits
    "2604.2023\uff17",
    "\u0662\u0666\u0660\u0664.\u0662\u0660\u0662\u0663\u0667",  # Arabic-Indic digits (\\d matches them)
    "2604\uff0e20237",  # full-width full stop
    "cs\u22150004010",  # division slash
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ\n",
    " ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "ABCDEFGHIJKLMNOPQRSTUVWXY\u200b",  # zero-width space
    "K" * 25 + "\u212a",  # KELVIN SIGN: lower()s to "k", NFKC-folds to "K"
    "\u017fcs/0004010",  # LONG S: upper()s to "S"
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_ids_are_refused(text: str) -> None:
    for fn in ALL_PATHS:
        with pytest.raises(OutputError):
            fn(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_ids_fail_the_identifier_checks_first(text: str) -> None:
    assert not is_suffix(text)
    assert not is_arxiv_id(text)
    assert SHORT8_RE.fullmatch(text) is None


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
