"""The size bound while reading local inputs (generator/sources/local.py): a record file larger
than ``max_record_bytes`` (``read_file``) and an over-long line of a JSON Lines file
(``_bounded_lines``) are each a typed ``too_large`` error naming the file or ``file:line``. The
build fails closed, and ``skip_invalid`` publishes the rest and reports both.

The bound comes from ``pith-mirror.toml`` (``max_record_bytes``), as a user would set it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.build import run_build
from generator.cli import main
from generator.config import load_config
from generator.errors import BuildFailedError
from generator.report import read_report
from generator.sources.local import read_file
from generator.synth import TestKey, dump_record, make_record

BOUND = 8000  # bytes; the synthetic records here are about 2.5 KB


def suffix_of(rec: dict[str, Any]) -> str:
    return str(rec["pith_number"]).split(":")[2]


def sized(rec: dict[str, Any], size: int) -> bytes:
    """``rec``, validly signed, padded by an unsigned field to exactly ``size`` bytes."""
    rec = dict(rec, padding="")
    base = len(dump_record(rec))
    assert base <= size, (base, size)
    rec["padding"] = "x" * (size - base)
    data = dump_record(rec)
    assert len(data) == size
    return data


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".staging-" in p.name or ".old-" in p.name)


def write_config(folder: Path, *, skip_invalid: bool = False) -> Path:
    path = folder / "pith-mirror.toml"
    path.write_text(
        "[mirror]\n"
        'sources = ["in"]\n'
        'output = "site"\n'
        'keyring = "keyring.json"\n'
        f"max_record_bytes = {BOUND}\n"
        "jobs = 1\n"
        f"skip_invalid = {'true' if skip_invalid else 'false'}\n"
    )
    return path


@pytest.fixture
def world(tmp_path: Path, test_key: TestKey) -> dict[str, Any]:
    """``in/`` with two good record files; the oversized inputs are added by the tests."""
    (tmp_path / "keyring.json").write_bytes(test_key.keyring_json())
    folder = tmp_path / "in"
    folder.mkdir()
    recs = [make_record(test_key, arxiv_id=f"2603.{i:05d}", title=f"Bounded paper {i}") for i in range(7)]
    for i in (0, 1):
        (folder / f"good{i}.json").write_bytes(dump_record(recs[i]))
    return {"tmp": tmp_path, "in": folder, "recs": recs}


def add_oversized(world: dict[str, Any]) -> tuple[Path, Path]:
    """An oversized (but validly signed) record file, and a JSON Lines file whose line 2 is
    over-long (several MiB, so the rest of the line is skipped in more than one read) between
    two good lines."""
    folder: Path = world["in"]
    recs = world["recs"]
    big = folder / "big.json"
    big.write_bytes(sized(recs[2], BOUND + 1))
    lines = folder / "more.jsonl"
    lines.write_bytes(
        dump_record(recs[3]) + b"\n" + sized(recs[4], 3 * 1024 * 1024) + b"\n" + dump_record(recs[5]) + b"\n"
    )
    return big, lines


def test_oversized_file_and_line_fail_closed(world: dict[str, Any]) -> None:
    tmp: Path = world["tmp"]
    cfg = load_config(write_config(tmp))
    assert cfg.max_record_bytes == BOUND
    run_build(cfg, progress=False)
    site = tmp / "site"
    before = tree(site)
    assert len([p for p in before if p.startswith("pith/") and p.count("/") == 1]) == 2

    big, lines = add_oversized(world)
    with pytest.raises(BuildFailedError) as info:
        run_build(cfg, progress=False)
    got = sorted((f.code, f.where) for f in info.value.failures)
    assert got == sorted([("too_large", str(big)), ("too_large", f"{lines}:2")])
    assert all(f"(max {BOUND})" in f.detail for f in info.value.failures)
    assert tree(site) == before
    assert leftovers(tmp) == []


def test_skip_invalid_publishes_the_rest_and_reports_both(world: dict[str, Any]) -> None:
    tmp: Path = world["tmp"]
    recs = world["recs"]
    big, lines = add_oversized(world)
    report = run_build(load_config(write_config(tmp, skip_invalid=True)), progress=False)
    assert sorted((f.code, f.where) for f in report.failures) == sorted(
        [("too_large", str(big)), ("too_large", f"{lines}:2")]
    )
    site = tmp / "site"
    for i in (0, 1, 3, 5):  # line 3 of the JSON Lines file is read after the skipped line 2
        assert (site / f"pith/{suffix_of(recs[i])}.json").read_bytes() == dump_record(recs[i])
    for i in (2, 4):
        assert not (site / f"pith/{suffix_of(recs[i])}.json").exists()
    head, entries = read_report(site)
    assert head["published"] == 4
    assert sorted((s["code"], s["where"]) for s in head["skipped"]) == sorted(
        [("too_large", str(big)), ("too_large", f"{lines}:2")]
    )
    assert {e["pith_number"] for e in entries} == {recs[i]["pith_number"] for i in (0, 1, 3, 5)}
    page = (site / "verification/index.html").read_text()
    assert page.count("too_large") >= 2 and "more.jsonl:2" in page and "big.json" in page


def test_bound_is_inclusive_for_files_and_lines(world: dict[str, Any]) -> None:
    """A record of exactly ``max_record_bytes`` is read whole (file and line); one byte more is
    too_large. A line of exactly the bound followed by CRLF is read whole too."""
    tmp: Path = world["tmp"]
    folder: Path = world["in"]
    recs = world["recs"]
    (folder / "exact.json").write_bytes(sized(recs[2], BOUND))
    (folder / "over.json").write_bytes(sized(recs[3], BOUND + 1))
    lines = folder / "edge.jsonl"
    lines.write_bytes(
        sized(recs[4], BOUND) + b"\r\n" + sized(recs[5], BOUND + 1) + b"\n" + sized(recs[6], BOUND)
    )  # the last line has no newline at all
    report = run_build(load_config(write_config(tmp, skip_invalid=True)), progress=False)
    assert sorted((f.code, f.where) for f in report.failures) == sorted(
        [("too_large", str(folder / "over.json")), ("too_large", f"{lines}:2")]
    )
    site = tmp / "site"
    assert (site / f"pith/{suffix_of(recs[2])}.json").read_bytes() == sized(recs[2], BOUND)
    assert (site / f"pith/{suffix_of(recs[4])}.json").read_bytes() == sized(recs[4], BOUND)
    assert (site / f"pith/{suffix_of(recs[6])}.json").read_bytes() == sized(recs[6], BOUND)
    assert json.loads((site / "verification.json").read_bytes())["published"] == 5


def test_command_line_names_both_and_exits_1(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp: Path = world["tmp"]
    config = write_config(tmp)
    big, lines = add_oversized(world)
    assert main(["build", "-c", str(config), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{big}: too_large" in err and f"{lines}:2: too_large" in err
    assert not (tmp / "site").exists()
    assert leftovers(tmp) == []


def test_oversized_inputs_are_read_only_up_to_the_bound(tmp_path: Path, test_key: TestKey) -> None:
    """What reaches the verifier is a bounded prefix, not the whole file or line: a 64 MiB
    (sparse) record file gives BOUND + 1 bytes, an over-long line BOUND + 2, and the line after
    it is read whole and numbered 3."""
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.write(b'{"padding": "')
        fh.truncate(64 * 1024 * 1024)
    raws = list(read_file(huge, BOUND))
    assert [(len(r.data), r.where) for r in raws] == [(BOUND + 1, str(huge))]
    assert raws[0].data.startswith(b'{"padding": "')

    good = dump_record(make_record(test_key))
    lines = tmp_path / "x.jsonl"
    lines.write_bytes(good + b"\n" + b"y" * (5 * 1024 * 1024 + 7) + b"\n" + good + b"\n")
    raws = list(read_file(lines, BOUND))
    assert [(len(r.data), r.where) for r in raws] == [
        (len(good), f"{lines}:1"),
        (BOUND + 2, f"{lines}:2"),
        (len(good), f"{lines}:3"),
    ]
    assert raws[2].data == good
