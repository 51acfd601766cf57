"""Checks on fetched endpoint copies, and the append-only rule for mutable documents.

A record's canonical part never changes (it is content-addressed). The other documents of a
record (graph, events, bundle, state, integrity findings) may change, but only by growing: a
newer copy must hold every event an earlier copy held, with the same identity and the same
content. A copy that drops or alters one is refused, and the earlier copy is kept.

No IO here: callers pass bytes and get answers.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable

from generator import paths
from generator.errors import JsonError, ResponseError, VerificationError
from generator.strictjson import loads_strict
from generator.verify.events import missing_events
from generator.verify.record import VerifiedRecord

# the documents that hold events (PROTOCOL.md §5-7); event identity and "the same event" are
# decided in one place, generator.verify.events
EVENT_KINDS = ("record", "events", "bundle", "integrity")


def check_endpoint_copy(kind: str, data: bytes, rec: VerifiedRecord, url: str, max_bytes: int) -> None:
    """An endpoint copy must be strict JSON and, where it names a record, name this one.

    Raises ``ResponseError`` (code ``endpoint_mismatch`` or a strict-JSON code in the detail)
    naming ``url``.
    """
    try:
        doc = loads_strict(data, url, max_bytes=max_bytes)
    except JsonError as exc:
        raise ResponseError("endpoint_mismatch", url, f"{exc.code}: {exc.detail}") from None
    if not isinstance(doc, dict | list):
        raise ResponseError("endpoint_mismatch", url, f"top level is {type(doc).__name__}")
    if not isinstance(doc, dict):
        return
    expect: dict[str, str] = {"canonical_sha256": rec.canonical_sha256}
    if kind == "integrity":
        expect["arxiv_id"] = rec.arxiv_id
    else:
        expect["pith_number"] = rec.pith_number
        expect["short_pith_number"] = rec.short_pith_number
    for field, value in expect.items():
        found = doc.get(field)
        if isinstance(found, str) and found != value:
            raise ResponseError(
                "endpoint_mismatch", url, f"{field} is {found[:80]!r}, the record's is {value!r}"
            )


def state_shrank(old: bytes, new: bytes) -> str | None:
    """A state document whose ``event_count`` went down, described; None otherwise."""
    try:
        old_doc, new_doc = loads_strict(old, "old copy"), loads_strict(new, "new copy")
    except JsonError:
        return None
    if not (isinstance(old_doc, dict) and isinstance(new_doc, dict)):
        return None
    before, after = old_doc.get("event_count"), new_doc.get("event_count")
    if isinstance(before, int) and isinstance(after, int) and after < before:
        return f"event_count fell from {before} to {after}"
    return None


def refusal_reason(kind: str, old: bytes, new: bytes) -> str | None:
    """Why ``new`` may not replace ``old`` (append-only), or None when it may."""
    if old == new:
        return None
    missing = missing_events(old, new, kind) if kind in EVENT_KINDS else []
    if missing:
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        return f"event_dropped: it lacks or changes {len(missing)} event(s) an earlier copy held ({shown})"
    if kind == "state":
        return state_shrank(old, new)
    return None


def growing_outputs(rec: VerifiedRecord) -> dict[str, str]:
    """Site path -> document kind, for the outputs of ``rec`` that may only grow: the record
    copy (its own ``events``), ``events.json`` (fetched, or derived from the record copy: both
    hold their events under ``events``, so either may be compared with either), the bundle,
    the state and the integrity findings."""
    return {
        paths.record_json(rec.suffix): "record",
        paths.events_json(rec.suffix): "events",
        paths.bundle_json(rec.suffix): "bundle",
        paths.state_json(rec.suffix): "state",
        paths.integrity_json(rec.arxiv_id): "integrity",  # the id passed verify_record's pattern
    }


def rolled_back(
    rec: VerifiedRecord, files: Iterable[tuple[str, bytes]], published: Callable[[str], bytes | None]
) -> VerificationError | None:
    """A ``rollback`` error when one of ``files`` (site path, bytes) would replace the published
    copy (``published(path)``: its bytes, or None when nothing is published there) with one that
    drops or changes an event it holds, or a state whose ``event_count`` fell; None otherwise."""
    kinds = growing_outputs(rec)
    for rel, data in files:
        kind = kinds.get(rel)
        if kind is None:
            continue
        old = published(rel)
        if old is None:
            continue
        reason = refusal_reason(kind, old, data)
        if reason is not None:
            return _rollback(
                rec,
                f"{rel}: the published copy holds more than this input's, which would roll it back: {reason}",
            )
    return None


def dropped(
    rec: VerifiedRecord, produced: Container[str], published: Callable[[str], bytes | None]
) -> VerificationError | None:
    """A ``rollback`` error when the live site publishes this record's ``events.json``, bundle
    or state and the build would not (``produced``: the paths it writes for the record),
    because its input has none or one that does not verify; None otherwise. (The integrity
    findings are not asked about here: versions of one paper share them, and another version
    may publish them. The build asks about them once every record is settled, in
    ``summaries.integrity_rollbacks``.)"""
    for rel in (paths.events_json(rec.suffix), paths.bundle_json(rec.suffix), paths.state_json(rec.suffix)):
        if rel not in produced and published(rel) is not None:
            return _rollback(
                rec, f"{rel}: the live site publishes it and this input has no copy that could replace it"
            )
    return None


def _rollback(rec: VerifiedRecord, detail: str) -> VerificationError:
    return VerificationError("rollback", f"{rec.where} ({rec.pith_number})", detail)
