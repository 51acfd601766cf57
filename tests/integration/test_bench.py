"""``pith-mirror bench`` at a small N: every measurement it promises runs, and its figures agree
with each other and with the tree it built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import bench


def test_bench_figures_describe_the_tree_it_built(tmp_path: Path) -> None:
    work = tmp_path / "work"
    figures = tmp_path / "figures.json"
    args = ["24", "--work", str(work), "-j", "2", "--no-single", "--no-incremental", "--keep"]
    assert bench.main([*args, "--json", str(figures)]) == 0
    r = json.loads(figures.read_text())
    files, dirs = bench.tree_files(work / "site-24")
    assert r["n"] == 24 and r["jobs"] == 2
    assert r["output_files"] == len(files) and r["output_dirs"] == dirs
    assert r["output_bytes"] == sum(size for _rel, size in files)
    assert r["output_files"] >= 24 * 4  # a page, a record copy and two short-number pages each
    assert r["floor_seconds"] > 0 and r["full_seconds"] > 0
    assert r["build_over_floor"] == pytest.approx(r["full_seconds"] / r["floor_seconds"])
    assert 0 < r["peak_main_mib"] <= r["peak_sum_mib"]


def test_bench_measures_every_stage_at_a_small_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    figures = tmp_path / "figures.json"
    assert bench.main(["24", "--work", str(work), "-j", "2", "--json", str(figures)]) == 0
    out = capsys.readouterr().out
    for line in (
        "inputs: 24 records",
        "full build, 2 core(s)",
        "floor, 2 core(s)",
        "build/floor",
        "full build, 1 core",
        "rebuild, nothing changed",
        "rebuild, one record changed (the first after a fresh build",
        "rebuild, one record added",
        "rebuild, another record changed (steady state",
    ):
        assert line in out, line
    r = json.loads(figures.read_text())
    assert r["speedup"] == pytest.approx(r["one_core_seconds"] / r["full_seconds"])
    # the rebuilds: nothing rebuilt, then one record each time
    detail = r["incremental_detail"]
    assert detail["unchanged"]["unchanged"] is True
    assert detail["changed"]["rebuilt"] == 1 and detail["changed"]["carried"] == 23
    assert detail["added"]["rebuilt"] == 1 and detail["added"]["inputs"] == 25
    assert detail["another changed"]["rebuilt"] == 1
    # without --keep no site is left; the generated inputs stay, cached by N and seed
    assert not (work / "site-24").exists()
    assert sorted(p.name for p in (work / "inputs").iterdir()) == ["bench-keyring.json", "records-24-1.jsonl"]
