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
