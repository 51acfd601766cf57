"""LaTeX math in titles and abstracts, rendered as MathML at build time (no network, no script).

Text is split on ``$...$``, ``$$...$$``, ``\\(...\\)`` and ``\\[...\\]``. Each math segment is
converted by ``latex2mathml`` into an element tree, which is then serialised element by element
from an allow-list of MathML elements and attributes (``sanitize_tree``): attribute values must
match a short pattern, and every text node and attribute value is decoded the way an XML parser
would read it (character references only; a bare ``&``, a ``<``, or a control, bidi, zero-width or
noncharacter code point is refused) and escaped again. Anything the allow-list does not know (or
a conversion error, or a segment or its output over the bounds) makes that segment fall back to
its raw text, escaped. Data can therefore never inject markup: the only tags in the result are
the ones this module writes itself. ``sanitize_mathml`` applies the same allow-list to MathML
given as a string.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET

from markupsafe import Markup, escape

from generator.render.filters import INVISIBLE_CHARS

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
MAX_SEGMENT = 400  # characters of LaTeX in one math segment
MAX_SEGMENTS = 40  # math segments in one text
MAX_OUTPUT = 20_000  # characters of MathML for one segment

ELEMENTS = frozenset(
    "math mrow mi mn mo ms mtext mspace msup msub msubsup mfrac msqrt mroot mover munder "
    "munderover mtable mtr mtd mstyle mpadded mphantom menclose mfenced merror mmultiscripts "
    "mprescripts none semantics annotation".split()
)
ATTRIBUTES = frozenset(
    "display mathvariant stretchy fence separator lspace rspace accent accentunder form largeop "
    "movablelimits symmetric columnalign columnlines rowlines rowspacing columnspacing scriptlevel "
    "displaystyle minsize maxsize width height depth linethickness open close separators notation "
    "frame align equalrows equalcolumns rowalign encoding".split()
)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9 .,:;%#+\-()/\\|]{0,64}")
_MATH = re.compile(
    r"\$\$(?P<dd>.+?)\$\$|(?<!\\)\$(?P<d>[^$]+?)(?<!\\)\$|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\]",
    re.DOTALL,
)


# What a text node or attribute value may not hold once decoded: everything clean_text drops
# (controls, bidi, zero-width, noncharacters), a carriage return (an XML parser would rewrite it)
# and lone surrogates (not characters at all).
_BAD_CHAR = re.compile("[" + INVISIBLE_CHARS + r"\r\ud800-\udfff]")
_REF = re.compile(r"#x([0-9A-Fa-f]{1,6});|#([0-9]{1,7});|(lt|gt|amp|quot|apos);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


class UnsafeMathError(ValueError):
    """The converter produced something outside the allow-list; the caller falls back to text."""


def _xml_text(value: str) -> str:
    """A converter text node or attribute value as XML character data reads: its character
    references decoded. A ``<``, a bare ``&`` or a disallowed character raises."""
    if "<" in value:
        raise UnsafeMathError(f"markup in converter text: {value[:80]!r}")
    if "&" in value:
        head, *rest = value.split("&")
        parts = [head]
        for part in rest:
            m = _REF.match(part)
            if m is None:
                raise UnsafeMathError(f"bare & in converter text: {value[:80]!r}")
            if m.group(3):
                parts.append(_NAMED[m.group(3)])
            else:
                code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
                if code > 0x10FFFF:
                    raise UnsafeMathError(f"character reference out of range: {value[:80]!r}")
                parts.append(chr(code))
            parts.append(part[m.end() :])
        value = "".join(parts)
    return _checked(value)


def _checked(text: str) -> str:
    if _BAD_CHAR.search(text) is not None:
        raise UnsafeMathError(f"character not allowed in MathML text: {text[:80]!r}")
    return text


def _open_tag(name: object, attrib: dict[str, str]) -> str:
    """``<name attrs>`` for an allowed element and attributes (sorted); raises otherwise."""
    if name not in ELEMENTS:
        raise UnsafeMathError(f"element not allowed: {str(name)[:80]!r}")
    attrs: list[str] = []
    for key, value in sorted(attrib.items()):
        if key not in ATTRIBUTES:
            raise UnsafeMathError(f"attribute not allowed: {key[:80]!r}")
        if _SAFE_VALUE.fullmatch(value) is None:
            raise UnsafeMathError(f"attribute value not allowed: {key}={value[:80]!r}")
        attrs.append(f' {key}="{escape(value)}"')
    if name == "math":
        attrs.insert(0, f' xmlns="{MATHML_NS}"')
    return f"<{name}{''.join(attrs)}>"


# The same few tags and texts recur in every formula: their checked, escaped forms are cached.
# Both raise ``UnsafeMathError`` (never cached) for anything outside the allow-list.
@functools.lru_cache(maxsize=4096)
def _tree_tag(name: object, items: tuple[tuple[str, str], ...]) -> str:
    return _open_tag(name, dict(items))


@functools.lru_cache(maxsize=4096)
def _text_piece(text: str) -> str:
    return str(escape(_xml_text(text)))


def sanitize_tree(root: ET.Element) -> str:
    """Serialise a ``latex2mathml`` element tree through the allow-list.

    The converter builds plain (un-namespaced) MathML tags, declares the namespace with an
    ``xmlns`` attribute on the root only, and writes text as XML character data (with character
    references such as ``&#x0222B;``). Raises ``UnsafeMathError`` for anything else, and when the
    result would exceed ``MAX_OUTPUT`` characters.
    """
    if root.tag != "math" or root.attrib.get("xmlns") != MATHML_NS:
        raise UnsafeMathError("converter output is not one MathML <math> element")
    try:
        return _serialise(root)
    except TypeError as exc:  # a tag, attribute or text that is not a string
        raise UnsafeMathError(f"converter output holds a non-string value: {exc}") from None


def _serialise(root: ET.Element) -> str:
    out: list[str] = []
    size = 0
    # (element, is_end): an iterative walk, so deep nesting cannot exhaust the stack
    stack: list[tuple[ET.Element, bool]] = [(root, False)]
    while stack:
        node, end = stack.pop()
        if end:
            piece = f"</{node.tag}>"
            if node.tail and node is not root:
                piece += _text_piece(node.tail)
        else:
            items = tuple(node.attrib.items())
            if node is root:
                items = tuple(kv for kv in items if kv[0] != "xmlns")
            piece = _tree_tag(node.tag, items)
            if node.text:
                piece += _text_piece(node.text)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node))
        size += len(piece)
        if size > MAX_OUTPUT:
            raise UnsafeMathError("converter output too large")
        out.append(piece)
    return "".join(out)


def _rebuild(node: ET.Element, out: list[str]) -> None:
    tag = node.tag
    if not tag.startswith("{" + MATHML_NS + "}"):
        raise UnsafeMathError(f"element outside the MathML namespace: {tag[:80]!r}")
    out.append(_open_tag(tag[len(MATHML_NS) + 2 :], node.attrib))
    if node.text:
        out.append(str(escape(_checked(node.text))))
    for child in node:
        _rebuild(child, out)
        if child.tail:
            out.append(str(escape(_checked(child.tail))))
    out.append(f"</{tag[len(MATHML_NS) + 2 :]}>")


def sanitize_mathml(markup: str) -> str:
    """Re-serialise MathML given as a string through the allow-list; raise ``UnsafeMathError``
    otherwise."""
    if len(markup) > MAX_OUTPUT or "<!" in markup or "<?" in markup:
        raise UnsafeMathError("converter output too large or holds a declaration")
    try:
        root = ET.fromstring(markup)
    except ET.ParseError as exc:
        raise UnsafeMathError(f"converter output is not XML: {exc}") from None
    if root.tag != "{" + MATHML_NS + "}math":
        raise UnsafeMathError("converter output is not one <math> element")
    out: list[str] = []
    _rebuild(root, out)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def latex_to_mathml(latex: str, display: bool = False) -> str | None:
    """Sanitised MathML for one LaTeX formula, or None when it cannot be rendered safely."""
    if not latex.strip() or len(latex) > MAX_SEGMENT:
        return None
    try:
        from latex2mathml.converter import convert_to_element

        tree = convert_to_element(latex, display="block" if display else "inline")
    except Exception:  # the converter raises many kinds of errors on bad LaTeX
        return None
    try:
        return sanitize_tree(tree)
    except UnsafeMathError:
        return None


@functools.lru_cache(maxsize=8192)
def render_math(text: str) -> Markup:
    """Escaped text with its math segments as MathML; a segment that fails stays raw text."""
    out: list[str] = []
    pos = 0
    for count, m in enumerate(_MATH.finditer(text)):
        if count >= MAX_SEGMENTS:
            break
        out.append(str(escape(text[pos : m.start()])))
        latex = m.group("dd") or m.group("d") or m.group("p") or m.group("b") or ""
        display = m.group("dd") is not None or m.group("b") is not None
        mathml = latex_to_mathml(latex, display)
        out.append(mathml if mathml is not None else str(escape(m.group(0))))
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def has_math(text: str) -> bool:
    return _MATH.search(text) is not None
