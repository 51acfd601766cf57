"""Case and Unicode-normalisation collisions between output paths.

A mirror is often copied to a case-insensitive file system (macOS, Windows) or through tools
that normalise Unicode. Every identifier the path functions accept is plain ASCII (so NFC, NFD
and NFKC leave it unchanged), no accepted identifier differs from another of its kind only by
case, and the paths of different identifiers never collide once case-folded, neither file with
file nor file with directory."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator import paths
from generator.errors import OutputError
from generator.identifiers import NEW_ARXIV_RE, OLD_ARXIV_RE, SHORT8_RE, SUFFIX_RE

SUFFIX_PATHS: tuple[Callable[[str], str], ...] = (
    paths.record_page,
    paths.record_json,
    paths.graph_json,
    paths.events_json,
    paths.bundle_json,
    paths.state_json,
    paths.well_known_bundle_json,
)
SHORT_PATHS: tuple[Callable[[str], str], ...] = (paths.short_page, paths.paper_page)
ALL: tuple[Callable[[str], str], ...] = (*SUFFIX_PATHS, *SHORT_PATHS, paths.integrity_json)

# what the strict patterns accept, built directly (st.from_regex is slow); checked against the
# patterns in test_strategies_make_what_the_patterns_accept
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
LOWER = "abcdefghijklmnopqrstuvwxyz"
suffixes = st.text(alphabet=B32, min_size=26, max_size=26)
new_ids = st.builds(
    "{}.{}".format,
    st.text("0123456789", min_size=4, max_size=4),
    st.text("0123456789", min_size=4, max_size=5),
)
old_ids = st.builds(
    "{}{}/{}".format,
    st.lists(st.text(LOWER, min_size=1, max_size=9), min_size=1, max_size=3).map("-".join),
    st.just("") | st.text(LOWER.upper(), min_size=2, max_size=2).map(".{}".format),
    st.text("0123456789", min_size=7, max_size=7),
)
arxiv_ids = new_ids | old_ids


def accepted(fn: Callable[[str], str], text: str) -> str | None:
    try:
        return fn(text)
    except OutputError:
        return None


def fold(path: str) -> str:
    """How a case-insensitive, normalising file system compares names."""
    return unicodedata.normalize("NFC", path).casefold()


def variants(text: str) -> set[str]:
    out = {text.upper(), text.lower(), text.swapcase(), text.casefold(), text.title()}
    out |= {unicodedata.normalize(form, text) for form in ("NFC", "NFD", "NFKC", "NFKD")}
    return out - {text}


@settings(max_examples=300, deadline=None)
@given(suffixes, arxiv_ids)
def test_strategies_make_what_the_patterns_accept(suffix: str, arxiv_id: str) -> None:
    assert SUFFIX_RE.fullmatch(suffix) and SHORT8_RE.fullmatch(suffix[:8])
    assert NEW_ARXIV_RE.fullmatch(arxiv_id) or OLD_ARXIV_RE.fullmatch(arxiv_id)


# letters whose case mapping or compatibility form lands on ASCII (KELVIN SIGN, LONG S, the
# ligature "st", full-width letters and digits), combining marks, and what valid ids are made of
ALPHABET = "abcsxzAGKSXZ0123456789./-\u212a\u017f\ufb06\uff21\uff41\uff10\u0301\u0131\u0130"


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=30))
@example("k" * 26)
@example("\u212a" * 26)
@example("e\u0301/0004010")
@example("\u017ftat/0004010")
def test_accepted_ids_are_ascii_and_fixed_under_normalisation(text: str) -> None:
    for fn in ALL:
        if accepted(fn, text) is None:
            continue
        assert text.isascii(), (fn.__name__, text)
        for form in ("NFC", "NFD", "NFKC", "NFKD"):
            assert unicodedata.normalize(form, text) == text


@settings(max_examples=500, deadline=None)
@given(suffixes, arxiv_ids)
@example("KVRAK2XL6QPRVRKFFVZUINAMO6", "math.AG/0101001")
@example("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "cs/0004010")
def test_no_other_case_or_normal_form_of_an_accepted_id_is_accepted(suffix: str, arxiv_id: str) -> None:
    cases = [(fn, suffix) for fn in SUFFIX_PATHS]
    cases += [(fn, suffix[:8]) for fn in SHORT_PATHS]
    cases.append((paths.integrity_json, arxiv_id))
    for fn, text in cases:
        assert accepted(fn, text) is not None, (fn.__name__, text)
        for other in variants(text):
            assert accepted(fn, other) is None, (fn.__name__, text, other)


def _dirs(path: str) -> set[str]:
    parts = path.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


@settings(max_examples=300, deadline=None)
@given(st.lists(suffixes, min_size=1, max_size=6, unique=True), st.lists(arxiv_ids, max_size=6, unique=True))
@example(["ABCDEFGHIJKLMNOPQRSTUVWXYZ"], ["abcdefgh/0101001", "abcdefghijklmnopqrstuvwxyz/0101001"])
@example(["ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHQQQQQQQQQQQQQQQQQQ"], ["math.AG/0101001", "math/0101001"])
def test_paths_of_different_ids_never_collide_case_folded(
    suffix_list: list[str], arxiv_list: list[str]
) -> None:
    made: dict[str, tuple[str, str]] = {}  # folded path -> (function, argument) that made it

    def note(fn: Callable[[str], str], arg: str) -> None:
        rel = fn(arg)
        key = fold(rel)
        # one (function, argument) gives one path; two suffixes may share a short number, and
        # then share its page on purpose: same function, same argument
        assert made.setdefault(key, (fn.__name__, arg)) == (fn.__name__, arg), (rel, made[key])

    for s in suffix_list:
        for fn in SUFFIX_PATHS:
            note(fn, s)
        for fn in SHORT_PATHS:
            note(fn, s[:8])
    for a in arxiv_list:
        note(paths.integrity_json, a)
    folded_dirs = set().union(*(_dirs(p) for p in made))
    clash = sorted(set(made) & folded_dirs)
    assert clash == [], f"a file and a directory share a name when case-folded: {clash}"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("cs/0004010", "CS/0004010"),
        ("math.AG/0101001", "math.ag/0101001"),
        ("math.AG/0101001", "MATH.AG/0101001"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"),
        ("ABCDEFGH", "abcdefgh"),
        ("KKKKKKKKKKKKKKKKKKKKKKKKKK", "\u212a" * 26),
        ("stat/0004010", "\u017ftat/0004010"),
    ],
)
def test_only_one_of_two_colliding_spellings_is_accepted(first: str, second: str) -> None:
    assert fold(first) == fold(second)  # the same name on a case-insensitive file system
    for fn in ALL:
        if accepted(fn, first) is not None:
            assert accepted(fn, second) is None, (fn.__name__, second)
    assert any(accepted(fn, first) is not None for fn in ALL)
    assert SHORT8_RE.fullmatch(second) is None
