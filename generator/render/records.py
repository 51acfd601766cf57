"""Ordered, streamed access to record summaries for site-wide steps.

A build hands site steps a ``SummaryStore`` (summaries on SQLite, ordered views from indexes);
tests and tools may hand a plain list. These helpers accept either and never copy a store into
memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from generator.columns import Row, row_of
from generator.render.site import RecordSummary


def _key(s: RecordSummary, name: str) -> str:
    return s.suffix[:8] if name == "short8" else str(getattr(s, name))


def ordered(records: Sequence[RecordSummary], *keys: str, reverse: bool = False) -> Iterator[RecordSummary]:
    """Summaries sorted by ``keys`` (``suffix``, ``submitted_at``, ``short8``), ties by SUFFIX."""
    view = getattr(records, "ordered", None)
    if callable(view):
        result: Iterator[RecordSummary] = view(*keys, reverse=reverse)
        return result
    return iter(sorted(records, key=lambda s: tuple(_key(s, k) for k in (*keys, "suffix")), reverse=reverse))


def shared_short_numbers(records: Sequence[RecordSummary]) -> Iterable[tuple[str, list[RecordSummary]]]:
    """(SHORT8, records) for every short number held by more than one record, in SHORT8 order."""
    groups = getattr(records, "by_short8", None)
    if callable(groups):
        result: Iterable[tuple[str, list[RecordSummary]]] = groups()
        return result
    by_short: dict[str, list[RecordSummary]] = defaultdict(list)
    for s in records:
        by_short[s.suffix[:8]].append(s)
    return [(k, sorted(v, key=lambda s: s.suffix)) for k, v in sorted(by_short.items()) if len(v) > 1]


def rows(records: Sequence[RecordSummary], *keys: str, reverse: bool = False) -> Iterator[Row]:
    """Display rows (``generator.columns.Row``) in the order of ``ordered``: from the stored
    columns of a ``SummaryStore``, or made from the summaries of a plain list."""
    view = getattr(records, "rows", None)
    if callable(view):
        result: Iterator[Row] = view(*keys, reverse=reverse)
        return result
    return (row_of(s) for s in ordered(records, *keys, reverse=reverse))


def newest_rows(records: Sequence[RecordSummary]) -> Iterator[Row]:
    return rows(records, "submitted_at", reverse=True)
