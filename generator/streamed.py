"""Site-wide files written as a stream of chunks, never held whole in memory.

A listing of every file (the site manifest) grows with N; at 2.5 million records it is
gigabytes. ``StreamedFile`` is an ``OutputFile`` whose bytes come from an iterator, written to
disk chunk by chunk. ``dumps_indented`` is a fast ``json.dumps(..., indent=...)`` for the
report's entries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class StreamedFile:
    dest_path: str
    chunks: Callable[[], Iterable[bytes]]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_encode_str = json.encoder.encode_basestring  # the C version when available, as json.dumps uses


def dumps_indented(value: Any, indent: int = 1, level: int = 0) -> str:
    """``json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=False)`` for documents of
    dicts with string keys, lists, strings, integers, booleans and None; several times faster
    because each string is encoded by the C encoder instead of the pure-Python indenting one
    (and a string member or item, the commonest, without a call of its own)."""
    if isinstance(value, str):
        return _encode_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    inner = "\n" + " " * (indent * (level + 1))
    if isinstance(value, dict):
        if not value:
            return "{}"
        parts = []
        for key in sorted(value):
            if not isinstance(key, str):
                raise TypeError("only string keys are supported")
            member = value[key]
            text = _encode_str(member) if type(member) is str else dumps_indented(member, indent, level + 1)
            parts.append(_encode_str(key) + ": " + text)
        return "{" + inner + ("," + inner).join(parts) + "\n" + " " * (indent * level) + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [_encode_str(v) if type(v) is str else dumps_indented(v, indent, level + 1) for v in value]
        return "[" + inner + ("," + inner).join(items) + "\n" + " " * (indent * level) + "]"
    raise TypeError(f"unsupported type {type(value).__name__}")
