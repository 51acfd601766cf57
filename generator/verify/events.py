"""Open-graph events: identity, classification, and the append-only comparison. No IO here.

This module is the one place for the rules about bundle events (PROTOCOL.md §6):

- **Event identity.** How Pith computes ``event_id`` is not published. The mirror identifies an
  event by the ``event_id`` it carries, and an event without one by the SHA-256 of its canonical
  JSON (marked ``mirror-sha256:``). When Pith publishes the rule, ``event_identity`` is the change.
- **Classification.** A ``record_created`` event is verified like the record itself: its payload
  must be the record and its hash, and the receipt in it must verify with the pinned keyring.
  Every other event is carried verbatim, "not independently verified": which bytes an event
  signature covers is not published. An event that claims a pinned signing key is listed as
  such: its signature is neither valid nor invalid here, because its scheme is unknown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from generator.errors import RecordError
from generator.keyring import Keyring
from generator.strictjson import canonical_json, loads_strict
from generator.verify.outcome import CARRIED, FAILED, NOT_CHECKED, VERIFIED
from generator.verify.record import check_receipt

if TYPE_CHECKING:
    from generator.verify.record import VerifiedRecord

MIRROR_ID_PREFIX = "mirror-sha256:"
RECORD_CREATED = "record_created"
SCHEME_UNKNOWN = "scheme-unknown"  # status of an event that claims a pinned key: neither valid nor invalid

EVENT_ID_RULE = (
    "Pith has not published how event ids are computed: events are identified by the event_id "
    "they carry, or else by the SHA-256 of their canonical JSON."
)


def event_digest(event: Any) -> str:
    """SHA-256 of the event's canonical JSON: 'the same bytes' for the append-only rule."""
    return hashlib.sha256(canonical_json(event)).hexdigest()


def event_identity(event: Any) -> str:
    """The id an event is known by (see ``EVENT_ID_RULE``)."""
    if isinstance(event, Mapping):
        eid = event.get("event_id")
        if isinstance(eid, str) and eid:
            return eid
        if isinstance(eid, int) and not isinstance(eid, bool):
            return str(eid)
    return MIRROR_ID_PREFIX + event_digest(event)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class EventResult:
    index: int
    identity: str
    digest: str
    event_type: str | None
    target: str | None
    created_at: str | None
    signer: str | None  # who the event says signed it (a claim, not verified)
    status: str  # VERIFIED | CARRIED | SCHEME_UNKNOWN | FAILED
    detail: str
    code: str | None = None


def signer_claim(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(key_id, fingerprint) the event claims, from ``signer`` or a top-level key id."""
    signer = event.get("signer")
    if isinstance(signer, Mapping):
        return _text(signer.get("key_id")), _text(signer.get("public_key_fingerprint"))
    return _text(event.get("signing_key_id")) or _text(event.get("key_id")), None


def _signer_label(event: Mapping[str, Any]) -> str | None:
    signer = event.get("signer")
    key_id, _fp = signer_claim(event)
    if isinstance(signer, Mapping):
        who = _text(signer.get("signer_id"))
        if who and key_id:
            return f"{who} ({key_id})"
        return who or key_id
    return key_id


def _claims_pinned_key(event: Mapping[str, Any], keyring: Keyring) -> str | None:
    key_id, fingerprint = signer_claim(event)
    if fingerprint:
        keys = keyring.by_fingerprint(fingerprint)
        if keys:
            return keys[0].key_id
    if key_id and keyring.by_key_id(key_id):
        return key_id
    return None


def check_record_created(
    event: Mapping[str, Any], rec: VerifiedRecord, keyring: Keyring, where: str
) -> tuple[str, str, str | None]:
    """(status, detail, code) for a ``record_created`` event."""
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return FAILED, "record_created has no payload object", "bundle_record_created_mismatch"
    canonical = payload.get("canonical_record")
    if canonical is None or canonical_json(canonical) != canonical_json(rec.canonical):
        return (
            FAILED,
            "payload.canonical_record is not this record's canonical record",
            "bundle_record_created_mismatch",
        )
    if payload.get("canonical_sha256") != rec.canonical_sha256:
        return (
            FAILED,
            f"payload.canonical_sha256 is {str(payload.get('canonical_sha256'))[:64]!r}, "
            f"the record's hash is {rec.canonical_sha256}",
            "bundle_record_created_mismatch",
        )
    try:
        key, _sig, _at = check_receipt(payload, rec.canonical_sha256, keyring, where)
    except RecordError as exc:
        return FAILED, f"receipt: {exc.code}: {exc.detail}", "bundle_receipt_invalid"
    return (
        VERIFIED,
        f"payload is this record and its hash; the receipt verifies with pinned key {key.key_id}",
        None,
    )


def classify_event(index: int, event: Any, rec: VerifiedRecord, keyring: Keyring, where: str) -> EventResult:
    identity, digest = event_identity(event), event_digest(event)
    if not isinstance(event, Mapping):
        return EventResult(
            index,
            identity,
            digest,
            event_type=None,
            target=None,
            created_at=None,
            signer=None,
            status=FAILED,
            detail="the event is not an object",
            code="bundle_malformed",
        )
    event_type, target = _text(event.get("event_type")), _text(event.get("target"))
    created_at, signer = _text(event.get("created_at")), _signer_label(event)

    def result(status: str, detail: str, code: str | None = None) -> EventResult:
        return EventResult(
            index, identity, digest, event_type, target, created_at, signer, status, detail, code
        )

    subject = event.get("subject_pith_number")
    if subject is not None and subject != rec.pith_number:
        return result(
            FAILED, f"subject_pith_number {str(subject)[:80]!r} is another record", "bundle_foreign_event"
        )
    if event_type == RECORD_CREATED:
        status, detail, code = check_record_created(event, rec, keyring, f"{where} events[{index}]")
        if status == VERIFIED:
            detail += "; the event's own signature, if any, follows an unpublished rule"
        return result(status, detail, code)
    claimed = _claims_pinned_key(event, keyring)
    if claimed is not None:
        return result(
            SCHEME_UNKNOWN,
            f"claims pinned key {claimed}, but how event signatures are computed is not published: "
            "the signature is neither valid nor invalid here",
        )
    return result(CARRIED, "carried, not independently verified")


def _events_of(doc: Any, kind: str) -> list[Any]:
    if kind == "events" and isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("events"), list):
        events: list[Any] = doc["events"]
        return events
    return []


def missing_events(old_doc_bytes: bytes, new_doc_bytes: bytes, kind: str) -> list[str]:
    """Events of the old copy that the new copy lacks or changed: '<id> (missing)' / '<id> (changed)'.

    ``kind`` is ``bundle``, ``integrity`` or ``events``. An empty list means the new copy holds
    every event of the old one with the same bytes (canonical JSON), so it may replace it. An old
    copy that is not strict JSON protects nothing; a new copy that is not strict JSON lacks all.
    """
    try:
        old_events = _events_of(loads_strict(old_doc_bytes, "old copy"), kind)
    except RecordError:
        return []
    try:
        new_events = _events_of(loads_strict(new_doc_bytes, "new copy"), kind)
    except RecordError:
        new_events = []
    held: dict[str, set[str]] = {}
    for event in new_events:
        held.setdefault(event_identity(event), set()).add(event_digest(event))
    out: list[str] = []
    for event in old_events:
        identity = event_identity(event)
        if identity not in held:
            problem = f"{identity} (missing)"
        elif event_digest(event) not in held[identity]:
            problem = f"{identity} (changed)"
        else:
            continue
        if problem not in out:
            out.append(problem)
    return out


__all__ = [
    "EVENT_ID_RULE",
    "NOT_CHECKED",
    "SCHEME_UNKNOWN",
    "EventResult",
    "classify_event",
    "event_digest",
    "event_identity",
    "missing_events",
]
