"""The build end to end: fail closed, atomic publish, determinism, safe output directories."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from generator.build import run_build
from generator.config import Config
from generator.errors import BuildFailedError, OutputError
from generator.report import read_report
from generator.synth import TestKey, dump_record, make_record
from tests.conftest import RECORDS, REPO, SEED, UNSIGNED

if TYPE_CHECKING:
    from _typeshed import StrOrBytesPath


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".staging-" in p.name or ".old-" in p.name)


def build(out: Path, *sources: Path, **kw: Any) -> None:
    run_build(Config(sources=tuple(sources), output=out, **kw), progress=False)


def test_seed_copy_is_byte_identical_and_pages_exist(tmp_path: Path) -> None:
    out = tmp_path / "site"
    build(out)
    assert (out / "pith/75T7H6BVKLX2X7KPYCGRY4USAC.json").read_bytes() == SEED.read_bytes()
    derived = json.loads((out / "api/pith-number/75T7H6BVKLX2X7KPYCGRY4USAC/graph.json").read_bytes())
    assert derived["pith_mirror_derived"] is True and "not a byte copy" in derived["note"]
    report, records = read_report(out)
    assert report["published"] == 3 and report["skipped"] == []
    assert {r["key_id"] for r in records} == {"pith-v1-2026-05"}
    paper = (out / "paper/75T7H6BV/index.html").read_text()
    assert "../../pith/75T7H6BVKLX2X7KPYCGRY4USAC/" in paper
    for name in ("index.html", "404.html", ".nojekyll", "robots.txt", "verification/index.html"):
        assert (out / name).exists(), name


def test_invalid_record_fails_closed_and_keeps_old_site(tmp_path: Path) -> None:
    out = tmp_path / "site"
    build(out)
    before = tree(out)
    with pytest.raises(BuildFailedError) as info:
        build(out, RECORDS, UNSIGNED)
    assert {f.code for f in info.value.failures} == {"no_receipt"}
    assert tree(out) == before
    assert leftovers(tmp_path) == []


def test_skip_invalid_publishes_the_rest_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "site"
    build(out, RECORDS, UNSIGNED, skip_invalid=True)
    report = json.loads((out / "verification.json").read_bytes())
    assert report["published"] == 3
    assert sorted(s["code"] for s in report["skipped"]) == ["no_receipt"] * 3
    assert not any((out / "pith" / f"{p.stem}.json").exists() for p in UNSIGNED.glob("*.json"))
    assert "no_receipt" in (out / "verification/index.html").read_text()


@pytest.mark.parametrize("k", [1, 3, 6])
def test_fault_while_writing_leaves_previous_site(tmp_path: Path, k: int) -> None:
    out = tmp_path / "site"
    build(out)
    before = tree(out)
    with pytest.raises(OutputError, match="injected fault"):
        run_build(Config(output=out), progress=False, fail_after=k)
    assert tree(out) == before
    assert leftovers(tmp_path) == []


def test_conflicting_copies_of_one_record(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> None:
    rec = make_record(test_key)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "r.json").write_bytes(dump_record(rec))
    rec["paper"]["authors_text"] = "Someone Else"  # unsigned change: same pith number, other bytes
    (b / "r.json").write_bytes(dump_record(rec))
    out = tmp_path / "site"
    with pytest.raises(BuildFailedError) as info:
        build(out, a, b, keyring_files=(keyring_file,))
    assert [f.code for f in info.value.failures] == ["conflicting_copies"]
    build(out, a, b, keyring_files=(keyring_file,), skip_invalid=True)
    assert not (out / "pith" / f"{rec['pith_number'][10:]}.json").exists()
    # identical copies are one record
    build(out, a, a, keyring_files=(keyring_file,))
    assert json.loads((out / "verification.json").read_bytes())["published"] == 1


def test_jsonl_source(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> None:
    recs = [make_record(test_key, arxiv_id=f"2602.{i:05d}", title=f"Paper {i}") for i in range(5)]
    lines = tmp_path / "records.jsonl"
    lines.write_bytes(b"\n".join(dump_record(r) for r in recs) + b"\n\n")
    out = tmp_path / "site"
    build(out, lines, keyring_files=(keyring_file,))
    for r in recs:
        suffix = r["pith_number"].split(":")[2]
        assert (out / f"pith/{suffix}.json").read_bytes() == dump_record(r)


def test_bad_jsonl_line_is_named(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> None:
    lines = tmp_path / "records.jsonl"
    lines.write_bytes(dump_record(make_record(test_key)) + b'\n{"a":1,"a":2}\n')
    with pytest.raises(BuildFailedError) as info:
        build(tmp_path / "site", lines, keyring_files=(keyring_file,))
    assert [(f.code, f.where) for f in info.value.failures] == [("duplicate_key", f"{lines}:2")]


def test_parallel_build_equals_serial_build(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> None:
    import random

    from generator.synth import random_record

    rng = random.Random(7)
    lines = tmp_path / "many.jsonl"
    lines.write_bytes(b"\n".join(dump_record(random_record(test_key, rng, i)) for i in range(300)))
    build(tmp_path / "one", lines, keyring_files=(keyring_file,), jobs=1)
    build(tmp_path / "two", lines, keyring_files=(keyring_file,), jobs=2)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


@pytest.mark.parametrize("case", ["root", "home", "input", "inside-input", "symlink", "foreign", "file"])
def test_unsafe_output_directories_are_refused(tmp_path: Path, case: str) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "r.json").write_bytes(SEED.read_bytes())
    target = {
        "root": Path("/"),
        "home": Path.home(),
        "input": src,
        "inside-input": src / "site",
        "symlink": tmp_path / "link",
        "foreign": tmp_path / "documents",
        "file": tmp_path / "afile",
    }[case]
    if case == "symlink":
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    if case == "foreign":
        target.mkdir()
        (target / "thesis.tex").write_text("precious")
    if case == "file":
        target.write_text("x")
    with pytest.raises(OutputError):
        build(target, src)
    if case == "foreign":
        assert (target / "thesis.tex").read_text() == "precious"


def test_second_build_at_once_is_refused(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(OutputError, match="lock"):
            build(tmp_path / "site")
    finally:
        os.close(fd)


def test_two_builds_are_byte_identical_across_environments(tmp_path: Path) -> None:
    """Different hash seed, time zone, locale and umask: the same bytes."""
    outs = []
    for i, (seed, tz, lang, umask) in enumerate(
        [("1", "UTC", "C", "022"), ("999", "Asia/Tokyo", "C.UTF-8", "077")]
    ):
        out = tmp_path / f"site{i}"
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz, "LC_ALL": lang, "PYTHONPATH": str(REPO)}
        env.pop("SOURCE_DATE_EPOCH", None)
        cmd = f"umask {umask} && {sys.executable} -m generator build -q -o {out}"
        subprocess.run(["sh", "-c", cmd], env=env, cwd=tmp_path, check=True)
        outs.append(tree(out))
    assert outs[0] == outs[1]


def test_source_date_epoch_sets_shown_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.config import load_config

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    run_build(Config(output=tmp_path / "site", source_date_epoch=cfg.source_date_epoch), progress=False)
    assert (
        json.loads((tmp_path / "site/verification.json").read_bytes())["build_time"] == "2023-11-14T22:13:20Z"
    )


def test_strict_turns_warnings_into_failures(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> None:
    rec = make_record(test_key)
    rec["paper"]["primary_cat"] = "hep-th"  # unsigned copy disagrees with the signed one
    src = tmp_path / "in"
    src.mkdir()
    (src / "r.json").write_bytes(dump_record(rec))
    build(tmp_path / "lenient", src, keyring_files=(keyring_file,))
    page = next((tmp_path / "lenient/pith").glob("[A-Z2-7]" * 26 + "/index.html")).read_text()
    assert "warning" in page and "cs.LG" in page
    with pytest.raises(BuildFailedError) as info:
        build(tmp_path / "strict", src, keyring_files=(keyring_file,), strict=True)
    assert [f.code for f in info.value.failures] == ["unsigned_field_mismatch"]


@pytest.mark.parametrize("errno_value", [28, 13])  # ENOSPC, EACCES
def test_io_fault_at_every_file_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_value: int
) -> None:
    """An I/O error at the k-th file created, for every k: old site intact, no temp files."""
    out = tmp_path / "site"
    build(out)
    before = tree(out)
    real_open = os.open
    calls = {"n": 0, "fail_at": -1}

    def flaky_open(path: StrOrBytesPath, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & os.O_CREAT:
            calls["n"] += 1
            if calls["n"] == calls["fail_at"]:
                raise OSError(errno_value, os.strerror(errno_value), str(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", flaky_open)  # generator.write calls os.open
    build(tmp_path / "count", jobs=1)
    total = calls["n"]
    assert total >= 15
    # every k for ENOSPC; a spread sample for EACCES (same code path, keeps the run short)
    ks = range(1, total + 1) if errno_value == 28 else sorted({1, 2, total // 3, total // 2, total})
    for k in ks:
        calls.update(n=0, fail_at=k)
        with pytest.raises(OutputError, match=os.strerror(errno_value)):
            build(out, jobs=1)
        assert tree(out) == before, f"site changed after a fault at write {k}"
        assert leftovers(tmp_path) == []


def test_versions_with_different_integrity_documents_fail_closed(
    tmp_path: Path, test_key: TestKey, keyring_file: Path
) -> None:
    """Two versions of one paper share /pith/{arxiv}/integrity.json: different copies are refused,
    never settled by worker timing."""
    from generator.synth import make_finding, make_integrity, mirror_files

    arxiv = "2603.00042"
    trees = []
    for version, note in ((1, "first audit"), (2, "second audit")):
        rec = make_record(test_key, arxiv_id=arxiv, version=version, title=f"Paper v{version}")
        integrity = make_integrity(test_key, arxiv, [make_finding(arxiv, note=note)])
        root = tmp_path / f"v{version}"
        for rel, data in mirror_files(test_key, rec, bundle={}, integrity=integrity).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        trees.append(root)
    with pytest.raises(BuildFailedError) as info:
        build(tmp_path / "site", *trees, keyring_files=(keyring_file,))
    assert [f.code for f in info.value.failures] == ["conflicting_copies"]
    assert f"pith/{arxiv}/integrity.json" in str(info.value.failures[0])
    # verify, which writes nothing, finds the same
    config = Config(sources=tuple(trees), output=tmp_path / "site", keyring_files=(keyring_file,))
    assert [f.code for f in run_build(config, write=False, progress=False).failures] == ["conflicting_copies"]
    # the same document beside both versions is one file, and fine
    same = trees[0] / "pith" / arxiv / "integrity.json"
    (trees[1] / "pith" / arxiv / "integrity.json").write_bytes(same.read_bytes())
    build(tmp_path / "site", *trees, keyring_files=(keyring_file,))
    assert (tmp_path / "site/pith" / arxiv / "integrity.json").read_bytes() == same.read_bytes()
