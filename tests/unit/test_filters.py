"""The fast character checks in render/filters.py decide exactly like the plain ones."""

from __future__ import annotations

import random
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.render import filters


def _code_points() -> list[int]:
    points = list(range(0x10000))  # the whole BMP
    for plane in range(1, 17):  # each astral plane's noncharacters and their neighbours
        points += range(plane * 0x10000 + 0xFFF0, plane * 0x10000 + 0x10000)
        points += range(plane * 0x10000, plane * 0x10000 + 16)
    rng = random.Random(1)
    points += [rng.randrange(0x10000, 0x110000) for _ in range(20_000)]
    return points


def test_has_invisible_matches_the_full_character_class() -> None:
    for cp in _code_points():
        text = "ab" + chr(cp) + "\U0001f600"  # an astral character keeps the astral check active
        assert filters.has_invisible(text) == (filters._INVISIBLE.search(text) is not None), hex(cp)
        assert filters.has_invisible(chr(cp)) == (filters._INVISIBLE.search(chr(cp)) is not None), hex(cp)


def test_space_check_is_str_isspace() -> None:
    for cp in _code_points():
        assert (filters._SPACE.search(chr(cp)) is not None) == chr(cp).isspace(), hex(cp)


def test_clean_text_and_safe_url_results() -> None:
    assert filters.clean_text("a\u202eb\x00c\U0001fffe e\u0301") == "abc \u00e9"
    assert filters.clean_text("x" * 10, 4) == "xxxx…"
    assert filters.safe_url("https://pith.science/pith/X") == "https://pith.science/pith/X"
    for bad in (
        "https://a.b/\u2028x",
        "https://a.b/ x",
        "https://a.b/\u200bx",
        "javascript:alert(1)",
        "https://",
    ):
        assert filters.safe_url(bad) is None, bad


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text(), st.integers(1, 40))
def test_clean_text_is_the_plain_rule(text: str, limit: int) -> None:
    """With its shortcuts (ASCII text is neither searched for astral characters nor normalised),
    clean_text gives what the plain rule gives: the whole class removed, NFC, then the bound."""
    plain = unicodedata.normalize("NFC", filters._INVISIBLE.sub("", text))
    if len(plain) > limit:
        plain = plain[:limit] + "…"
    assert filters.clean_text(text, limit) == plain
