"""Running a function in a forked process and taking back its result.

A build uses this for work that reads what the parent already has in memory (settings, the
renderer, templates) and would cost more to send to a fresh process than to fork: site steps
that run beside the others. The child dies with its parent (``bind_to_parent``), so a build
killed at any point leaves no process behind that could still write into its staging tree.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

from generator.write import bind_to_parent

T = TypeVar("T")


class ChildFailedError(RuntimeError):
    """A forked child ended without a result (killed, or its exception could not be sent)."""


class Forked(Generic[T]):
    """``fn()`` running in a forked child; ``result()`` waits for it and returns its value or
    raises its exception. ``cancel()`` kills the child (when the parent gives up first)."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.name = name
        self._recv, send = ctx.Pipe(duplex=False)
        parent = os.getpid()

        def main() -> None:
            bind_to_parent(parent)
            try:
                payload = pickle.dumps((True, fn()))
            except BaseException as exc:  # handed to the parent, which raises it
                try:
                    payload = pickle.dumps((False, exc))
                    pickle.loads(payload)  # an exception that cannot be rebuilt is sent as text
                except Exception:
                    text = "".join(traceback.format_exception(exc))
                    payload = pickle.dumps((False, ChildFailedError(f"{name}: {text}")))
            send.send_bytes(payload)
            send.close()

        self._process = ctx.Process(target=main, name=f"pith-mirror {name}", daemon=True)
        self._process.start()
        send.close()

    def result(self) -> T:
        try:
            payload = self._recv.recv_bytes()
        except EOFError:
            self._process.join()
            code = self._process.exitcode
            raise ChildFailedError(f"{self.name}: the process ended with code {code}") from None
        finally:
            self._recv.close()
        self._process.join()
        ok, value = pickle.loads(payload)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._recv.close()


__all__ = ["ChildFailedError", "Forked"]
