"""The mirror's merged view is independent of event order; the append-only comparison."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.merge import MERGE_RULE, merge_events
from generator.verify.events import MIRROR_ID_PREFIX, event_digest, event_identity, missing_events

TIMES = ["2026-05-18T01:16:39Z", "2026-05-18T01:16:39+00:00", "2026-05-19T00:00:00.5Z", "not a time", None]

event_st = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(["record_created", "graph_snapshot", "claim"]),
        "target": st.sampled_from(["record", "graph", "claims"]),
        "payload": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
    },
    optional={
        "event_id": st.sampled_from(["sha256:1", "sha256:2", "sha256:3"]),
        "created_at": st.sampled_from(TIMES),
    },
)


def _same_view_for_any_order(events: list[dict[str, Any]], rnd: Any, data: Any) -> None:
    failed = data.draw(st.lists(st.sampled_from([event_digest(e) for e in events] or ["x"]), max_size=3))
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert merge_events(events, failed) == merge_events(shuffled, list(reversed(failed)))


@settings(max_examples=200, deadline=None)
@given(st.lists(event_st, max_size=8), st.randoms(use_true_random=False), st.data())
def test_any_permutation_gives_the_same_view(events: list[dict[str, Any]], rnd: Any, data: Any) -> None:
    _same_view_for_any_order(events, rnd, data)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)
@given(st.lists(event_st, max_size=12), st.randoms(use_true_random=False), st.data())
def test_any_permutation_gives_the_same_view_long(events: list[dict[str, Any]], rnd: Any, data: Any) -> None:
    _same_view_for_any_order(events, rnd, data)


@settings(max_examples=200, deadline=None)
@given(st.lists(event_st, max_size=6))
def test_duplicates_do_not_change_the_events(events: list[dict[str, Any]]) -> None:
    once = merge_events(events)
    twice = merge_events(events + events)
    assert [(e.identity, e.digest) for e in once.events] == [(e.identity, e.digest) for e in twice.events]
    assert [2 * e.occurrences for e in once.events] == [e.occurrences for e in twice.events]
    assert twice.current == once.current
    assert set(twice.duplicates) == {event_identity(e) for e in events}


def test_view_orders_by_time_and_picks_current() -> None:
    old = {"event_id": "a", "target": "graph", "created_at": "2026-01-01T00:00:00Z", "payload": {}}
    new = {"event_id": "b", "target": "graph", "created_at": "2026-01-02T00:00:00+00:00", "payload": {}}
    view = merge_events([new, old])
    assert view.rule == MERGE_RULE
    assert [e.identity for e in view.events] == ["a", "b"]
    assert view.current == (("graph", "b"),)
    # a failed event is never current
    assert merge_events([new, old], [event_digest(new)]).current == (("graph", "a"),)
    # an id carrying two different events is a conflict and never current
    twin = dict(new, payload={"x": 1})
    conflicted = merge_events([old, new, twin])
    assert conflicted.conflicts == ("b",)
    assert conflicted.current == (("graph", "a"),)


def test_identity_without_event_id() -> None:
    event = {"event_type": "x"}
    assert event_identity(event).startswith(MIRROR_ID_PREFIX)
    assert event_identity({"event_id": 4273}) == "4273"
    assert event_identity({"event_id": True}).startswith(MIRROR_ID_PREFIX)


def _doc(events: list[Any]) -> bytes:
    return json.dumps({"events": events}).encode()


def test_missing_events() -> None:
    a = {"event_id": 1, "payload": {"n": 1}}
    b = {"event_id": 2, "payload": {"n": 2}}
    c = {"event_id": 3, "payload": {"n": 3}}
    assert missing_events(_doc([a, b]), _doc([b, a, c]), "integrity") == []
    assert missing_events(_doc([a, b]), _doc([a]), "bundle") == ["2 (missing)"]
    assert missing_events(_doc([a, b]), _doc([a, dict(b, payload={"n": 9})]), "bundle") == ["2 (changed)"]
    assert missing_events(_doc([a]), b"{not json", "bundle") == ["1 (missing)"]
    assert missing_events(b"{not json", _doc([]), "bundle") == []
    assert missing_events(json.dumps([a]).encode(), json.dumps([]).encode(), "events") == ["1 (missing)"]
    # key order and whitespace are not a change
    assert (
        missing_events(
            b'{"events":[{"event_id":1,"payload":{"n":1}}]}',
            b'{"events": [{"payload": {"n": 1}, "event_id": 1}]}',
            "bundle",
        )
        == []
    )
