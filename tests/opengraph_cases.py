"""Named open-graph fixtures: one file per failure mode, written to tests/fixtures/opengraph/.

Regenerate (Ed25519 signatures are deterministic, so the bytes do not change unless a case does):

    python -m tests.opengraph_cases
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.synth import (
    TestKey,
    dump_doc,
    dump_record,
    make_bundle,
    make_finding,
    make_integrity,
    make_record,
    make_state,
    sign_integrity_event,
)

HERE = Path(__file__).resolve().parent / "fixtures" / "opengraph"
KEY = TestKey.from_seed(b"pith-mirror open-graph fixtures", "og-test-key")
OTHER = TestKey.from_seed(b"an unpinned key", "og-test-key")
ARXIV = "2604.20237"
RECORD = make_record(KEY, arxiv_id=ARXIV, title="Open graph fixtures", signed_at="2026-05-18T01:16:39Z")
FOREIGN = make_record(KEY, arxiv_id="2604.00001", title="Another paper", signed_at="2026-05-18T01:16:39Z")


def _bundle() -> dict[str, Any]:
    return make_bundle(KEY, RECORD, graph_snapshots=2)


def _integrity() -> dict[str, Any]:
    return make_integrity(
        KEY,
        ARXIV,
        [make_finding(ARXIV, severity="critical"), make_finding(ARXIV, ref_index=2, note="Second.")],
    )


def _flip(b64: str) -> str:
    return ("A" if b64[0] != "A" else "B") + b64[1:]


Case = tuple[str, Callable[[], bytes], str, list[str]]  # (document, bytes, status, codes)


def _b(edit: Callable[[dict[str, Any]], object]) -> Callable[[], bytes]:
    def make() -> bytes:
        doc = _bundle()
        edit(doc)
        return dump_doc(doc)

    return make


def _s(edit: Callable[[dict[str, Any], dict[str, Any]], object]) -> Callable[[], bytes]:
    """Edit (state, bundle); the bundle given to the state check is always the valid one."""

    def make() -> bytes:
        bundle = _bundle()
        state = make_state(bundle)
        edit(state, bundle)
        return dump_doc(state)

    return make


def _i(edit: Callable[[dict[str, Any]], object]) -> Callable[[], bytes]:
    def make() -> bytes:
        doc = _integrity()
        edit(doc)
        return dump_doc(doc)

    return make


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _forged_receipt(b: dict[str, Any]) -> None:
    receipt = b["events"][0]["payload"]["receipt"]
    receipt["signature_b64"] = OTHER.sign_hash(RECORD["canonical_sha256"])
    receipt["public_key_fingerprint"] = OTHER.fingerprint


def _sig_over_hex(b: dict[str, Any]) -> None:
    sig = KEY.private.sign(RECORD["canonical_sha256"].encode())
    import base64

    b["events"][0]["payload"]["receipt"]["signature_b64"] = base64.b64encode(sig).decode()


def _foreign_integrity_event(d: dict[str, Any]) -> None:
    d["events"].append(sign_integrity_event(KEY, make_finding("2604.11111"), 500))


def _unpinned_integrity_event(d: dict[str, Any]) -> None:
    event = sign_integrity_event(OTHER, make_finding(ARXIV, ref_index=9), 501)
    event["signing_key_id"] = "someone-else"
    d["events"].append(event)


def _hinted_but_unpinned(d: dict[str, Any]) -> None:
    d["events"].append(sign_integrity_event(OTHER, make_finding(ARXIV, ref_index=8), 502))


CASES: dict[str, Case] = {
    # bundles
    "bundle-valid": ("bundle", _b(lambda b: None), "verified", []),
    "bundle-reordered": ("bundle", _b(lambda b: b["events"].reverse()), "verified", []),
    "bundle-not-strict-json": (
        "bundle",
        lambda: dump_doc(_bundle())[:-1] + b',"events":[]}',
        "refused",
        ["bundle_invalid_json"],
    ),
    "bundle-truncated": ("bundle", lambda: dump_doc(_bundle())[:500], "refused", ["bundle_invalid_json"]),
    "bundle-foreign-record": (
        "bundle",
        lambda: dump_doc(make_bundle(KEY, FOREIGN)),
        "refused",
        ["bundle_foreign_record"],
    ),
    "bundle-foreign-pith-number": (
        "bundle",
        _b(lambda b: b.update(pith_number=FOREIGN["pith_number"])),
        "refused",
        ["bundle_foreign_record"],
    ),
    "bundle-hash": (
        "bundle",
        _b(lambda b: b.update(canonical_sha256="0" * 64)),
        "failed",
        ["bundle_hash_mismatch"],
    ),
    "bundle-short-number": (
        "bundle",
        _b(lambda b: b.update(short_pith_number="pith:AAAAAAAA")),
        "failed",
        ["bundle_identifier_mismatch"],
    ),
    "bundle-source": (
        "bundle",
        _b(lambda b: b["source"].update(version=2)),
        "failed",
        ["bundle_identifier_mismatch"],
    ),
    "bundle-alias": (
        "bundle",
        _b(lambda b: _set(b, ["source_aliases", 2, "alias_value"], "10.48550/arxiv.9999.99999")),
        "failed",
        ["bundle_alias_mismatch"],
    ),
    "bundle-no-aliases": ("bundle", _b(lambda b: b.pop("source_aliases")), "failed", ["bundle_malformed"]),
    "bundle-type": (
        "bundle",
        _b(lambda b: b.update(bundle_type="pith_other")),
        "failed",
        ["bundle_malformed"],
    ),
    "bundle-events-not-list": ("bundle", _b(lambda b: b.update(events={})), "failed", ["bundle_malformed"]),
    "bundle-event-not-object": (
        "bundle",
        _b(lambda b: b["events"].append("event")),
        "failed",
        ["bundle_malformed"],
    ),
    "bundle-record-created-dropped": (
        "bundle",
        _b(lambda b: b["events"].pop(0)),
        "failed",
        ["bundle_no_record_created"],
    ),
    "bundle-record-created-payload": (
        "bundle",
        _b(lambda b: _set(b, ["events", 0, "payload", "canonical_record", "metadata", "license"], "")),
        "failed",
        ["bundle_record_created_mismatch"],
    ),
    "bundle-record-created-hash": (
        "bundle",
        _b(lambda b: _set(b, ["events", 0, "payload", "canonical_sha256"], "1" * 64)),
        "failed",
        ["bundle_record_created_mismatch"],
    ),
    "bundle-record-created-no-payload": (
        "bundle",
        _b(lambda b: b["events"][0].pop("payload")),
        "failed",
        ["bundle_record_created_mismatch"],
    ),
    "bundle-receipt-signature": (
        "bundle",
        _b(
            lambda b: _set(
                b,
                ["events", 0, "payload", "receipt", "signature_b64"],
                _flip(b["events"][0]["payload"]["receipt"]["signature_b64"]),
            )
        ),
        "failed",
        ["bundle_receipt_invalid"],
    ),
    "bundle-receipt-missing": (
        "bundle",
        _b(lambda b: b["events"][0]["payload"].pop("receipt")),
        "failed",
        ["bundle_receipt_invalid"],
    ),
    "bundle-receipt-unpinned-key": ("bundle", _b(_forged_receipt), "failed", ["bundle_receipt_invalid"]),
    "bundle-receipt-over-hex-text": ("bundle", _b(_sig_over_hex), "failed", ["bundle_receipt_invalid"]),
    "bundle-duplicated-event": (
        "bundle",
        _b(lambda b: b["events"].append(copy.deepcopy(b["events"][1]))),
        "failed",
        ["bundle_duplicate_event"],
    ),
    "bundle-equivocation": (
        "bundle",
        _b(
            lambda b: b["events"].append(
                dict(copy.deepcopy(b["events"][1]), created_at="2027-01-01T00:00:00Z")
            )
        ),
        "failed",
        ["bundle_equivocation"],
    ),
    "bundle-foreign-event": (
        "bundle",
        _b(lambda b: _set(b, ["events", 2, "subject_pith_number"], FOREIGN["pith_number"])),
        "failed",
        ["bundle_foreign_event"],
    ),
    # states (checked against the valid bundle)
    "state-valid": ("state", _s(lambda s, b: None), "verified", []),
    "state-not-strict-json": ("state", lambda: b'{"state_type":NaN}', "refused", ["state_invalid_json"]),
    "state-foreign-record": (
        "state",
        lambda: dump_doc(make_state(make_bundle(KEY, FOREIGN))),
        "refused",
        ["state_foreign_record"],
    ),
    "state-foreign-canonical": (
        "state",
        _s(lambda s, b: _set(s, ["current", "canonical_record"], FOREIGN["canonical_record"])),
        "refused",
        ["state_foreign_record"],
    ),
    "state-type": ("state", _s(lambda s, b: s.update(state_type="x")), "failed", ["state_malformed"]),
    "state-no-current": ("state", _s(lambda s, b: s.pop("current")), "failed", ["state_malformed"]),
    "state-negative-count": (
        "state",
        _s(lambda s, b: s.update(invalid_event_count=-1)),
        "failed",
        ["state_malformed"],
    ),
    "state-count-bool": (
        "state",
        _s(lambda s, b: s.update(equivocation_count=False)),
        "failed",
        ["state_malformed"],
    ),
    "state-snapshots-not-list": (
        "state",
        _s(lambda s, b: _set(s, ["current", "graph_snapshots"], {})),
        "failed",
        ["state_malformed"],
    ),
    "state-event-count": (
        "state",
        _s(lambda s, b: s.update(event_count=4, valid_event_count=4)),
        "failed",
        ["state_count_mismatch"],
    ),
    "state-valid-plus-invalid": (
        "state",
        _s(lambda s, b: s.update(invalid_event_count=1)),
        "failed",
        ["state_count_mismatch"],
    ),
    "state-snapshot-payload": (
        "state",
        _s(
            lambda s, b: _set(
                s, ["current", "graph_snapshots", 0, "payload", "graph_snapshot", "claims", "count"], 7
            )
        ),
        "failed",
        ["state_snapshot_missing"],
    ),
    "state-snapshot-event-id": (
        "state",
        _s(lambda s, b: _set(s, ["current", "graph_snapshots", 1, "event_id"], "sha256:" + "0" * 64)),
        "failed",
        ["state_snapshot_missing"],
    ),
    "state-alias-dropped": (
        "state",
        _s(lambda s, b: s["current"]["source_aliases"].pop()),
        "failed",
        ["state_alias_mismatch"],
    ),
    "state-alias-time": (
        "state",
        _s(lambda s, b: _set(s, ["current", "source_aliases", 0, "created_at"], "2030-01-01T00:00:00Z")),
        "failed",
        ["state_alias_mismatch"],
    ),
    "state-alias-derive": (
        "state",
        _s(lambda s, b: _set(s, ["current", "source_aliases", 0, "alias_value"], "2604.99999")),
        "failed",
        ["state_alias_mismatch"],
    ),
    # integrity files
    "integrity-valid": ("integrity", _i(lambda d: None), "verified", []),
    "integrity-reordered": ("integrity", _i(lambda d: d["events"].reverse()), "verified", []),
    "integrity-payload-unbound": (
        "integrity",
        _i(lambda d: _set(d, ["events", 0, "payload", "severity"], "informational")),
        "verified",
        [],
    ),
    "integrity-not-strict-json": (
        "integrity",
        lambda: b'{"arxiv_id":"2604.20237","arxiv_id":"2604.20237"}',
        "refused",
        ["integrity_invalid_json"],
    ),
    "integrity-foreign-paper": (
        "integrity",
        lambda: dump_doc(make_integrity(KEY, "2604.00001", [])),
        "refused",
        ["integrity_foreign_record"],
    ),
    "integrity-foreign-pith-number": (
        "integrity",
        _i(lambda d: d.update(pith_number="2604.00001")),
        "refused",
        ["integrity_foreign_record"],
    ),
    "integrity-no-arxiv-id": (
        "integrity",
        _i(lambda d: d.pop("arxiv_id")),
        "failed",
        ["integrity_malformed"],
    ),
    "integrity-no-summary": (
        "integrity",
        _i(lambda d: d.pop("integrity")),
        "failed",
        ["integrity_malformed"],
    ),
    "integrity-events-not-list": (
        "integrity",
        _i(lambda d: d.update(events="none")),
        "failed",
        ["integrity_malformed"],
    ),
    "integrity-signature": (
        "integrity",
        _i(lambda d: _set(d, ["events", 1, "signature_b64"], _flip(d["events"][1]["signature_b64"]))),
        "failed",
        ["integrity_bad_signature"],
    ),
    "integrity-hash": (
        "integrity",
        _i(lambda d: _set(d, ["events", 1, "payload_sha256"], "0" * 64)),
        "failed",
        ["integrity_bad_signature"],
    ),
    "integrity-unknown-key": (
        "integrity",
        _i(_unpinned_integrity_event),
        "failed",
        ["integrity_unknown_key"],
    ),
    "integrity-hinted-key-wrong": (
        "integrity",
        _i(_hinted_but_unpinned),
        "failed",
        ["integrity_bad_signature"],
    ),
    "integrity-signature-not-base64": (
        "integrity",
        _i(lambda d: _set(d, ["events", 0, "signature_b64"], "@@@")),
        "failed",
        ["integrity_event_malformed"],
    ),
    "integrity-signature-short": (
        "integrity",
        _i(lambda d: _set(d, ["events", 0, "signature_b64"], "AAAA")),
        "failed",
        ["integrity_event_malformed"],
    ),
    "integrity-hash-not-hex": (
        "integrity",
        _i(lambda d: _set(d, ["events", 0, "payload_sha256"], "Z" * 64)),
        "failed",
        ["integrity_event_malformed"],
    ),
    "integrity-payload-not-object": (
        "integrity",
        _i(lambda d: _set(d, ["events", 0, "payload"], [])),
        "failed",
        ["integrity_event_malformed"],
    ),
    "integrity-event-foreign": (
        "integrity",
        _i(_foreign_integrity_event),
        "failed",
        ["integrity_event_foreign"],
    ),
    "integrity-duplicated-event": (
        "integrity",
        _i(lambda d: d["events"].append(copy.deepcopy(d["events"][0]))),
        "failed",
        ["integrity_duplicate_event"],
    ),
    "integrity-key-not-yet-valid": ("integrity", _i(lambda d: None), "failed", ["integrity_key_not_valid"]),
}
# cases checked with another keyring than keyring.json
KEYRINGS = {"integrity-key-not-yet-valid": "keyring-from-2027.json"}


def build() -> dict[str, bytes]:
    """relative file name -> bytes of every fixture."""
    files = {
        "record.json": dump_record(RECORD),
        "keyring.json": KEY.keyring_json(),
        "keyring-from-2027.json": KEY.keyring_json(not_before="2027-01-01T00:00:00Z"),
        "bundle-for-state.json": dump_doc(_bundle()),
    }
    index: dict[str, dict[str, Any]] = {}
    for name, (document, make, status, codes) in CASES.items():
        files[f"{name}.json"] = make()
        index[name] = {"document": document, "status": status, "codes": codes}
        if name in KEYRINGS:
            index[name]["keyring"] = KEYRINGS[name]
    files["cases.json"] = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    return files


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for rel, data in build().items():
        (HERE / rel).write_bytes(data)


if __name__ == "__main__":
    main()
