"""``/pith/{SUFFIX}/state.json``: Pith's merged state, cross-checked against the bundle. No IO.

Pith computes the state with ``pith-open-graph-merge-v1``, which is not published, so the state
cannot be recomputed. What can be checked is that it agrees with the record and the bundle:

- strict JSON, ``state_type``, ``current`` present;
- ``pith_number`` and ``current.canonical_record`` are the record's (else refused, not published);
- ``current.source_aliases`` derive from the record and equal the bundle's ``source_aliases``;
- every ``current.graph_snapshots`` entry is an event of the bundle (same target, payload, and
  event id and time where both carry them);
- the counts are non-negative integers, ``valid + invalid == event_count``, and ``event_count`` is
  the number of distinct events in the bundle.

Without a (published) bundle the cross-checks are "not checked", not failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from generator.strictjson import canonical_json
from generator.verify.bundle import BundleResult, check_derived
from generator.verify.outcome import (
    CARRIED,
    FAILED,
    NOT_CHECKED,
    VERIFIED,
    DocCheck,
    DocResult,
    Refused,
    parse_document,
    refused,
    settle,
)

if TYPE_CHECKING:
    from generator.verify.record import VerifiedRecord

STATE_TYPE = "pith_open_graph_state"
COUNTS = ("event_count", "valid_event_count", "invalid_event_count", "equivocation_count")


def _alias_set(aliases: Any) -> list[bytes]:
    return sorted(canonical_json(a) for a in aliases) if isinstance(aliases, list) else []


def same_event(snapshot: Mapping[str, Any], event: Any) -> bool:
    """A bundle event is the state's snapshot: same target and payload; same id and time if both say."""
    if not isinstance(event, Mapping):
        return False
    if "payload" not in event or "payload" not in snapshot:
        return False
    if event.get("target") != snapshot.get("target"):
        return False
    if canonical_json(event["payload"]) != canonical_json(snapshot["payload"]):
        return False
    return all(
        not (name in event and name in snapshot)
        or canonical_json(event[name]) == canonical_json(snapshot[name])
        for name in ("event_id", "created_at")
    )


def verify_state(data: bytes, rec: VerifiedRecord, bundle: BundleResult | None) -> DocResult:
    where = f"{rec.pith_number} state.json"
    checks: list[DocCheck] = []
    try:
        doc = parse_document(data, "state", where)
        if doc.get("pith_number", rec.pith_number) != rec.pith_number:
            raise Refused(
                DocCheck(
                    "record",
                    FAILED,
                    f"pith_number {str(doc['pith_number'])[:80]!r} is another record",
                    "state_foreign_record",
                )
            )
        current = doc.get("current")
        canonical = current.get("canonical_record") if isinstance(current, dict) else None
        if canonical is not None and canonical_json(canonical) != canonical_json(rec.canonical):
            raise Refused(
                DocCheck(
                    "record",
                    FAILED,
                    "current.canonical_record is not this record's canonical record",
                    "state_foreign_record",
                )
            )
    except Refused as exc:
        return refused("state", checks, exc)

    if doc.get("state_type") != STATE_TYPE:
        checks.append(
            DocCheck(
                "state_type",
                FAILED,
                f"state_type is {str(doc.get('state_type'))[:40]!r}, expected {STATE_TYPE!r}",
                "state_malformed",
            )
        )
    if not isinstance(current, dict) or canonical is None:
        checks.append(DocCheck("current", FAILED, "no current.canonical_record", "state_malformed"))
        return settle("state", checks)
    checks.append(DocCheck("canonical record", VERIFIED, "current.canonical_record is this record's"))
    checks.append(
        DocCheck(
            "merge",
            CARRIED,
            f"merged by Pith with {str(doc.get('merge_version'))[:60]!r}, which is not published: "
            "the state is carried and cross-checked, not recomputed",
        )
    )
    have_bundle = bundle is not None and bundle.doc is not None
    bundle_doc: dict[str, Any] = bundle.doc if bundle is not None and bundle.doc is not None else {}

    # aliases
    aliases = current.get("source_aliases")
    if not isinstance(aliases, list):
        checks.append(DocCheck("aliases", FAILED, "no current.source_aliases list", "state_malformed"))
    else:
        derived = check_derived(rec, {}, aliases, where, "state_alias_mismatch", "aliases")
        checks.append(derived)
        if not have_bundle:
            checks.append(DocCheck("aliases", NOT_CHECKED, "no bundle to compare with"))
        elif _alias_set(aliases) == _alias_set(bundle_doc.get("source_aliases")):
            checks.append(DocCheck("aliases", VERIFIED, "the same as the bundle's source_aliases"))
        else:
            checks.append(
                DocCheck("aliases", FAILED, "differ from the bundle's source_aliases", "state_alias_mismatch")
            )

    # graph snapshots
    snapshots = current.get("graph_snapshots", [])
    bundle_events = bundle_doc.get("events") if isinstance(bundle_doc.get("events"), list) else []
    assert isinstance(bundle_events, list)
    if not isinstance(snapshots, list) or not all(isinstance(s, dict) for s in snapshots):
        checks.append(
            DocCheck("graph snapshots", FAILED, "graph_snapshots is not a list of objects", "state_malformed")
        )
        snapshots = []
    elif not have_bundle:
        checks.append(DocCheck("graph snapshots", NOT_CHECKED, "no bundle to compare with"))
    else:
        missing = [i for i, s in enumerate(snapshots) if not any(same_event(s, e) for e in bundle_events)]
        if missing:
            checks.append(
                DocCheck(
                    "graph snapshots",
                    FAILED,
                    f"{len(missing)} of {len(snapshots)} graph snapshot(s) are not events of the bundle "
                    f"(index {', '.join(map(str, missing[:10]))})",
                    "state_snapshot_missing",
                )
            )
        else:
            checks.append(
                DocCheck(
                    "graph snapshots",
                    VERIFIED,
                    f"all {len(snapshots)} graph snapshot(s) are events of the bundle",
                )
            )

    # counts
    counts = {name: doc.get(name) for name in COUNTS}
    bad = [n for n, v in counts.items() if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0)]
    if bad:
        checks.append(
            DocCheck("counts", FAILED, f"{', '.join(bad)} not non-negative integers", "state_malformed")
        )
        return settle("state", checks)
    total, valid, invalid = counts["event_count"], counts["valid_event_count"], counts["invalid_event_count"]
    assert isinstance(total, int) and isinstance(valid, int) and isinstance(invalid, int)
    problems = []
    if valid + invalid != total:
        problems.append(f"valid {valid} + invalid {invalid} != event_count {total}")
    if len(snapshots) > valid:
        problems.append(f"{len(snapshots)} graph snapshot(s) but only {valid} valid event(s)")
    if have_bundle and bundle is not None and bundle.view is not None and bundle.view.event_count != total:
        problems.append(f"event_count {total}, the bundle holds {bundle.view.event_count} distinct event(s)")
    if problems:
        checks.append(DocCheck("counts", FAILED, "; ".join(problems), "state_count_mismatch"))
    else:
        detail = f"event_count {total} = valid {valid} + invalid {invalid}"
        checks.append(
            DocCheck("counts", VERIFIED, detail + (" = events in the bundle" if have_bundle else ""))
        )
        if not have_bundle:
            checks.append(DocCheck("counts", NOT_CHECKED, "no bundle to count events in"))
    return settle("state", checks)


__all__ = ["STATE_TYPE", "same_event", "verify_state"]
