"""A build never publishes an older view of a record than the one already published.

A record's canonical part is content-addressed; its other documents (bundle, state, integrity
findings, a fetched events.json, the record's own events) may change only by growing. A build
whose input would replace a published copy with one that drops or changes an event, or a state
whose event count fell, fails closed with ``rollback`` (``--skip-invalid`` skips that record and
reports it); a copy that only grows is published.

The integrity findings (``pith/{arxiv_id}/integrity.json``) belong to a paper, whose versions
share them: a paper the live site publishes them for may not lose them while any version of it
stays, and every version is refused when none brings a copy.

The live site is read as a build leaves it: a symlink where a build compares stops the build
with an ``OutputError`` naming the file, and nothing is published.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from generator import build as build_module
from generator.build import SERIAL_BELOW, BuildReport, run_build
from generator.cli import main
from generator.config import Config
from generator.errors import BuildFailedError, OutputError, RecordError
from generator.identifiers import suffix_from_hash
from generator.incremental import spare_path, state_path
from generator.report import read_report
from generator.sources.local import load_records
from generator.synth import (
    TestKey,
    dump_record,
    make_bundle,
    make_record,
    make_state,
    mirror_files,
    random_record,
)
from generator.verify import verify_record
from generator.verify.growth import rolled_back
from tests.integration.test_build_faults import Where
from tests.integration.test_incremental import state_bytes


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


# -- the integrity findings, which the versions of one paper share -----------------------------
PAPER, OTHER = "2604.20237", "2605.11997"
INTEGRITY = f"pith/{PAPER}/integrity.json"
GONE_DETAIL = (
    f"{INTEGRITY}: the live site publishes it and no input of this paper has a copy that could replace it"
)


@pytest.fixture
def versions(test_key: TestKey) -> list[dict[str, Any]]:
    """Two versions of PAPER, and one record of OTHER."""
    return [
        make_record(test_key, arxiv_id=PAPER, version=1, title="Findings, first version"),
        make_record(test_key, arxiv_id=PAPER, version=2, title="Findings, second version"),
        make_record(test_key, arxiv_id=OTHER, title="Keeps its findings"),
    ]


def _mirror(root: Path, key: TestKey, records: list[dict[str, Any]], findings: set[str]) -> Path:
    """A mirror-shaped folder of ``records``, with integrity findings for the papers in
    ``findings`` (a mirror tree gives a paper's findings to each of its versions there)."""
    root.mkdir(parents=True)
    for rec in records:
        arxiv_id = rec["canonical_record"]["source"]["id"]
        _write(root, mirror_files(key, rec, integrity=None if arxiv_id in findings else {}))
    return root


def _filler(root: Path, key: TestKey, count: int, seed: int) -> Path:
    """``count`` records without findings, as plain files (new ones for each ``seed``, so that
    an incremental build verifies them again and, past ``SERIAL_BELOW``, in the pool)."""
    root.mkdir(parents=True)
    rng = random.Random(seed)
    for n in range(count):
        (root / f"f{n:04d}.json").write_bytes(dump_record(random_record(key, rng, 1000 * seed + n)))
    return root


def _run(out: Path, keyring: Path, *sources: Path, **kw: Any) -> BuildReport:
    config = Config(sources=sources, output=out, keyring_files=(keyring,), source_date_epoch=1767225600, **kw)
    return run_build(config, progress=False)


def _live(out: Path) -> dict[str, bytes]:
    """The live site and, beside it, the build state of an incremental build."""
    return {**_site(out), **({"<state>": state_bytes(out)} if state_path(out).exists() else {})}


def _suffix(rec: dict[str, Any]) -> str:
    return suffix_from_hash(rec["canonical_sha256"])


def _named(failures: list[RecordError]) -> set[tuple[str, str]]:
    """(where, detail) of each failure, all of them ``rollback``."""
    assert {f.code for f in failures} == {"rollback"}
    return {(f.where, f.detail) for f in failures}


SITE_WIDE = ("browse", "search", "resolve", "mirror-index", "index.html")


def _listed(out: Path, suffix: str) -> set[str]:
    """Which of the listings, search index, resolver, mirror index and home page name a record."""
    tops = ((rel.split("/")[0], data) for rel, data in _site(out).items())
    return {top for top, data in tops if top in SITE_WIDE and suffix.encode() in data}


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("incremental", [False, True])
def test_integrity_gone_from_the_input_is_a_rollback(
    tmp_path: Path,
    test_key: TestKey,
    keyring_file: Path,
    versions: list[dict[str, Any]],
    incremental: bool,
    jobs: int,
) -> None:
    """The live site publishes a paper's findings; the input still has its versions, but none
    with findings: every version is refused and the site kept (or, with --skip-invalid, the
    paper is left out and the rest published). With two jobs, enough other records go with
    them that the build uses its worker pool."""
    out = tmp_path / "site"
    fill = SERIAL_BELOW if jobs > 1 else 0
    first = _mirror(tmp_path / "first", test_key, versions, {PAPER, OTHER})
    _run(
        out,
        keyring_file,
        first,
        _filler(tmp_path / "fill1", test_key, fill, 1),
        jobs=jobs,
        incremental=incremental,
    )
    assert (out / INTEGRITY).is_file()
    assert _listed(out, _suffix(versions[0])) == set(SITE_WIDE)
    before = _live(out)

    bare = _mirror(tmp_path / "bare", test_key, versions, {OTHER})
    with pytest.raises(BuildFailedError) as caught:
        _run(
            out,
            keyring_file,
            bare,
            _filler(tmp_path / "fill2", test_key, fill, 2),
            jobs=jobs,
            incremental=incremental,
        )
    assert _named(caught.value.failures) == {
        (f"{bare / 'pith' / (_suffix(rec) + '.json')} ({rec['pith_number']})", GONE_DETAIL)
        for rec in versions[:2]
    }
    assert _live(out) == before

    report = _run(
        out,
        keyring_file,
        bare,
        _filler(tmp_path / "fill3", test_key, fill, 3),
        jobs=jobs,
        incremental=incremental,
        skip_invalid=True,
    )
    assert [(f.code, f.detail) for f in report.failures] == [("rollback", GONE_DETAIL)] * 2
    head, published = read_report(out)
    assert [(s["code"], s["detail"]) for s in head["skipped"]] == [("rollback", GONE_DETAIL)] * 2
    ids = [r["arxiv_id"] for r in published]
    assert PAPER not in ids and OTHER in ids and len(ids) == 1 + fill
    for rec in versions[:2]:
        assert not (out / f"pith/{_suffix(rec)}.json").exists()
        assert not (out / f"pith/{_suffix(rec)}").exists()
    assert not (out / INTEGRITY).exists()
    assert (out / f"pith/{OTHER}/integrity.json").is_file()
    assert _listed(out, _suffix(versions[0])) == _listed(out, _suffix(versions[1])) == set()


def test_integrity_the_build_would_not_publish_is_a_rollback(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, versions: list[dict[str, Any]]
) -> None:
    """A copy of the findings that is refused (not JSON) does not replace the published one."""
    out = tmp_path / "site"
    _run(out, keyring_file, _mirror(tmp_path / "first", test_key, versions, {PAPER, OTHER}))
    before = _live(out)
    broken = _mirror(tmp_path / "broken", test_key, versions, {PAPER, OTHER})
    (broken / INTEGRITY).write_bytes(b"{not json")
    with pytest.raises(BuildFailedError) as caught:
        _run(out, keyring_file, broken)
    assert {d for _w, d in _named(caught.value.failures)} == {GONE_DETAIL} and len(caught.value.failures) == 2
    assert _live(out) == before


@pytest.mark.parametrize("incremental", [False, True])
def test_one_version_with_integrity_keeps_the_paper(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, versions: list[dict[str, Any]], incremental: bool
) -> None:
    """The findings may come with any version of the paper: one that still has them is enough."""
    out = tmp_path / "site"
    _run(
        out,
        keyring_file,
        _mirror(tmp_path / "first", test_key, versions, {PAPER, OTHER}),
        incremental=incremental,
    )
    held = (out / INTEGRITY).read_bytes()
    with_findings = _mirror(tmp_path / "v1", test_key, [versions[0], versions[2]], {PAPER, OTHER})
    without = _mirror(tmp_path / "v2", test_key, versions[1:2], set())
    report = _run(out, keyring_file, without, with_findings, incremental=incremental)
    assert report.failures == []
    assert (out / INTEGRITY).read_bytes() == held
    assert {r["arxiv_id"] for r in read_report(out)[1]} == {PAPER, OTHER} and len(read_report(out)[1]) == 3


@pytest.mark.parametrize("incremental", [False, True])
def test_a_paper_that_left_takes_its_integrity_with_it(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, versions: list[dict[str, Any]], incremental: bool
) -> None:
    """Records that leave the input leave the site, findings and all: that is no rollback."""
    out = tmp_path / "site"
    _run(
        out,
        keyring_file,
        _mirror(tmp_path / "first", test_key, versions, {PAPER, OTHER}),
        incremental=incremental,
    )
    report = _run(
        out,
        keyring_file,
        _mirror(tmp_path / "rest", test_key, versions[2:], {OTHER}),
        incremental=incremental,
    )
    assert report.failures == []
    assert not (out / INTEGRITY).exists() and not (out / f"pith/{PAPER}").exists()
    assert [r["arxiv_id"] for r in read_report(out)[1]] == [OTHER]


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("incremental", [False, True])
def test_a_version_left_alone_without_integrity_is_a_rollback(
    tmp_path: Path,
    test_key: TestKey,
    keyring_file: Path,
    versions: list[dict[str, Any]],
    incremental: bool,
    skip: bool,
) -> None:
    """The first version is a plain file (no findings come with it), the second came from a
    mirror with the paper's findings. When the second leaves, the first stays without them: a
    rollback of the paper, named on the first version. In an incremental build the first
    version is carried unchanged from the previous build (both builds skip invalid records or
    neither does: the setting is part of what every page depends on)."""
    out = tmp_path / "site"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "v1.json").write_bytes(dump_record(versions[0]))
    first = _mirror(tmp_path / "first", test_key, versions[1:], {PAPER, OTHER})
    _run(out, keyring_file, plain, first, incremental=incremental, skip_invalid=skip)
    assert (out / INTEGRITY).is_file()
    before = _live(out)
    rest = _mirror(tmp_path / "rest", test_key, versions[2:], {OTHER})
    if not skip:
        with pytest.raises(BuildFailedError) as caught:
            _run(out, keyring_file, plain, rest, incremental=incremental)
        where = f"{plain / 'v1.json'} ({versions[0]['pith_number']})"
        assert _named(caught.value.failures) == {(where, GONE_DETAIL)}
        assert _live(out) == before
        return

    report = _run(out, keyring_file, plain, rest, incremental=incremental, skip_invalid=True)
    if incremental:
        assert report.incremental["carried"] == 2  # the first version and OTHER
    assert [(f.code, f.detail) for f in report.failures] == [("rollback", GONE_DETAIL)]
    assert [r["arxiv_id"] for r in read_report(out)[1]] == [OTHER]
    assert not (out / INTEGRITY).exists()
    assert not (out / f"pith/{_suffix(versions[0])}.json").exists()
    assert _listed(out, _suffix(versions[0])) == set()


@pytest.mark.parametrize("integrity", [False, True])
def test_verify_reports_integrity_gone_against_the_live_site(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, versions: list[dict[str, Any]], integrity: bool
) -> None:
    """``verify`` (a build that writes nothing) compares with the live site the same way."""
    out = tmp_path / "site"
    _run(out, keyring_file, _mirror(tmp_path / "first", test_key, versions, {PAPER, OTHER}))
    src = _mirror(tmp_path / "again", test_key, versions, {PAPER, OTHER} if integrity else {OTHER})
    config = Config(sources=(src,), output=out, keyring_files=(keyring_file,))
    report = run_build(config, write=False, progress=False)
    if integrity:
        assert report.failures == []
    else:
        assert {d for _w, d in _named(report.failures)} == {GONE_DETAIL} and len(report.failures) == 2


# -- a symlink (or anything but a regular file) in the live site, where the build compares -------
def _grown(root: Path, key: TestKey, records: list[dict[str, Any]], findings: set[str]) -> Path:
    """``_mirror``, with a bundle (and state) of three graph events for the first record: a copy
    that grows the published one, so the build compares the two."""
    _mirror(root, key, records, findings)
    bundle = make_bundle(key, records[0], graph_snapshots=3)
    _write(root, mirror_files(key, records[0], bundle=bundle, state=make_state(bundle)))
    return root


def _noting(monkeypatch: pytest.MonkeyPatch, where: Where) -> None:
    """Notes the process in which a live-site probe (a worker's copy reader, settle's lookup)
    raised its ``OutputError`` (forked workers inherit the wrappers)."""
    for name in ("_published_copy", "_published_file"):
        real = getattr(build_module, name)

        def probe(live: str, max_bytes: int, rel: str, real: Any = real) -> Any:
            try:
                return real(live, max_bytes, rel)
            except OutputError:
                where.note()
                raise

        monkeypatch.setattr(build_module, name, probe)


def _entries(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``root``: its type, its permission bits, and the bytes of a regular
    file (the target of a symlink). A FIFO or a socket is never opened."""
    out: dict[str, tuple[int, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                body = full.read_bytes()
            else:
                body = os.readlink(full).encode() if stat.S_ISLNK(st.st_mode) else b""
            out[full.relative_to(root).as_posix()] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), body)
    return out


def _plant(path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put ``kind`` where the regular file ``path`` stands (a symlink to a copy of its bytes)."""
    data = path.read_bytes()
    path.unlink()
    if kind == "symlink":
        held = path.parent.parent.parent / f"held-{path.name}"  # beside the site
        held.write_bytes(data)
        path.symlink_to(held)
    elif kind == "directory":
        path.mkdir()
    elif kind == "FIFO":
        os.mkfifo(path)
    else:
        with monkeypatch.context() as m, socket.socket(socket.AF_UNIX) as sock:
            m.chdir(path.parent)  # a socket's path is short: bound by its name in its directory
            sock.bind(path.name)


@pytest.mark.timeout(120)  # a FIFO the build waited on would hang it
@pytest.mark.parametrize(
    ("kind", "jobs"),
    [("symlink", 1), ("symlink", 2), ("directory", 1), ("FIFO", 1), ("socket", 1)],
)
@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.parametrize("planted", ["bundle", "integrity"])
def test_anything_but_a_regular_file_in_the_live_site_stops_the_build(
    tmp_path: Path,
    test_key: TestKey,
    keyring_file: Path,
    versions: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    planted: str,
    incremental: bool,
    kind: str,
    jobs: int,
) -> None:
    """A build never publishes a symlink, so one in the live site where the build must compare
    what it would publish with what is published cannot be read as either "this copy" or
    "nothing": the build stops with an ``OutputError`` naming the file, whatever
    ``--skip-invalid`` says (no record is at fault), and the site, the symlink and the build
    state stay as they were. Planted where a record's bundle stands, it is met by the worker
    that renders the record (a pool worker with two jobs: the error comes back from it); where
    a paper's findings stand and no input brings them, by the lookup once every record is
    settled. A directory, a FIFO (never waited on) or a socket there is stopped the same way."""
    out = tmp_path / "site"
    fill = _filler(tmp_path / "fill", test_key, SERIAL_BELOW if jobs > 1 else 0, 1)
    _run(out, keyring_file, _mirror(tmp_path / "first", test_key, versions, {PAPER, OTHER}), fill, jobs=jobs)
    if incremental:  # the first build wrote no state: build again, incrementally
        _run(
            out,
            keyring_file,
            _mirror(tmp_path / "again", test_key, versions, {PAPER, OTHER}),
            fill,
            jobs=jobs,
            incremental=True,
        )
    rel = f"pith/{_suffix(versions[0])}/bundle.json" if planted == "bundle" else INTEGRITY
    _plant(out / rel, kind, monkeypatch)
    tree, beside = _entries(out), set(os.listdir(tmp_path))
    state = state_bytes(out) if incremental else None
    if planted == "bundle":
        src = _grown(tmp_path / "next", test_key, versions, {PAPER, OTHER})
    else:
        src = _mirror(tmp_path / "next", test_key, versions, {OTHER})
    beside |= {"next", "probe-pids"}
    expected = (
        f"{out}/{rel}: a {kind} in the live site, where a build publishes a regular file; the build "
        "cannot tell what is published there, so it stopped (the previous site is untouched)"
    )
    where = Where(tmp_path / "probe-pids")
    _noting(monkeypatch, where)

    # the build's log reaches caplog whatever an earlier ``main`` left on the logger
    monkeypatch.setattr(logging.getLogger("generator"), "propagate", True)
    monkeypatch.setattr(logging.getLogger("generator"), "handlers", [])
    caplog.set_level(logging.WARNING, logger="generator")
    with pytest.raises(OutputError) as caught:
        _run(out, keyring_file, src, fill, jobs=jobs, incremental=incremental)
    assert str(caught.value) == expected
    # an incremental build first copies the live tree, and says what stopped the copy
    stopped = f"{rel} in the live site is a symlink): rebuilding every record"
    assert (stopped in caplog.text) == (incremental and kind == "symlink")
    assert "is missing" not in caplog.text
    [pid] = where.pids()
    assert (pid != os.getpid()) == (planted == "bundle" and jobs > 1)
    # the command: --skip-invalid does not skip it, and the exit status is 1
    argv = ["build", str(src), str(fill), "-o", str(out), "--keyring", str(keyring_file), "-j", str(jobs)]
    assert main([*argv, "--skip-invalid", *(["--incremental"] if incremental else [])]) == 1
    assert f"error: {expected}\n" in capsys.readouterr().err
    if jobs == 1:  # verify (a build that writes nothing) compares with the live site the same way
        config = Config(sources=(src, fill), output=out, keyring_files=(keyring_file,), jobs=jobs)
        with pytest.raises(OutputError) as caught:
            run_build(config, write=False)
        assert str(caught.value) == expected

    assert _entries(out) == tree
    assert (state_bytes(out) if incremental else None) == state
    now = set(os.listdir(tmp_path))
    spare = {spare_path(out).name} if incremental else set()  # a failed build may use up the spare
    assert now <= beside and beside - now <= spare, sorted(now ^ beside)
