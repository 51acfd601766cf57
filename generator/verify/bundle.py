"""``/pith/{SUFFIX}/bundle.json``: the open-graph bundle of a verified record (PROTOCOL.md §6). No IO.

What is checked, each against the record the bundle belongs to:

- strict JSON, ``bundle_type``, ``canonical_record`` and ``events`` present (else refused / failed);
- ``canonical_record`` and ``pith_number`` are the record's (else the bundle claims to be another
  record: refused, not published);
- ``canonical_sha256`` is the record's hash; ``short_pith_number`` and ``source`` derive;
- every ``source_aliases`` entry of a published kind derives from the record (PROTOCOL §1);
- exactly the events rules of ``verify.events``: the ``record_created`` event verified like the
  record, every other event carried;
- no event occurs twice, no two different events share an id (``merge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from generator.errors import RecordError
from generator.keyring import Keyring
from generator.merge import MirrorView, merge_events
from generator.strictjson import canonical_json
from generator.verify.events import RECORD_CREATED, SCHEME_UNKNOWN, EventResult, classify_event
from generator.verify.outcome import (
    CARRIED,
    DOC_REFUSED,
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
from generator.verify.record import check_identifiers

if TYPE_CHECKING:
    from generator.verify.record import VerifiedRecord

BUNDLE_TYPE = "pith_open_graph_bundle"


@dataclass(frozen=True)
class BundleResult:
    result: DocResult
    doc: dict[str, Any] | None  # parsed bundle; None when refused
    events: tuple[EventResult, ...] = ()
    view: MirrorView | None = None


def check_derived(
    rec: VerifiedRecord, doc: dict[str, Any], aliases: Any, where: str, code: str, what: str
) -> DocCheck:
    """Reuse the record's identifier rules on a document's own pith number, source and aliases."""
    shim: dict[str, Any] = {"canonical_record": rec.canonical}
    for name in ("pith_number", "short_pith_number", "source"):
        if name in doc:
            shim[name] = doc[name]
    if aliases is not None:
        shim["aliases"] = aliases
    try:
        checks = check_identifiers(shim, rec.canonical_sha256, rec.arxiv_id, rec.version, where)
    except RecordError as exc:
        return DocCheck(what, FAILED, f"{exc.code}: {exc.detail}", code)
    unknown = [c for c in checks if c.status == NOT_CHECKED]
    detail = "derive from the record"
    if unknown:
        detail += "; " + unknown[0].detail
    return DocCheck(what, VERIFIED, detail)


def _ids(ids: tuple[str, ...]) -> str:
    return ", ".join(ids[:5])[:300]


def verify_bundle(data: bytes, rec: VerifiedRecord, keyring: Keyring) -> BundleResult:
    where = f"{rec.pith_number} bundle.json"
    checks: list[DocCheck] = []
    try:
        doc = parse_document(data, "bundle", where)
        if doc.get("pith_number", rec.pith_number) != rec.pith_number:
            raise Refused(
                DocCheck(
                    "record",
                    FAILED,
                    f"pith_number {str(doc['pith_number'])[:80]!r} is another record",
                    "bundle_foreign_record",
                )
            )
        canonical = doc.get("canonical_record")
        if canonical is not None and canonical_json(canonical) != canonical_json(rec.canonical):
            raise Refused(
                DocCheck(
                    "record",
                    FAILED,
                    "canonical_record is not this record's canonical record",
                    "bundle_foreign_record",
                )
            )
    except Refused as exc:
        return BundleResult(refused("bundle", checks, exc), None)

    if doc.get("bundle_type") != BUNDLE_TYPE:
        checks.append(
            DocCheck(
                "bundle_type",
                FAILED,
                f"bundle_type is {str(doc.get('bundle_type'))[:40]!r}, expected {BUNDLE_TYPE!r}",
                "bundle_malformed",
            )
        )
    if canonical is None:
        checks.append(DocCheck("canonical_record", FAILED, "no canonical_record", "bundle_malformed"))
    else:
        checks.append(DocCheck("canonical_record", VERIFIED, "is this record's canonical record"))
    if doc.get("canonical_sha256") == rec.canonical_sha256:
        checks.append(DocCheck("canonical_sha256", VERIFIED, "is this record's hash"))
    else:
        checks.append(
            DocCheck(
                "canonical_sha256",
                FAILED,
                f"is {str(doc.get('canonical_sha256'))[:64]!r}, the record's hash is {rec.canonical_sha256}",
                "bundle_hash_mismatch",
            )
        )
    checks.append(
        check_derived(
            rec, doc, None, where, "bundle_identifier_mismatch", "pith_number, short_pith_number, source"
        )
    )
    aliases = doc.get("source_aliases")
    if isinstance(aliases, list):
        only_aliases = {
            k: v for k, v in doc.items() if k not in ("pith_number", "short_pith_number", "source")
        }
        checks.append(
            check_derived(rec, only_aliases, aliases, where, "bundle_alias_mismatch", "source_aliases")
        )
    else:
        checks.append(DocCheck("source_aliases", FAILED, "no source_aliases list", "bundle_malformed"))

    raw_events = doc.get("events")
    if not isinstance(raw_events, list):
        checks.append(DocCheck("events", FAILED, "no events list", "bundle_malformed"))
        return BundleResult(settle("bundle", checks), doc)
    events = tuple(classify_event(i, e, rec, keyring, where) for i, e in enumerate(raw_events))
    created = [e for e in events if e.event_type == RECORD_CREATED]
    if not created:
        checks.append(
            DocCheck(
                "record_created", FAILED, "the bundle has no record_created event", "bundle_no_record_created"
            )
        )
    for e in created:
        checks.append(DocCheck(f"record_created (event {e.index})", e.status, e.detail, e.code))
    for e in events:
        if e.status == FAILED and e.event_type != RECORD_CREATED:
            checks.append(DocCheck(f"event {e.index}", FAILED, e.detail, e.code))
    view = merge_events(raw_events, [e.digest for e in events if e.status == FAILED])
    if view.duplicates:
        checks.append(
            DocCheck(
                "events",
                FAILED,
                f"{len(view.duplicates)} event(s) occur more than once: {_ids(view.duplicates)}",
                "bundle_duplicate_event",
            )
        )
    if view.conflicts:
        checks.append(
            DocCheck(
                "events",
                FAILED,
                f"{len(view.conflicts)} event id(s) name different events: {_ids(view.conflicts)}",
                "bundle_equivocation",
            )
        )
    carried = sum(1 for e in events if e.status in (CARRIED, SCHEME_UNKNOWN))
    if carried:
        claims = sum(1 for e in events if e.status == SCHEME_UNKNOWN)
        checks.append(
            DocCheck(
                "other events",
                CARRIED,
                f"{carried} event(s) carried, not independently verified ({claims} claim a pinned key): "
                "Pith has not published how event ids and event signatures are computed",
            )
        )
    return BundleResult(settle("bundle", checks), doc, events, view)


__all__ = ["BUNDLE_TYPE", "DOC_REFUSED", "BundleResult", "verify_bundle"]
