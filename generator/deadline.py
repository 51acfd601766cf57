"""A whole run bounded in time (``--deadline S``): shared by ``fetch`` and ``verify-site``.

The value is checked the same way everywhere (a finite number of seconds, 0 or none for no bound)
and written the same way in messages (``3600 s``, ``0.5 s``, never ``1e+06 s``). A run that
reaches its deadline raises ``DeadlineError`` (exit status 124, as ``timeout(1)`` gives).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from generator.errors import UsageError


def is_valid(value: float) -> bool:
    """A deadline in seconds: finite and not negative (0 means none)."""
    return math.isfinite(value) and value >= 0


def deadline_seconds(value: float | None, command: str) -> float | None:
    """``value`` checked: None or 0 -> None (no bound); negative, NaN or infinite -> UsageError."""
    if value is None:
        return None
    if not is_valid(value):
        raise UsageError(f"{command}: --deadline must be a number of seconds, 0 for none; got {value:g}")
    return float(value) or None


def format_seconds(seconds: float) -> str:
    """``3600``, ``0.5``: plain decimals, never the exponent form ``%g`` gives large values."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Deadline:
    """The moment (on ``time.monotonic()``) by which a run must stop, and the seconds it was given.

    ``CLOCK_MONOTONIC`` is one clock for the whole machine, so worker processes forked by the run
    can compare against the same ``at``."""

    seconds: float
    at: float

    @classmethod
    def start(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def __str__(self) -> str:
        return f"{format_seconds(self.seconds)} s"
