"""Building from a mirror-shaped tree: sidecars attached, checked, copied, and shown safely."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from generator.report import read_report
from generator.sources.local import list_files, load_records
from generator.synth import TestKey as SigningKey
from generator.synth import (
    make_bundle,
    make_finding,
    make_integrity,
    make_record,
    make_state,
    mirror_files,
    sign_integrity_event,
)
from tests.htmlcheck import assert_inert, parse_strict
from tests.integration.test_hostile_text import PAYLOADS

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> javascript:alert(3) \u202eevil'


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


@pytest.fixture
def tree(tmp_path: Path, test_key: SigningKey) -> tuple[Path, dict[str, Any]]:
    """Three records: one whose documents all verify, one with broken documents, one old-style id."""
    root = tmp_path / "mirror"
    good = make_record(test_key, arxiv_id="2604.20237", title="Good graph")
    bad = make_record(test_key, arxiv_id="2605.11997", title="Bad graph")
    old = make_record(test_key, arxiv_id="cs/0004010", title="Old style", submitted_at="2000-04-01T00:00:00Z")
    _write(root, mirror_files(test_key, good))
    _write(root, mirror_files(test_key, old))

    bundle = make_bundle(test_key, bad, graph_snapshots=2)
    state = make_state(bundle)
    sig = bundle["events"][0]["payload"]["receipt"]["signature_b64"]
    bundle["events"][0]["payload"]["receipt"]["signature_b64"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    del bundle["events"][2]  # dropped: the state still names it
    integrity = make_integrity(test_key, "2605.11997", [make_finding("2605.11997", note="kept")])
    forged = sign_integrity_event(test_key, make_finding("2605.11997", note="FORGED FINDING"), 999)
    forged["signature_b64"] = integrity["events"][0]["signature_b64"]
    integrity["events"].append(forged)
    _write(root, mirror_files(test_key, bad, bundle=bundle, state=state, integrity=integrity))
    return root, {"good": good, "bad": bad, "old": old}


def _suffix(rec: dict[str, Any]) -> str:
    return str(rec["pith_number"]).rsplit(":", 1)[1]


def test_only_records_are_records(tree: tuple[Path, dict[str, Any]]) -> None:
    root, recs = tree
    names = sorted(p.name for p in list_files(root))
    assert names == sorted(f"{_suffix(r)}.json" for r in recs.values())
    loaded = {r.where: dict(r.endpoints) for r in load_records([root])}
    by_suffix = {Path(w).stem: e for w, e in loaded.items()}
    assert set(by_suffix[_suffix(recs["good"])]) == {"bundle", "state", "integrity"}
    assert set(by_suffix[_suffix(recs["old"])]) == {"bundle", "state", "integrity"}
    assert json.loads(by_suffix[_suffix(recs["old"])]["integrity"])["arxiv_id"] == "cs/0004010"


def test_build_publishes_copies_and_shows_results(
    tree: tuple[Path, dict[str, Any]], tmp_path: Path, keyring_file: Path
) -> None:
    root, recs = tree
    out = tmp_path / "site"
    assert main(["build", str(root), "-o", str(out), "--keyring", str(keyring_file), "-q"]) == 0
    good, bad = _suffix(recs["good"]), _suffix(recs["bad"])
    for rel in (f"pith/{good}/bundle.json", f"pith/{good}/state.json", "pith/2604.20237/integrity.json"):
        assert (out / rel).read_bytes() == (root / rel).read_bytes()
    assert (out / f".well-known/pith/{good}/bundle.json").read_bytes() == (
        root / f"pith/{good}/bundle.json"
    ).read_bytes()
    assert (out / "pith/cs/0004010/integrity.json").read_bytes() == (
        root / "pith/cs/0004010/integrity.json"
    ).read_bytes()
    # failed documents are byte copies too, and the page says what failed
    assert (out / f"pith/{bad}/bundle.json").read_bytes() == (root / f"pith/{bad}/bundle.json").read_bytes()
    page = (out / f"pith/{bad}/index.html").read_text()
    for code in (
        "bundle_receipt_invalid",
        "state_snapshot_missing",
        "state_count_mismatch",
        "integrity_bad_signature",
    ):
        assert code in page
    assert "FORGED FINDING" not in page  # a failed event is never shown as a finding
    assert ">1 signed and verified<" in page and ">1 carried<" in page and ">2 failed<" in page
    good_page = (out / f"pith/{good}/index.html").read_text()
    assert "payload bound: this text is signed" in good_page
    assert ">2 signed and verified<" in good_page and ">1 carried<" in good_page and ">0 failed<" in good_page
    assert "This mirror's view of current state" in good_page
    report, records = read_report(out)
    assert report["published"] == 3
    og = {r["suffix"]: r["open_graph"] for r in records}
    assert og[good] == [
        {"document": "bundle", "status": "verified", "codes": []},
        {"document": "state", "status": "verified", "codes": []},
        {"document": "integrity", "status": "verified", "codes": []},
    ]
    assert {d["document"]: d["status"] for d in og[bad]} == {
        "bundle": "failed",
        "state": "failed",
        "integrity": "failed",
    }
    assert "integrity_bad_signature" in (out / f"verification/{bad[:2]}.html").read_text()
    # --strict: any failed open-graph check fails the build, and nothing is published
    out2 = tmp_path / "strict"
    assert main(["build", str(root), "-o", str(out2), "--keyring", str(keyring_file), "--strict", "-q"]) == 1
    assert not out2.exists()


def test_refused_documents_are_not_published(
    tmp_path: Path, test_key: SigningKey, keyring_file: Path
) -> None:
    root = tmp_path / "mirror"
    rec = make_record(test_key, arxiv_id="2604.00003", title="Refusals")
    other = make_record(test_key, arxiv_id="2604.00004", title="Someone else")
    files = mirror_files(test_key, rec, state=make_state(make_bundle(test_key, other)))
    suffix = _suffix(rec)
    files[f"pith/{suffix}/bundle.json"] = b'{"bundle_type":"x","bundle_type":"y"}'
    _write(root, files)
    out = tmp_path / "site"
    assert main(["build", str(root), "-o", str(out), "--keyring", str(keyring_file), "-q"]) == 0
    assert not (out / f"pith/{suffix}/bundle.json").exists()
    assert not (out / f".well-known/pith/{suffix}/bundle.json").exists()
    assert not (out / f"pith/{suffix}/state.json").exists()
    assert (out / "pith/2604.00003/integrity.json").exists()
    page = (out / f"pith/{suffix}/index.html").read_text()
    assert "bundle_invalid_json" in page and "state_foreign_record" in page
    assert "not published" in page


def _hostile_tree(root: Path, key: SigningKey, hostile: str = HOSTILE) -> str:
    """Hostile text in every field of every open-graph document that reaches the page."""
    rec = make_record(key, arxiv_id="2604.00005", title="Hostile")
    bundle = make_bundle(key, rec)
    extra = copy.deepcopy(bundle["events"][1])
    extra.update(event_type=hostile, target=hostile, created_at=hostile, event_id=hostile)
    extra["signer"] = {"signer_id": hostile, "key_id": hostile}
    bundle["events"].append(extra)
    bundle["events"].append({"event_type": "x", "subject_pith_number": hostile})  # a failed event
    finding = make_finding(
        "2604.00005", note=hostile, detector=hostile, finding_type=hostile, severity=hostile
    )
    finding["external_url"] = "javascript:alert(4)"
    finding["audited_at"] = hostile
    integrity = make_integrity(key, "2604.00005", [finding])
    second = sign_integrity_event(key, dict(finding, external_url=hostile), 7)
    failed = dict(second, event_id=hostile, signature_b64=integrity["events"][0]["signature_b64"])
    integrity["events"] += [second, failed, {"event_type": hostile, "event_id": hostile}]
    summary = integrity["integrity"]
    summary["detectors_run"][0].update(name=hostile, version=hostile, status=hostile, ran_at=hostile)
    summary["findings"].append(
        {k: hostile for k in ("detector", "finding_type", "severity", "note", "audited_at")}
    )
    summary["clean"] = hostile
    summary["summary"]["critical"] = hostile
    state = make_state(bundle)
    state["merge_version"] = hostile
    _write(root, mirror_files(key, rec, bundle=bundle, state=state, integrity=integrity))
    return _suffix(rec)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_is_inert(
    tmp_path: Path, test_key: SigningKey, keyring_file: Path, payload: str
) -> None:
    root = tmp_path / "mirror"
    suffix = _hostile_tree(root, test_key, payload)
    out = tmp_path / "site"
    assert main(["build", str(root), "-o", str(out), "--keyring", str(keyring_file), "-q"]) == 0
    page = out / f"pith/{suffix}/index.html"
    parse_strict(page.read_bytes(), str(page))
    assert_inert(page)
    assert_inert(out / "verification/index.html")
    assert_inert(out / f"verification/{suffix[:2]}.html")
    html = page.read_text()
    if payload.startswith("<script>"):
        assert "&lt;script&gt;" in html  # shown, as text
