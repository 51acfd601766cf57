from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.render.mathml import (
    ATTRIBUTES,
    ELEMENTS,
    UnsafeMathError,
    latex_to_mathml,
    render_math,
    sanitize_mathml,
    sanitize_tree,
)

NS = "http://www.w3.org/1998/Math/MathML"


def test_inline_math_becomes_mathml_and_text_is_escaped() -> None:
    out = str(render_math("Proton-$\\eta^\\prime$ <b>interactions</b> & more"))
    assert out.startswith("Proton-<math ")
    assert "<msup>" in out and "&lt;b&gt;interactions&lt;/b&gt; &amp; more" in out
    ET.fromstring(out[out.index("<math") : out.index("</math>") + 7])  # well-formed


def test_no_math_is_plain_escaped_text() -> None:
    assert str(render_math("a < b and $5 prize")) == "a &lt; b and $5 prize"


def assert_only_mathml_tags(out: str) -> None:
    """Every tag in ``out`` is an allowed MathML element with allowed attributes only."""
    for m in re.finditer(r"<(/?)([^\s>/]+)([^>]*)>", out):
        assert m.group(2) in ELEMENTS, out
        for attr in re.findall(r'\s([^\s=]+)="', m.group(3)):
            assert attr in ATTRIBUTES or attr == "xmlns", out
    assert re.sub(r"<[^>]*>", "", out).count("<") == 0


@pytest.mark.parametrize(
    "latex",
    [
        "\\href{javascript:alert(1)}{x}",
        "\\unknowncommand{",
        "x" * 500,
        "<script>alert(1)</script>",
        "\\text{<img src=x onerror=alert(1)>}",
    ],
)
def test_bad_or_unsafe_latex_gives_only_safe_markup(latex: str) -> None:
    out = str(render_math(f"T ${latex}$ end"))
    assert_only_mathml_tags(out)
    if latex_to_mathml(latex) is None:
        assert "<math" not in out and "$" in out


def test_oversized_math_falls_back_to_raw_text() -> None:
    assert str(render_math("$" + "x" * 500 + "$")) == "$" + "x" * 500 + "$"


@pytest.mark.parametrize(
    "markup",
    [
        f'<math xmlns="{NS}"><mi onclick="x">a</mi></math>',
        f'<math xmlns="{NS}"><mi href="javascript:alert(1)">a</mi></math>',
        f'<math xmlns="{NS}"><script>alert(1)</script></math>',
        f'<math xmlns="{NS}"><mi xmlns="http://www.w3.org/1999/xhtml">a</mi></math>',
        f'<math xmlns="{NS}"><mi mathvariant="&quot;&gt;&lt;x">a</mi></math>',
        '<svg xmlns="http://www.w3.org/2000/svg"/>',
        "<!DOCTYPE x [<!ENTITY a 'b'>]><math/>",
        "not xml",
    ],
)
def test_sanitizer_refuses_anything_outside_the_allow_list(markup: str) -> None:
    with pytest.raises(UnsafeMathError):
        sanitize_mathml(markup)


def test_sanitizer_keeps_allowed_attributes_and_escapes_text() -> None:
    out = sanitize_mathml(f'<math xmlns="{NS}" display="inline"><mo stretchy="false">&lt;</mo></math>')
    assert out == f'<math xmlns="{NS}" display="inline"><mo stretchy="false">&lt;</mo></math>'


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("$\\{}^_<>&\"'abcx =/:()")), max_size=60))
def test_render_never_emits_active_content(text: str) -> None:
    assert_only_mathml_tags(str(render_math(text)))


# -- the element-tree path: latex2mathml's tree serialised directly ----------------------------
def _string_path(latex: str, display: str) -> str | None:
    """The reference: the converter's string output, parsed and re-serialised."""
    from latex2mathml.converter import convert

    try:
        raw = convert(latex, display=display)
    except Exception:
        return None
    try:
        return sanitize_mathml(raw)
    except UnsafeMathError:
        return None


def _tree_path(latex: str, display: str) -> str | None:
    from latex2mathml.converter import convert_to_element

    try:
        tree = convert_to_element(latex, display=display)
    except Exception:
        return None
    try:
        return sanitize_tree(tree)
    except UnsafeMathError:
        return None


@pytest.mark.parametrize(
    "latex",
    [
        "\\eta^\\prime",
        "O(n\\log n)",
        "a<b",
        "x > y",
        "\\int_0^1 f\\,dx",
        "\\mathrm{R\\&D}",
        "\\text{&#x3C;b&#x3E; &amp;lt;}",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        "\\left\\{x\\right\\}",
        "\\operatorname{argmax}_x \\limsup_{n}",
        "\\overbrace{a+b}^{n}",
        "\\text{a  b}",
    ],
)
def test_tree_path_equals_the_string_path(latex: str) -> None:
    for display in ("inline", "block"):
        expected = _string_path(latex, display)
        assert expected is not None
        assert _tree_path(latex, display) == expected


_TREE_TOKENS = ["\\frac", "\\text", "\\mathrm", "\\sqrt", "&#x41;", "&amp;", "\\\\"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"{}^_<>&\"'abx =/:()#;0123", *_TREE_TOKENS]),
        max_size=20,
    ).map("".join)
)
def test_tree_path_never_accepts_more_than_the_string_path(latex: str) -> None:
    got = _tree_path(latex, "inline")
    assert got == _string_path(latex, "inline") or got is None
    if got is not None:
        assert_only_mathml_tags(got)


def _math(*children: ET.Element, **attrib: str) -> ET.Element:
    root = ET.Element("math", {"xmlns": NS, "display": "inline", **attrib})
    root.extend(children)
    return root


def _el(tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.Element(tag, attrib)
    el.text = text
    return el


def test_tree_text_is_decoded_like_xml_and_escaped_again() -> None:
    out = sanitize_tree(_math(_el("mo", "&#x0222B;"), _el("mtext", "&lt;b&gt; &amp;lt; &#60; x>y")))
    assert out == (
        f'<math xmlns="{NS}" display="inline"><mo>∫</mo><mtext>&lt;b&gt; &amp;lt; &lt; x&gt;y</mtext></math>'
    )


def _deep() -> ET.Element:
    root = _math()
    node = root
    for _ in range(5000):
        node = ET.SubElement(node, "mrow")
    return root


def _non_string_text() -> ET.Element:
    el = _el("mi")
    el.text = 5  # type: ignore[assignment]  # deliberately not a string: the sanitizer must refuse it
    return _math(el)


@pytest.mark.parametrize(
    "tree",
    [
        _math(_el("script", "alert(1)")),
        _math(_el("{http://www.w3.org/1999/xhtml}mi", "a")),
        _math(_el("mi", "a", onclick="x")),
        _math(_el("mi", "a", href="javascript:alert(1)")),
        _math(_el("mi", "a", xmlns="http://www.w3.org/1999/xhtml")),
        _math(_el("mi", "a", mathvariant='"><x')),
        _math(_el("mi", "a", mathvariant="&#x41;")),
        _math(_el("mtext", "<img src=x onerror=alert(1)>")),
        _math(_el("mtext", "R&D")),
        _math(_el("mtext", "&#x202E;evil")),
        _math(_el("mtext", "&#0;")),
        _math(_el("mtext", "&#xD800;")),
        _math(_el("mtext", "&#x110000;")),
        _math(_el("mtext", "a\rb")),
        _math(_el("mtext", "x" * 25_000)),
        _non_string_text(),
        ET.Element("math", {"xmlns": "http://www.w3.org/1999/xhtml"}),
        ET.Element("svg", {"xmlns": NS}),
        _deep(),
    ],
)
def test_tree_sanitizer_refuses_anything_outside_the_allow_list(tree: ET.Element) -> None:
    with pytest.raises(UnsafeMathError):
        sanitize_tree(tree)


def test_refused_tree_falls_back_to_escaped_text() -> None:
    # \text{<...>} comes out of the converter as raw markup in a text node: refused, shown as text
    out = str(render_math("a $\\text{<img src=x>}$ b"))
    assert out == "a $\\text{&lt;img src=x&gt;}$ b"
