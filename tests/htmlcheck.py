"""HTML5 parse checks shared by tests: pages parse cleanly and carry no active content from data."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import html5lib
from html5lib.constants import namespaces

XHTML = namespaces["html"]
BAD_SCHEMES = ("javascript", "vbscript", "data", "file")
INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f]")


def parse_strict(data: bytes, where: str) -> object:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    try:
        return parser.parse(data)
    except html5lib.html5parser.ParseError as exc:
        raise AssertionError(f"{where}: HTML5 parse error: {exc}") from None


def assert_inert(path: Path) -> None:
    """No inline script, no event handler, no dangerous URL scheme, no bidi/zero-width controls."""
    tree = html5lib.parse(path.read_bytes(), namespaceHTMLElements=False)
    for el in tree.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), f"{path}: event handler {name} on <{tag}>"
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href", "poster"):
                scheme = urlsplit(value.strip()).scheme.lower()
                assert scheme not in BAD_SCHEMES, f"{path}: {name}={value[:60]!r} on <{tag}>"
            if name.lower() == "style":
                raise AssertionError(f"{path}: inline style attribute on <{tag}>")
        if tag == "script":
            kind = el.attrib.get("type", "")
            if kind == "application/json":
                continue
            assert el.attrib.get("src"), f"{path}: inline <script>"
            assert not (el.text or "").strip(), f"{path}: <script src> with inline text"
            assert "static/" in el.attrib["src"], f"{path}: script from outside static/"
        if tag in ("iframe", "object", "embed", "base", "form") and tag != "form":
            raise AssertionError(f"{path}: <{tag}> element")
        for text in (el.text, el.tail):
            if text:
                assert not INVISIBLE.search(text), f"{path}: bidi or zero-width character in text"
