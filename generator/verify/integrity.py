"""``/pith/{arxiv_id}/integrity.json``: signed integrity findings (PROTOCOL.md §7). No IO.

Each ``pith.integrity.v1`` event is signed with Ed25519 over the 32 raw bytes of its
``payload_sha256`` (published, and verified on real events). The keyring is pinned; the event's
``signing_key_id`` is only a hint for which key to try first.

How ``payload_sha256`` is computed from ``payload`` is not published. When
``sha256(canonical_json(payload)) == payload_sha256`` the payload is *bound* to the signature;
otherwise the binding *could not be checked*: neither a failure nor a success, and the page says
that the finding's text is then not covered by the signature.

A finding whose signature fails is shown as failed, never as a finding. The unsigned summary
(``integrity.clean``, counts, ``findings``) is carried and labelled unsigned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from generator.identifiers import HEX64_RE
from generator.keyring import Keyring, PinnedKey, parse_time
from generator.strictjson import canonical_json
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

EVENT_TYPE = "pith.integrity.v1"
BINDING_RULE_NOTE = "binding could not be checked (rule not published)"


@dataclass(frozen=True)
class IntegrityEvent:
    index: int
    event_id: str
    status: str  # VERIFIED (signature) | CARRIED (another event type) | FAILED
    detail: str
    code: str | None
    key_id: str | None  # the pinned key whose signature verified
    bound: bool | None  # payload_sha256 == sha256(canonical_json(payload)); None if not verified
    payload: dict[str, Any] | None  # only for verified events: a failed event is never a finding
    created_at: str | None


@dataclass(frozen=True)
class IntegrityResult:
    result: DocResult
    doc: dict[str, Any] | None
    events: tuple[IntegrityEvent, ...] = ()


def _event_id(event: dict[str, Any], index: int) -> str:
    eid = event.get("event_id")
    if isinstance(eid, int) and not isinstance(eid, bool):
        return str(eid)
    if isinstance(eid, str) and eid:
        return eid[:80]
    return f"#{index}"


def _keys_to_try(keyring: Keyring, hint: Any) -> tuple[list[PinnedKey], bool]:
    hinted = keyring.by_key_id(hint) if isinstance(hint, str) else []
    rest = [k for k in keyring.keys if k not in hinted]
    return hinted + rest, bool(hinted)


def verify_event(index: int, event: Any, arxiv_id: str, keyring: Keyring) -> IntegrityEvent:
    """One integrity event: signature, key window, payload binding, subject."""
    if not isinstance(event, dict):
        return IntegrityEvent(
            index, f"#{index}", FAILED, "not an object", "integrity_event_malformed", None, None, None, None
        )
    eid = _event_id(event, index)
    created = event.get("created_at") if isinstance(event.get("created_at"), str) else None

    def fail(detail: str, code: str) -> IntegrityEvent:
        return IntegrityEvent(index, eid, FAILED, detail, code, None, None, None, created)

    if event.get("event_type") != EVENT_TYPE:
        return IntegrityEvent(
            index,
            eid,
            CARRIED,
            f"event type {str(event.get('event_type'))[:60]!r} has no published rule: carried",
            None,
            None,
            None,
            None,
            created,
        )
    digest = event.get("payload_sha256")
    if not isinstance(digest, str) or HEX64_RE.fullmatch(digest) is None:
        return fail("payload_sha256 is not 64 lower-case hex digits", "integrity_event_malformed")
    sig_b64 = event.get("signature_b64")
    try:
        if not isinstance(sig_b64, str):
            raise ValueError("missing")
        signature = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        return fail("signature_b64 is missing or not base64", "integrity_event_malformed")
    if len(signature) != 64:
        return fail(
            f"signature is {len(signature)} bytes, an Ed25519 signature is 64", "integrity_event_malformed"
        )
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return fail("payload is not an object", "integrity_event_malformed")
    hint = event.get("signing_key_id")
    keys, hinted = _keys_to_try(keyring, hint)
    message = bytes.fromhex(digest)
    when = None
    if created is not None:
        try:
            when = parse_time(created)
        except (ValueError, OverflowError):
            when = None
    verified_by: PinnedKey | None = None
    valid_key: PinnedKey | None = None
    for key in keys:  # the hinted key first; stop at the first that verifies and was valid then
        if key.verify(signature, message):
            verified_by = verified_by or key
            if key.valid_at(when):
                valid_key = key
                break
    if verified_by is None:
        if hinted:
            return fail(
                f"signature over payload_sha256 does not verify with pinned key {str(hint)[:60]}",
                "integrity_bad_signature",
            )
        return fail(
            f"signature verifies with no pinned key (signing_key_id hint {str(hint)[:60]!r})",
            "integrity_unknown_key",
        )
    if valid_key is None:
        return fail(
            f"key {verified_by.key_id} was not valid at the event time {str(created)[:40]!r}",
            "integrity_key_not_valid",
        )
    if payload.get("arxiv_id", arxiv_id) != arxiv_id:
        return fail(
            f"payload is about arXiv {str(payload.get('arxiv_id'))[:40]!r}, not {arxiv_id}",
            "integrity_event_foreign",
        )
    bound = hashlib.sha256(canonical_json(payload)).hexdigest() == digest
    detail = f"Ed25519 signature over payload_sha256 verifies with pinned key {valid_key.key_id}; " + (
        "payload bound (its canonical JSON hashes to payload_sha256)" if bound else BINDING_RULE_NOTE
    )
    return IntegrityEvent(index, eid, VERIFIED, detail, None, valid_key.key_id, bound, payload, created)


def verify_integrity(data: bytes, rec: VerifiedRecord, keyring: Keyring) -> IntegrityResult:
    where = f"{rec.pith_number} integrity.json ({rec.arxiv_id})"
    checks: list[DocCheck] = []
    try:
        doc = parse_document(data, "integrity", where)
        for name in ("arxiv_id", "pith_number"):
            if name in doc and doc[name] != rec.arxiv_id:
                raise Refused(
                    DocCheck(
                        "paper",
                        FAILED,
                        f"{name} {str(doc[name])[:60]!r} is not this record's arXiv id {rec.arxiv_id}",
                        "integrity_foreign_record",
                    )
                )
    except Refused as exc:
        return IntegrityResult(refused("integrity", checks, exc), None)
    if "arxiv_id" in doc:
        checks.append(DocCheck("paper", VERIFIED, f"arxiv_id is this record's ({rec.arxiv_id})"))
    else:
        checks.append(DocCheck("paper", FAILED, "no arxiv_id", "integrity_malformed"))
    if not isinstance(doc.get("integrity"), dict):
        checks.append(DocCheck("integrity", FAILED, "no integrity object", "integrity_malformed"))
    else:
        checks.append(
            DocCheck(
                "summary", CARRIED, "integrity summary, clean flag and findings list are unsigned: carried"
            )
        )
    raw_events = doc.get("events", [])
    if not isinstance(raw_events, list):
        checks.append(DocCheck("events", FAILED, "events is not a list", "integrity_malformed"))
        return IntegrityResult(settle("integrity", checks), doc)
    events = tuple(verify_event(i, e, rec.arxiv_id, keyring) for i, e in enumerate(raw_events))
    for e in events:
        if e.status == FAILED:
            checks.append(DocCheck(f"event {e.event_id}", FAILED, e.detail, e.code))
    dups = sorted(i for i, n in Counter(e.event_id for e in events).items() if n > 1)
    if dups:
        checks.append(
            DocCheck(
                "events",
                FAILED,
                f"event id(s) occur more than once: {', '.join(dups[:10])}",
                "integrity_duplicate_event",
            )
        )
    signed = [e for e in events if e.status == VERIFIED]
    if signed:
        checks.append(
            DocCheck("signatures", VERIFIED, f"{len(signed)} of {len(events)} event signature(s) verify")
        )
        unbound = sum(1 for e in signed if not e.bound)
        if unbound:
            checks.append(
                DocCheck("payload binding", NOT_CHECKED, f"{unbound} event(s): {BINDING_RULE_NOTE}")
            )
        if unbound < len(signed):
            checks.append(
                DocCheck("payload binding", VERIFIED, f"{len(signed) - unbound} event payload(s) bound")
            )
    elif not events:
        checks.append(DocCheck("events", NOT_CHECKED, "no signed events in this file"))
    return IntegrityResult(settle("integrity", checks), doc, events)


__all__ = ["BINDING_RULE_NOTE", "EVENT_TYPE", "IntegrityEvent", "IntegrityResult", "verify_integrity"]
