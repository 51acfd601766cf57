"""The mirror's own view of an open-graph bundle's current state. Pure: no IO.

Pith computes ``state.json`` with ``pith-open-graph-merge-v1``, whose rules (ordering, validity,
equivocation, conflicts) are not published (PROTOCOL.md §6). This module is the mirror's own,
labelled view, never written at Pith's ``state.json`` path. It is deterministic and does not
depend on the order of the events:

- events are grouped by identity (``verify.events.event_identity``); the same bytes twice are one
  event seen twice (a duplicate); different bytes under one identity are a conflict;
- events are ordered by (time, identity, digest), times compared as UTC instants when they parse;
- for each target, the current event is the last one in that order among events that did not fail
  verification and are not in conflict.

When Pith publishes its merge, ``merge_events`` is the one function to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from generator.keyring import parse_time
from generator.verify.events import event_digest, event_identity

MERGE_RULE = "pith-mirror-view-1"
MERGE_NOTE = (
    "This is this mirror's own view of current state, not Pith's: the merge algorithm "
    "pith-open-graph-merge-v1 is not published."
)


@dataclass(frozen=True)
class MergedEvent:
    identity: str
    digest: str
    event_type: str | None
    target: str | None
    created_at: str | None
    occurrences: int


@dataclass(frozen=True)
class MirrorView:
    rule: str
    events: tuple[MergedEvent, ...]  # distinct (identity, digest), in merge order
    duplicates: tuple[str, ...]  # identities seen more than once with the same bytes
    conflicts: tuple[str, ...]  # identities carried by more than one distinct event
    current: tuple[tuple[str, str], ...]  # (target, identity of its current event), sorted by target

    @property
    def event_count(self) -> int:
        return len(self.events)


def _sort_time(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return parse_time(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (ValueError, OverflowError):
        return value


def _field(event: Any, name: str) -> str | None:
    if isinstance(event, Mapping) and isinstance(event.get(name), str):
        value: str = event[name]
        return value
    return None


def merge_events(events: Iterable[Any], failed: Iterable[str] = ()) -> MirrorView:
    """The mirror's view of ``events``; ``failed`` lists digests of events that failed verification."""
    failed_digests = frozenset(failed)
    by_key: dict[tuple[str, str], list[Any]] = {}
    for event in events:
        by_key.setdefault((event_identity(event), event_digest(event)), []).append(event)
    digests_by_id: dict[str, set[str]] = {}
    for identity, digest in by_key:
        digests_by_id.setdefault(identity, set()).add(digest)
    conflicts = tuple(sorted(i for i, d in digests_by_id.items() if len(d) > 1))
    duplicates = tuple(sorted({i for (i, _d), group in by_key.items() if len(group) > 1}))

    merged: list[tuple[str, MergedEvent]] = []
    for (identity, digest), group in by_key.items():
        event = group[0]  # every member has the same canonical bytes
        created = _field(event, "created_at")
        merged.append(
            (
                _sort_time(created),
                MergedEvent(
                    identity,
                    digest,
                    _field(event, "event_type"),
                    _field(event, "target"),
                    created,
                    len(group),
                ),
            )
        )
    merged.sort(key=lambda item: (item[0], item[1].identity, item[1].digest))
    current: dict[str, str] = {}
    in_conflict = set(conflicts)
    for _t, m in merged:
        if m.target is not None and m.digest not in failed_digests and m.identity not in in_conflict:
            current[m.target] = m.identity
    return MirrorView(
        rule=MERGE_RULE,
        events=tuple(m for _t, m in merged),
        duplicates=duplicates,
        conflicts=conflicts,
        current=tuple(sorted(current.items())),
    )
