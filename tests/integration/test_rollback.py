"""A build never publishes an older view of a record than the one already published.

A record's canonical part is content-addressed; its other documents (bundle, state, integrity
findings, a fetched events.json, the record's own events) may change only by growing. A build
whose input would replace a published copy with one that drops or changes an event, or a state
whose event count fell, fails closed with ``rollback`` (``--skip-invalid`` skips that record and
reports it); a copy that only grows is published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.build import run_build
from generator.config import Config
from generator.errors import BuildFailedError, RecordError
from generator.identifiers import suffix_from_hash
from generator.report import read_report
from generator.sources.local import load_records
from generator.synth import TestKey, make_bundle, make_record, make_state, mirror_files
from generator.verify import verify_record
from generator.verify.growth import rolled_back


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def _tree(root: Path, key: TestKey, records: list[dict[str, Any]], snapshots: dict[str, int]) -> None:
    """A mirror-shaped folder: each record with a bundle of ``snapshots[arxiv id]`` graph events
    (none at all for -1)."""
    for rec in records:
        count = snapshots[rec["canonical_record"]["source"]["id"]]
        if count < 0:
            _write(root, mirror_files(key, rec, bundle={}, state={}))
            continue
        bundle = make_bundle(key, rec, graph_snapshots=count)
        _write(root, mirror_files(key, rec, bundle=bundle, state=make_state(bundle)))


def _site(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _build(src: Path, out: Path, keyring: Path, **kw: Any) -> None:
    config = Config(sources=(src,), output=out, keyring_files=(keyring,), **kw)
    run_build(config, progress=False)


@pytest.fixture
def records(test_key: TestKey) -> list[dict[str, Any]]:
    return [
        make_record(test_key, arxiv_id="2604.20237", title="Grows and shrinks"),
        make_record(test_key, arxiv_id="2605.11997", title="Stays"),
    ]


def _refused(
    tmp_path: Path,
    key: TestKey,
    keyring: Path,
    records: list[dict[str, Any]],
    incremental: bool,
    then: dict[str, int],
    now: dict[str, int],
) -> tuple[Path, Path, RecordError]:
    """Build ``records`` with bundles of ``then`` events, then with ``now``: the second build
    must fail with exactly one error and leave the site byte for byte. (site, second input, error)"""
    out, first, second = tmp_path / "site", tmp_path / "first", tmp_path / "second"
    _tree(first, key, records, then)
    _build(first, out, keyring, incremental=incremental)
    before = _site(out)
    _tree(second, key, records, now)
    with pytest.raises(BuildFailedError) as caught:
        _build(second, out, keyring, incremental=incremental)
    [failure] = caught.value.failures
    assert _site(out) == before
    return out, second, failure


@pytest.mark.parametrize("incremental", [False, True])
def test_an_older_bundle_is_refused_and_the_site_kept(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, records: list[dict[str, Any]], incremental: bool
) -> None:
    # the same records, the first with a bundle (and state) that lost two of its events
    out, older, failure = _refused(
        tmp_path,
        test_key,
        keyring_file,
        records,
        incremental,
        then={"2604.20237": 3, "2605.11997": 1},
        now={"2604.20237": 1, "2605.11997": 1},
    )
    suffix = suffix_from_hash(records[0]["canonical_sha256"])
    assert failure.code == "rollback"
    assert records[0]["pith_number"] in failure.where and f"pith/{suffix}.json" in failure.where
    assert f"pith/{suffix}/bundle.json" in failure.detail and "event_dropped" in failure.detail

    # --skip-invalid publishes the rest and reports the refused record; its old view is not kept
    _build(older, out, keyring_file, incremental=incremental, skip_invalid=True)
    report, published = read_report(out)
    assert [s["code"] for s in report["skipped"]] == ["rollback"]
    assert {r["arxiv_id"] for r in published} == {"2605.11997"}


@pytest.mark.parametrize("incremental", [False, True])
def test_a_grown_bundle_is_published(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, records: list[dict[str, Any]], incremental: bool
) -> None:
    out = tmp_path / "site"
    first, grown = tmp_path / "first", tmp_path / "grown"
    _tree(first, test_key, records, {"2604.20237": 1, "2605.11997": 1})
    _build(first, out, keyring_file, incremental=incremental)
    _tree(grown, test_key, records, {"2604.20237": 3, "2605.11997": 1})
    _build(grown, out, keyring_file, incremental=incremental)
    suffix = suffix_from_hash(records[0]["canonical_sha256"])
    rel = f"pith/{suffix}/bundle.json"
    assert (out / rel).read_bytes() == (grown / rel).read_bytes()
    assert len(json.loads((out / rel).read_bytes())["events"]) == 4


def test_a_state_whose_count_fell_is_refused(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, records: list[dict[str, Any]]
) -> None:
    """The bundle is the same; only the state's event_count goes down."""
    src = tmp_path / "src"
    _tree(src, test_key, records[:1], {"2604.20237": 2})
    [raw] = list(load_records([src]))
    from generator.keyring import load_keyring

    rec = verify_record(raw, load_keyring((keyring_file,)))
    endpoints = dict(raw.endpoints)
    state = json.loads(endpoints["state"])
    published = {f"pith/{rec.suffix}/state.json": endpoints["state"]}
    state["event_count"] -= 1
    smaller = json.dumps(state).encode()
    error = rolled_back(rec, [(f"pith/{rec.suffix}/state.json", smaller)], published.get)
    assert error is not None and error.code == "rollback" and "event_count fell from 3 to 2" in error.detail
    # the same bytes, a grown count, or nothing published: no refusal
    state["event_count"] += 2
    for files, held in (
        ([(f"pith/{rec.suffix}/state.json", endpoints["state"])], published),
        ([(f"pith/{rec.suffix}/state.json", json.dumps(state).encode())], published),
        ([(f"pith/{rec.suffix}/state.json", smaller)], {}),
        (
            [(f"pith/{rec.suffix}/index.html", b"<p>pages may change</p>")],
            {f"pith/{rec.suffix}/index.html": b"x"},
        ),
    ):
        assert rolled_back(rec, files, held.get) is None


@pytest.mark.parametrize("incremental", [False, True])
def test_a_bundle_gone_from_the_input_is_a_rollback(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, records: list[dict[str, Any]], incremental: bool
) -> None:
    _out, bare, failure = _refused(
        tmp_path,
        test_key,
        keyring_file,
        records,
        incremental,
        then={"2604.20237": 2, "2605.11997": 1},
        now={"2604.20237": -1, "2605.11997": 1},
    )
    suffix = suffix_from_hash(records[0]["canonical_sha256"])
    assert failure.code == "rollback" and failure.detail.startswith(
        f"pith/{suffix}/bundle.json: the live site"
    )
    # into a new output there is nothing to roll back
    _build(bare, tmp_path / "fresh", keyring_file, incremental=incremental)
    assert not (tmp_path / "fresh" / f"pith/{suffix}/bundle.json").exists()


@pytest.mark.parametrize("incremental", [False, True])
def test_events_json_may_only_grow(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, incremental: bool
) -> None:
    """A fetched events.json (here beside the record in a mirror-shaped folder) that loses an
    event, or goes away, is a rollback; one that gains an event is published."""
    rec = make_record(test_key, arxiv_id="2604.20237", title="Events")
    suffix = suffix_from_hash(rec["canonical_sha256"])
    rel = f"api/pith-number/{suffix}/events.json"
    events = [{"event_id": f"ev-{n}", "kind": "note", "n": n} for n in range(3)]

    def tree(name: str, held: list[dict[str, Any]] | None) -> Path:
        root = tmp_path / name
        files = mirror_files(test_key, rec, bundle={}, state={}, integrity={})
        if held is not None:
            files[rel] = json.dumps({"events": held}).encode()
        _write(root, files)
        return root

    out = tmp_path / "site"
    _build(tree("two", events[:2]), out, keyring_file, incremental=incremental)
    before = _site(out)
    for name, held, start in (
        ("one", events[:1], f"{rel}: the published copy"),
        ("none", None, f"{rel}: the live site"),
    ):
        with pytest.raises(BuildFailedError) as caught:
            _build(tree(name, held), out, keyring_file, incremental=incremental)
        [failure] = caught.value.failures
        assert failure.code == "rollback" and failure.detail.startswith(start), failure.detail
        assert _site(out) == before
    _build(tree("three", events), out, keyring_file, incremental=incremental)
    assert json.loads((out / rel).read_bytes())["events"] == events
