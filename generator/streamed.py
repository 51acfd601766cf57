"""Site-wide files written as a stream of chunks, never held whole in memory.

A listing of every record (the verification report) grows with N; at 2.5 million records it is
gigabytes. ``StreamedFile`` is an ``OutputFile`` whose bytes come from an iterator, written to
disk chunk by chunk. ``report_json_chunks`` yields exactly the bytes of
``json.dumps(report, sort_keys=True, indent=1, ensure_ascii=False) + "\\n"`` with the records list
streamed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from generator.render.site import Renderer

T = TypeVar("T")


@dataclass(frozen=True)
class StreamedFile:
    dest_path: str
    chunks: Callable[[], Iterable[bytes]]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Reiterable(Generic[T]):
    """An iterable that starts afresh on each pass (a template may loop over it twice)."""

    def __init__(self, make: Callable[[], Iterable[T]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[T]:
        return iter(self.make())


_PLACEHOLDER = "\x00records\x00"


_encode_str = json.encoder.encode_basestring  # the C version when available, as json.dumps uses


def dumps_indented(value: Any, indent: int = 1, level: int = 0) -> str:
    """``json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=False)`` for documents of
    dicts with string keys, lists, strings, integers, booleans and None; several times faster
    because each string is encoded by the C encoder instead of the pure-Python indenting one."""
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
            parts.append(_encode_str(key) + ": " + dumps_indented(value[key], indent, level + 1))
        return "{" + inner + ("," + inner).join(parts) + "\n" + " " * (indent * level) + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [dumps_indented(v, indent, level + 1) for v in value]
        return "[" + inner + ("," + inner).join(items) + "\n" + " " * (indent * level) + "]"
    raise TypeError(f"unsupported type {type(value).__name__}")


def report_json_chunks(head: dict[str, Any], records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """``head`` is the report without ``records``; the records are streamed in, in order."""
    return report_text_chunks(head, (dumps_indented(rec, 1, 2) for rec in records))


def report_text_chunks(head: dict[str, Any], texts: Iterable[str]) -> Iterator[bytes]:
    """As ``report_json_chunks``, from records already serialised by ``dumps_indented(rec, 1, 2)``."""
    doc = dict(head, records=_PLACEHOLDER)
    text = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    marker = json.dumps(_PLACEHOLDER, ensure_ascii=False)
    before, after = text.split(marker, 1)
    yield before.encode("utf-8")
    first = True
    parts: list[str] = []
    pending = 0
    for body in texts:
        parts.append(("[\n  " if first else ",\n  ") + body)
        pending += len(body)
        first = False
        if pending >= 1 << 18:
            yield "".join(parts).encode("utf-8")
            parts, pending = [], 0
    parts.append("[]" if first else "\n ]")
    yield "".join(parts).encode("utf-8")
    yield after.encode("utf-8")


def page_chunks(renderer: Renderer, template: str, dest_path: str, **context: Any) -> Iterator[bytes]:
    """A page rendered as a stream (jinja's ``generate``): same bytes as ``Renderer.page``."""
    tmpl = renderer.env.get_template(template)
    parts: list[str] = []
    pending = 0
    for piece in tmpl.generate(link=renderer._linker(dest_path), page_path=dest_path, **context):
        parts.append(piece)
        pending += len(piece)
        if pending >= 1 << 18:
            yield "".join(parts).encode("utf-8")
            parts, pending = [], 0
    if parts:
        yield "".join(parts).encode("utf-8")
