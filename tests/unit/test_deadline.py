"""The one way every command checks and writes a ``--deadline`` (generator/deadline.py)."""

from __future__ import annotations

import pickle
import time

import pytest

from generator.deadline import Deadline, deadline_seconds, format_seconds, is_valid
from generator.errors import UsageError


def test_none_and_zero_mean_no_bound() -> None:
    assert deadline_seconds(None, "fetch") is None
    assert deadline_seconds(0, "fetch") is None
    assert deadline_seconds(0.0, "verify-site") is None
    assert deadline_seconds(60, "verify-site") == 60.0
    assert deadline_seconds(0.25, "verify-site") == 0.25


@pytest.mark.parametrize("value", [-1.0, -0.001, float("nan"), float("inf"), float("-inf")])
def test_negative_and_non_finite_are_usage_errors_naming_the_command(value: float) -> None:
    assert not is_valid(value)
    with pytest.raises(UsageError, match=r"^verify-site: --deadline must be a number of seconds, 0 for none"):
        deadline_seconds(value, "verify-site")


@pytest.mark.parametrize(
    ("seconds", "text"), [(3600, "3600"), (0.5, "0.5"), (1e6, "1000000"), (1.25, "1.25"), (60.0, "60")]
)
def test_seconds_are_written_plainly(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text
    assert str(Deadline(seconds, 0.0)) == f"{text} s"


def test_a_deadline_passes_and_crosses_to_another_process_unchanged() -> None:
    d = Deadline.start(0.05)
    assert not d.passed() and 0 < d.remaining() <= 0.05
    time.sleep(0.06)
    assert d.passed() and d.remaining() <= 0
    assert pickle.loads(pickle.dumps(d)) == d  # the same moment on the machine's monotonic clock
