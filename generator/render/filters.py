"""Helpers that turn hostile upstream text into safe template values."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

_ALLOWED_SCHEMES = ("http", "https")
# C0/C1 controls; bidi embeddings, overrides and isolates; zero-width characters.
# Unicode noncharacters (U+FDD0-U+FDEF and the last two code points of every plane): HTML
# parsers report them as errors, so they are dropped like the controls.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(p * 0x10000 + 0xFFFE) + chr(p * 0x10000 + 0xFFFF) for p in range(17)
)
INVISIBLE_CHARS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff" + _NONCHARACTERS
)  # a regex character class body
_INVISIBLE = re.compile("[" + INVISIBLE_CHARS + "]")
# The same set, searched fast: a class of BMP ranges is matched through a bitmap, while the astral
# noncharacters make the full class a slow linear test of every character. So the BMP part is
# searched first, and the astral part only in text that holds an astral character at all.
_INVISIBLE_BMP = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"
    "\ufdd0-\ufdef\ufffe\uffff]"
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_INVISIBLE_ASTRAL = re.compile(
    "[" + "".join(chr(p * 0x10000 + 0xFFFE) + chr(p * 0x10000 + 0xFFFF) for p in range(1, 17)) + "]"
)
_SPACE = re.compile(r"\s")  # the characters str.isspace() accepts


def has_invisible(text: str) -> bool:
    """Whether ``text`` holds a character that ``clean_text`` drops."""
    return _INVISIBLE_BMP.search(text) is not None or (
        not text.isascii() and _ASTRAL.search(text) is not None and _INVISIBLE_ASTRAL.search(text) is not None
    )


def safe_url(value: object) -> str | None:
    """An http(s) URL fit for an ``href``, or None. Anything else is shown as text only."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    if has_invisible(value) or _SPACE.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in _ALLOWED_SCHEMES or not parts.netloc:
        return None
    return value


def clean_text(value: object, limit: int = 2000) -> str:
    """Untrusted text for display: controls, bidi overrides and zero-width characters removed,
    NFC-normalised, bounded in length. Autoescape still applies after this."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if has_invisible(text):
        text = _INVISIBLE.sub("", text)
    if not text.isascii():  # NFC keeps ASCII text as it is
        text = unicodedata.normalize("NFC", text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def arxiv_abs_url(arxiv_id: str, version: int | None = None) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}" + (f"v{version}" if version else "")
