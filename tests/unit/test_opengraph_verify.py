"""Bundle, state and integrity checks: each tampering ends in its documented status and code."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from generator.errors import CODES
from generator.keyring import PITH_KEY, Keyring, PinnedKey
from generator.sources import RawRecord
from generator.synth import (
    TestKey as SigningKey,
)
from generator.synth import (
    dump_record,
    make_bundle,
    make_finding,
    make_integrity,
    make_record,
    make_state,
    sign_integrity_event,
)
from generator.verify import VerifiedRecord, verify_record
from generator.verify.bundle import verify_bundle
from generator.verify.events import SCHEME_UNKNOWN
from generator.verify.integrity import verify_event, verify_integrity
from generator.verify.opengraph import verify_open_graph
from generator.verify.outcome import CARRIED, DOC_FAILED, DOC_REFUSED, DOC_VERIFIED, FAILED, VERIFIED
from generator.verify.state import verify_state
from tests.conftest import FIXTURES


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def keyring(test_key: SigningKey) -> Keyring:
    return Keyring([PITH_KEY, PinnedKey(test_key.key_id, test_key.public_bytes)])


@pytest.fixture(scope="module")
def record(test_key: SigningKey) -> dict[str, Any]:
    return make_record(test_key, arxiv_id="2604.20237", title="An open graph")


@pytest.fixture(scope="module")
def rec(record: dict[str, Any], keyring: Keyring) -> VerifiedRecord:
    return verify_record(RawRecord(dump_record(record), "test"), keyring)


@pytest.fixture
def bundle(test_key: SigningKey, record: dict[str, Any]) -> dict[str, Any]:
    return make_bundle(test_key, record, graph_snapshots=2)


# -- bundle ---------------------------------------------------------------------------------
def test_valid_bundle_verifies(bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring) -> None:
    out = verify_bundle(dumps(bundle), rec, keyring)
    assert out.result.status == DOC_VERIFIED, out.result.checks
    assert out.result.codes == ()
    statuses = [e.status for e in out.events]
    assert statuses == [VERIFIED, SCHEME_UNKNOWN, SCHEME_UNKNOWN]
    assert "neither valid nor invalid" in out.events[1].detail
    assert any(c.status == CARRIED for c in out.result.checks)
    assert out.view is not None and out.view.event_count == 3


def test_event_without_known_key_is_carried(
    bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    del bundle["events"][1]["signer"]
    out = verify_bundle(dumps(bundle), rec, keyring)
    assert out.events[1].status == CARRIED
    assert out.events[1].detail == "carried, not independently verified"
    assert out.result.status == DOC_VERIFIED


def _tamper_payload(b: dict[str, Any]) -> None:
    b["events"][0]["payload"]["canonical_record"]["metadata"]["primary_cat"] = "cs.AI"


def _tamper_signature(b: dict[str, Any]) -> None:
    sig = b["events"][0]["payload"]["receipt"]["signature_b64"]
    b["events"][0]["payload"]["receipt"]["signature_b64"] = ("A" if sig[0] != "A" else "B") + sig[1:]


def _tamper_hash(b: dict[str, Any]) -> None:
    b["canonical_sha256"] = "0" * 64


def _tamper_alias(b: dict[str, Any]) -> None:
    b["source_aliases"][0]["alias_value"] = "2604.99999"


def _drop_created(b: dict[str, Any]) -> None:
    del b["events"][0]


def _duplicate(b: dict[str, Any]) -> None:
    b["events"].append(copy.deepcopy(b["events"][1]))


def _equivocate(b: dict[str, Any]) -> None:
    twin = copy.deepcopy(b["events"][1])
    twin["payload"]["graph_snapshot"]["claims"]["count"] = 99
    b["events"].append(twin)


def _foreign_event(b: dict[str, Any]) -> None:
    b["events"][1]["subject_pith_number"] = "pith:2026:AAAAAAAAAAAAAAAAAAAAAAAAAA"


def _created_hash(b: dict[str, Any]) -> None:
    b["events"][0]["payload"]["canonical_sha256"] = "1" * 64


def _short(b: dict[str, Any]) -> None:
    b["short_pith_number"] = "pith:AAAAAAAA"


def _bundle_type(b: dict[str, Any]) -> None:
    b["bundle_type"] = "something_else"


def _event_not_object(b: dict[str, Any]) -> None:
    b["events"].append(["not", "an", "event"])


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_tamper_payload, "bundle_record_created_mismatch"),
        (_created_hash, "bundle_record_created_mismatch"),
        (_tamper_signature, "bundle_receipt_invalid"),
        (_tamper_hash, "bundle_hash_mismatch"),
        (_tamper_alias, "bundle_alias_mismatch"),
        (_short, "bundle_identifier_mismatch"),
        (_drop_created, "bundle_no_record_created"),
        (_duplicate, "bundle_duplicate_event"),
        (_equivocate, "bundle_equivocation"),
        (_foreign_event, "bundle_foreign_event"),
        (_bundle_type, "bundle_malformed"),
        (_event_not_object, "bundle_malformed"),
    ],
)
def test_tampered_bundle_fails_with_code(
    tamper: Any, code: str, bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    tamper(bundle)
    out = verify_bundle(dumps(bundle), rec, keyring)
    assert out.result.status == DOC_FAILED
    assert code in out.result.codes
    assert code in CODES
    assert out.result.publish


def test_receipt_signature_detail_names_underlying_code(
    bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    _tamper_signature(bundle)
    out = verify_bundle(dumps(bundle), rec, keyring)
    [check] = [c for c in out.result.checks if c.code == "bundle_receipt_invalid"]
    assert "bad_signature" in check.detail


def test_reordered_bundle_still_verifies(
    bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    first = verify_bundle(dumps(bundle), rec, keyring)
    bundle["events"].reverse()
    out = verify_bundle(dumps(bundle), rec, keyring)
    assert out.result.status == DOC_VERIFIED
    assert out.view == first.view


def test_foreign_bundle_is_refused(test_key: SigningKey, rec: VerifiedRecord, keyring: Keyring) -> None:
    other = make_record(test_key, arxiv_id="2604.00001", title="Another paper")
    out = verify_bundle(dumps(make_bundle(test_key, other)), rec, keyring)
    assert out.result.status == DOC_REFUSED
    assert out.result.codes == ("bundle_foreign_record",)
    assert not out.result.publish


def test_bundle_not_strict_json_is_refused(
    bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    data = dumps(bundle)[:-1] + b',"events":[]}'
    out = verify_bundle(data, rec, keyring)
    assert out.result.status == DOC_REFUSED
    assert out.result.codes == ("bundle_invalid_json",)
    assert "duplicate_key" in out.result.checks[-1].detail


def test_receipt_by_unpinned_key_fails(
    other_key: SigningKey, record: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    forged = copy.deepcopy(record)
    forged["receipt"]["signature_b64"] = other_key.sign_hash(record["canonical_sha256"])
    forged["receipt"]["public_key_fingerprint"] = other_key.fingerprint
    out = verify_bundle(dumps(make_bundle(other_key, forged)), rec, keyring)
    assert "bundle_receipt_invalid" in out.result.codes
    assert any("unknown_key" in c.detail for c in out.result.checks)


# -- state ----------------------------------------------------------------------------------
def test_valid_state_cross_checks(bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring) -> None:
    b = verify_bundle(dumps(bundle), rec, keyring)
    out = verify_state(dumps(make_state(bundle)), rec, b)
    assert out.status == DOC_VERIFIED, out.checks
    names = {c.name for c in out.checks if c.status == VERIFIED}
    assert {"canonical record", "aliases", "graph snapshots", "counts"} <= names


def test_state_without_bundle_is_not_checked(bundle: dict[str, Any], rec: VerifiedRecord) -> None:
    out = verify_state(dumps(make_state(bundle)), rec, None)
    assert out.status == DOC_VERIFIED
    assert [c.name for c in out.checks if c.status == "not-checked"] == [
        "aliases",
        "graph snapshots",
        "counts",
    ]


def _state_case(bundle: dict[str, Any], case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    state = make_state(bundle)
    if case == "dropped":  # a graph event dropped from the bundle
        del bundle["events"][2]
    elif case == "snapshot":
        state["current"]["graph_snapshots"][0]["payload"]["graph_snapshot"]["claims"]["count"] = 7
    elif case == "count":
        state["event_count"] = 5
    elif case == "aliases":
        state["current"]["source_aliases"] = state["current"]["source_aliases"][:-1]
    elif case == "alias-derive":
        state["current"]["source_aliases"][2]["alias_value"] = "10.48550/arxiv.9999.99999"
    elif case == "malformed":
        state["valid_event_count"] = -1
    return bundle, state


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("dropped", "state_snapshot_missing"),
        ("snapshot", "state_snapshot_missing"),
        ("count", "state_count_mismatch"),
        ("aliases", "state_alias_mismatch"),
        ("alias-derive", "state_alias_mismatch"),
        ("malformed", "state_malformed"),
    ],
)
def test_tampered_state_fails(
    case: str, code: str, bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    bundle, state = _state_case(bundle, case)
    b = verify_bundle(dumps(bundle), rec, keyring)
    out = verify_state(dumps(state), rec, b)
    assert out.status == DOC_FAILED
    assert code in out.codes


def test_dropped_event_also_breaks_counts(
    bundle: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    bundle, state = _state_case(bundle, "dropped")
    out = verify_state(dumps(state), rec, verify_bundle(dumps(bundle), rec, keyring))
    assert set(out.codes) == {"state_snapshot_missing", "state_count_mismatch"}


def test_foreign_state_is_refused(test_key: SigningKey, rec: VerifiedRecord) -> None:
    other = make_record(test_key, arxiv_id="2604.00002", title="Elsewhere")
    out = verify_state(dumps(make_state(make_bundle(test_key, other))), rec, None)
    assert out.status == DOC_REFUSED
    assert out.codes == ("state_foreign_record",)


# -- integrity ------------------------------------------------------------------------------
def _head(name: str) -> str:
    return (FIXTURES / "excerpts" / name).read_text()


def test_real_integrity_event_verifies_with_pith_key() -> None:
    """The first event of a real integrity.json: its signature verifies with Pith's key."""
    head = _head("integrity.2604.20237.head.txt")
    event_text = head[head.index('"events":[') :]
    digest = re.search(r'"payload_sha256":"([0-9a-f]{64})"', event_text)
    sig = re.search(r'"signature_b64":"([A-Za-z0-9+/=]+)"', event_text)
    created = re.search(r'"created_at":"([^"]+)"', event_text)
    assert digest and sig and created
    event = {
        "event_id": 4273,
        "event_type": "pith.integrity.v1",
        "payload_sha256": digest.group(1),
        "signature_b64": sig.group(1),
        "signing_key_id": "pith-v1-2026-05",
        "created_at": created.group(1),
        "payload": {"arxiv_id": "2604.20237"},  # the excerpt's payload is cut off
    }
    out = verify_event(0, event, "2604.20237", Keyring.default())
    assert out.status == VERIFIED, out.detail
    assert out.key_id == "pith-v1-2026-05"
    assert out.bound is False  # the cut payload cannot hash to payload_sha256
    assert "binding could not be checked (rule not published)" in out.detail
    # the same event with one bit of the hash flipped does not verify
    flipped = dict(event, payload_sha256=("7" if digest.group(1)[0] != "7" else "8") + digest.group(1)[1:])
    bad = verify_event(0, flipped, "2604.20237", Keyring.default())
    assert bad.status == FAILED and bad.code == "integrity_bad_signature" and bad.payload is None


@pytest.fixture
def integrity(test_key: SigningKey) -> dict[str, Any]:
    return make_integrity(
        test_key,
        "2604.20237",
        [
            make_finding("2604.20237", severity="critical"),
            make_finding("2604.20237", ref_index=2, note="Another."),
        ],
    )


def test_valid_integrity(integrity: dict[str, Any], rec: VerifiedRecord, keyring: Keyring) -> None:
    out = verify_integrity(dumps(integrity), rec, keyring)
    assert out.result.status == DOC_VERIFIED, out.result.checks
    assert [e.status for e in out.events] == [VERIFIED, VERIFIED]
    assert all(e.bound for e in out.events)
    assert "payload bound" in out.events[0].detail


def test_tampered_integrity_payload_is_unbound_not_failed(
    integrity: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    integrity["events"][0]["payload"]["severity"] = "informational"
    out = verify_integrity(dumps(integrity), rec, keyring)
    assert out.result.status == DOC_VERIFIED
    assert out.events[0].status == VERIFIED and out.events[0].bound is False
    assert any(c.status == "not-checked" and "rule not published" in c.detail for c in out.result.checks)


def _int_sig(d: dict[str, Any]) -> None:
    sig = d["events"][1]["signature_b64"]
    d["events"][1]["signature_b64"] = ("A" if sig[0] != "A" else "B") + sig[1:]


def _int_hash(d: dict[str, Any]) -> None:
    d["events"][1]["payload_sha256"] = "0" * 64


def _int_dup(d: dict[str, Any]) -> None:
    d["events"].append(copy.deepcopy(d["events"][0]))


def _int_malformed(d: dict[str, Any]) -> None:
    d["events"][1]["signature_b64"] = "not base64!"


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_int_sig, "integrity_bad_signature"),
        (_int_hash, "integrity_bad_signature"),
        (_int_dup, "integrity_duplicate_event"),
        (_int_malformed, "integrity_event_malformed"),
    ],
)
def test_tampered_integrity(
    tamper: Any, code: str, integrity: dict[str, Any], rec: VerifiedRecord, keyring: Keyring
) -> None:
    tamper(integrity)
    out = verify_integrity(dumps(integrity), rec, keyring)
    assert out.result.status == DOC_FAILED
    assert code in out.result.codes
    failed = [e for e in out.events if e.status == FAILED]
    assert all(e.payload is None for e in failed)  # a failed event is never a finding


def test_integrity_unknown_key(other_key: SigningKey, rec: VerifiedRecord, keyring: Keyring) -> None:
    doc = make_integrity(other_key, "2604.20237", [make_finding("2604.20237")])
    doc["events"][0]["signing_key_id"] = "someone-else"
    out = verify_integrity(dumps(doc), rec, keyring)
    assert out.result.codes == ("integrity_unknown_key",)


def test_integrity_event_about_another_paper(
    test_key: SigningKey, rec: VerifiedRecord, keyring: Keyring
) -> None:
    doc = make_integrity(test_key, "2604.20237", [])
    doc["events"] = [sign_integrity_event(test_key, make_finding("2604.11111"), 1)]
    out = verify_integrity(dumps(doc), rec, keyring)
    assert out.result.codes == ("integrity_event_foreign",)


def test_integrity_key_window(test_key: SigningKey, rec: VerifiedRecord, integrity: dict[str, Any]) -> None:
    from generator.keyring import parse_time

    late = Keyring([PinnedKey(test_key.key_id, test_key.public_bytes, parse_time("2027-01-01T00:00:00Z"))])
    out = verify_integrity(dumps(integrity), rec, late)
    assert "integrity_key_not_valid" in out.result.codes


def test_foreign_integrity_refused(test_key: SigningKey, rec: VerifiedRecord, keyring: Keyring) -> None:
    out = verify_integrity(dumps(make_integrity(test_key, "cs/0004010", [])), rec, keyring)
    assert out.result.status == DOC_REFUSED
    assert out.result.codes == ("integrity_foreign_record",)


def test_open_graph_summary(
    bundle: dict[str, Any], integrity: dict[str, Any], record: dict[str, Any], keyring: Keyring
) -> None:
    raw = RawRecord(
        dump_record(record),
        "test",
        endpoints=(
            ("bundle", dumps(bundle)),
            ("state", dumps(make_state(bundle))),
            ("integrity", dumps(integrity)),
        ),
    )
    og = verify_open_graph(verify_record(raw, keyring), keyring)
    assert og.summary() == (
        ("bundle", "verified", ()),
        ("state", "verified", ()),
        ("integrity", "verified", ()),
    )
