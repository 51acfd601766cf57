"""LaTeX math in titles and abstracts, rendered as MathML at build time (no network, no script).

Text is split on ``$...$``, ``$$...$$``, ``\\(...\\)`` and ``\\[...\\]``. Each math segment is
converted by ``latex2mathml``; the library's output is then parsed and rebuilt element by element
from an allow-list of MathML elements and attributes, with every text node and attribute value
escaped again. Anything the allow-list does not know (or a conversion error, or a segment over the
bounds) makes that segment fall back to its raw text, escaped. Data can therefore never inject
markup: the only tags in the result are the ones this module writes itself.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET

from markupsafe import Markup, escape

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


class UnsafeMathError(ValueError):
    """The converter produced something outside the allow-list; the caller falls back to text."""


def _rebuild(node: ET.Element, out: list[str]) -> None:
    tag = node.tag
    if not tag.startswith("{" + MATHML_NS + "}"):
        raise UnsafeMathError(f"element outside the MathML namespace: {tag[:80]!r}")
    name = tag[len(MATHML_NS) + 2 :]
    if name not in ELEMENTS:
        raise UnsafeMathError(f"element not allowed: {name!r}")
    attrs: list[str] = []
    for key, value in sorted(node.attrib.items()):
        if key not in ATTRIBUTES:
            raise UnsafeMathError(f"attribute not allowed: {key[:80]!r}")
        if _SAFE_VALUE.fullmatch(value) is None:
            raise UnsafeMathError(f"attribute value not allowed: {key}={value[:80]!r}")
        attrs.append(f' {key}="{escape(value)}"')
    if name == "math":
        attrs.insert(0, f' xmlns="{MATHML_NS}"')
    out.append(f"<{name}{''.join(attrs)}>")
    if node.text:
        out.append(str(escape(node.text)))
    for child in node:
        _rebuild(child, out)
        if child.tail:
            out.append(str(escape(child.tail)))
    out.append(f"</{name}>")


def sanitize_mathml(markup: str) -> str:
    """Re-serialise converter output through the allow-list; raise ``UnsafeMathError`` otherwise."""
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
        from latex2mathml.converter import convert

        raw = convert(latex, display="block" if display else "inline")
    except Exception:  # the converter raises many kinds of errors on bad LaTeX
        return None
    try:
        return sanitize_mathml(raw)
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
