"""The synthetic records the benchmark builds from: realistic, atomic inline math."""

from __future__ import annotations

import random
import re

from generator.render.mathml import latex_to_mathml
from generator.synth import TestKey, random_formula, random_record

_SEGMENT = re.compile(r"\$([^$]+)\$")


def test_formulas_are_short_varied_and_all_render() -> None:
    rng = random.Random(7)
    formulas = [random_formula(rng) for _ in range(2000)]
    assert len(set(formulas)) > 800  # varied: a benchmark pays for real conversions
    for f in set(formulas):
        assert f.startswith("$") and f.endswith("$") and f.count("$") == 2
        assert len(f) < 40
        assert latex_to_mathml(f[1:-1]) is not None, f


def test_math_in_records_stays_atomic_and_is_common_but_not_everywhere() -> None:
    key = TestKey.from_seed(b"synth")
    with_math = 0
    n = 300
    for i in range(n):
        paper = random_record(key, random.Random(i), i)["paper"]
        for text in (paper["title"], paper["abstract_excerpt"]):
            segments = _SEGMENT.findall(text)
            # a segment never spans words: formulas are inserted whole
            assert all(len(s) < 40 for s in segments), text
        found = len(_SEGMENT.findall(paper["abstract_excerpt"]))
        assert found <= 4
        with_math += found > 0
    assert 0.25 * n < with_math < 0.55 * n
