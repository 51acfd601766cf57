"""``pith-mirror bench`` at a small N: every measurement it promises runs, and its figures agree
with each other and with the tree it built."""

from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import pytest

from generator import bench
from generator.build import CPU_PARTS, SERIAL_BELOW, run_build
from generator.synth import TestKey
from tests.integration.test_build_faults import make_site


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
    # the build's CPU time by part adds up to the whole; each part of the per-record stage took
    # some; with pages and columns free the ratio can only be lower than it is
    parts = r["build_cpu_parts"]
    assert set(parts) == {*(f"record {k}" for k in CPU_PARTS), "other child processes", "main process"}
    assert all(parts[f"record {k}"] > 0 for k in CPU_PARTS) and parts["main process"] > 0
    assert sum(parts.values()) == pytest.approx(r["full_cpu_seconds"], rel=0.02)
    free = parts["record render"] + parts["record columns"]
    assert r["build_over_floor_cpu_bound"] == pytest.approx(
        (r["full_cpu_seconds"] - free) / r["floor_cpu_seconds"], rel=0.02
    )
    assert r["build_over_floor_cpu_bound"] < r["build_over_floor_cpu"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_build_reports_the_cpu_time_of_each_part_of_the_record_stage(
    tmp_path: Path, test_key: TestKey, jobs: int
) -> None:
    """``BuildReport.record_cpu``: every part of the per-record stage is timed, in this process
    or in the pool's workers, and together they are no more than the CPU time the build used."""
    site = make_site(tmp_path, test_key, jobs=jobs, incremental=False)
    site.add(SERIAL_BELOW)
    before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    report = run_build(site.cfg, progress=False)
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    used = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before, strict=True))
    assert report.pooled is (jobs > 1)
    assert list(report.record_cpu) == list(CPU_PARTS)
    assert all(v > 0 for v in report.record_cpu.values()), report.record_cpu
    assert sum(report.record_cpu.values()) <= used


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


def test_bench_removes_no_tree_between_measures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Removing a large tree slows the next file creates for minutes (ext4 skips recently freed
    inodes): trees are moved aside while measuring, and removed once, at the end."""
    work = tmp_path / "work"
    old_site = work / "site-24"
    old_site.mkdir(parents=True)
    (old_site / "left-by-an-earlier-run.html").write_text("x")
    (work / "trash" / "site-24").mkdir(parents=True)  # a killed run's trash
    removed: list[Path] = []
    real_rmtree = shutil.rmtree

    def rmtree(path: Path, *args: object, **kwargs: object) -> None:
        removed.append(Path(path))
        real_rmtree(path)

    monkeypatch.setattr(shutil, "rmtree", rmtree)  # generator.bench calls shutil.rmtree
    figures = tmp_path / "figures.json"
    assert bench.main(["24", "--work", str(work), "-j", "2", "--no-incremental", "--json", str(figures)]) == 0
    # once for what the earlier run left, once after the measures: the trash, and nothing else
    assert removed == [work / "trash", work / "trash"]
    assert not (work / "trash").exists() and not old_site.exists()
    note = json.loads((work / ".last-removal").read_text())
    assert note["entries"] > 24 * 4  # the run's own trees: two sites and two floor trees
    r = json.loads(figures.read_text())
    assert 0 < r["full_kernel_seconds"] < r["full_cpu_seconds"]
    assert 0 < r["floor_kernel_seconds"] < r["floor_cpu_seconds"]
    assert r["settle_seconds"] == 0  # the earlier runs left three entries, too few to wait for


def test_settle_waits_out_a_recent_large_removal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)  # generator.bench calls time.sleep
    monkeypatch.setattr(bench, "SETTLE_MIN_ENTRIES", 10)
    trash = bench.Trash(tmp_path)
    assert trash.settle(60) == 0  # nothing removed yet
    for count in (3, 12):
        tree = tmp_path / f"tree-{count}"
        tree.mkdir()
        for i in range(count - 1):
            (tree / str(i)).write_text("x")
        trash.move(tree)
        assert not tree.exists() and (tmp_path / "trash").is_dir()
        assert trash.empty() == count  # the files and the tree's own directory
        assert not (tmp_path / "trash").exists()
        waited = trash.settle(60)
        if count < 10:
            assert waited == 0 and slept == []
        else:
            assert 55 < waited <= 60 and slept == [waited]
    assert trash.settle(0) == 0  # --settle 0
    assert trash.empty() == 0  # an empty trash leaves the note as it was
    assert json.loads((tmp_path / ".last-removal").read_text())["entries"] == 12
