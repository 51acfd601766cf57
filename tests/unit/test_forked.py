"""generator.forked: a function run in a forked child gives back its value or its exception."""

from __future__ import annotations

import os
import signal
import time

import pytest

from generator.forked import ChildFailedError, Forked


def test_value_comes_back_from_another_process() -> None:
    child = Forked(lambda: (os.getpid(), list(range(100_000))), "sum")
    pid, numbers = child.result()
    assert pid != os.getpid()
    assert numbers == list(range(100_000))  # larger than a pipe's buffer


def test_exception_is_raised_in_the_parent() -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device", "listing/2.html")

    with pytest.raises(OSError, match="No space left on device") as info:
        Forked(fail, "step").result()
    assert info.value.filename == "listing/2.html"


class _Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b}")


def test_exception_that_cannot_be_sent_arrives_as_text() -> None:
    def fail() -> None:
        raise _Unpicklable(1, 2)

    with pytest.raises(ChildFailedError, match="1 and 2"):
        Forked(fail, "step").result()


def test_child_that_dies_without_a_result() -> None:
    with pytest.raises(ChildFailedError, match="ended with code"):
        Forked(lambda: os.kill(os.getpid(), signal.SIGKILL), "killed").result()


def test_cancel_kills_a_running_child() -> None:
    child = Forked(lambda: time.sleep(60), "sleeper")
    started = time.monotonic()
    child.cancel()
    assert time.monotonic() - started < 10
    assert not child._process.is_alive()
