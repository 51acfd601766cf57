"""Strict JSON: every way Python's ``json`` is lenient becomes a typed ``JsonError``.

Rejected: invalid UTF-8, a byte-order mark, duplicate keys (at any depth), ``NaN``/``Infinity``
and numbers that overflow a double, integers longer than ``MAX_INT_DIGITS``, lone surrogates,
nesting deeper than ``max_depth``, documents larger than ``max_bytes``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from generator.errors import JsonError

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 40

JsonValue = Any


class _Reject(Exception):
    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _Reject("duplicate_key", f"duplicate key {key!r}")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise _Reject("non_finite_number", f"{name} is not allowed")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Reject("non_finite_number", f"number {text[:40]!r} overflows a double")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Reject("number_too_large", f"integer with {digits} digits (max {MAX_INT_DIGITS})")
    return int(text)


# A lone surrogate can only come from a \\uD800-\\uDFFF escape: UTF-8 input cannot hold one raw.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_fast(value: Any, data: bytes, max_depth: int) -> None:
    """``_check`` with two exact shortcuts: no surrogate escape in the bytes means no lone
    surrogate, and fewer brackets than the bound means no nesting past it."""
    maybe_surrogate = _SURROGATE_ESCAPE.search(data) is not None
    maybe_deep = data.count(b"[") + data.count(b"{") > max_depth
    if maybe_surrogate:
        _check(value, 0, max_depth)
    elif maybe_deep:
        _check_depth(value, max_depth)


def _check_depth(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            if level >= max_depth:
                raise _Reject("too_deep", f"nesting deeper than {max_depth}")
            stack.extend((sub, level + 1) for sub in item.values() if isinstance(sub, dict | list))
        elif isinstance(item, list):
            if level >= max_depth:
                raise _Reject("too_deep", f"nesting deeper than {max_depth}")
            stack.extend((sub, level + 1) for sub in item if isinstance(sub, dict | list))


def _check(value: Any, depth: int, max_depth: int) -> None:
    """Depth bound and lone surrogates, in one walk (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            _check_str(item)
        elif isinstance(item, dict):
            if level >= max_depth:
                raise _Reject("too_deep", f"nesting deeper than {max_depth}")
            for key, sub in item.items():
                _check_str(key)
                stack.append((sub, level + 1))
        elif isinstance(item, list):
            if level >= max_depth:
                raise _Reject("too_deep", f"nesting deeper than {max_depth}")
            stack.extend((sub, level + 1) for sub in item)


def _check_str(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Reject("lone_surrogate", f"lone surrogate at offset {exc.start}") from None


def loads_strict(
    data: bytes, where: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> JsonValue:
    """Parse ``data`` strictly; raise ``JsonError`` naming ``where`` and the failed check."""
    if len(data) > max_bytes:
        raise JsonError("too_large", where, f"{len(data)} bytes (max {max_bytes})")
    if data.startswith(b"\xef\xbb\xbf"):
        raise JsonError("bom", where, "UTF-8 byte-order mark before the JSON text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonError("invalid_utf8", where, f"invalid UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant,
            parse_float=_float,
            parse_int=_int,
        )
        _check_fast(value, data, max_depth)
    except _Reject as exc:
        raise JsonError(exc.code, where, exc.detail) from None
    except RecursionError:
        raise JsonError("too_deep", where, f"nesting deeper than {max_depth}") from None
    except json.JSONDecodeError as exc:
        raise JsonError("invalid_json", where, f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # int() digit limit and similar
        raise JsonError("number_too_large", where, str(exc)) from None
    return value


def loads_object(data: bytes, where: str, **bounds: int) -> dict[str, JsonValue]:
    value = loads_strict(data, where, **bounds)
    if not isinstance(value, dict):
        raise JsonError("not_an_object", where, f"top level is {type(value).__name__}, not object")
    return value


def canonical_json(value: JsonValue) -> bytes:
    """Pith's canonical form (PROTOCOL.md §1)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
