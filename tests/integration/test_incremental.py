"""Incremental builds: byte for byte a clean build, after every kind of change; fail-closed when
killed or faulted at any point (also while bringing the spare tree up to date); no hard links or
symlinks in the published tree; and the spare tree kept beside it."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from generator import build as build_module
from generator import manifest, mirror_index, report, synth
from generator.build import run_build
from generator.config import Config
from generator.errors import BuildFailedError, OutputError
from generator.identifiers import suffix_from_hash
from generator.incremental import recover_live_state, spare_path, spare_state_path, state_path
from generator.render import listings, search
from generator.render.cached import CachedPage, suffix_shard_keys
from generator.render.site import OutputFile
from generator.summaries import SummaryStore, settle
from generator.synth import dump_record, random_record
from tests.conftest import REPO

Tree = dict[str, tuple[str, bytes, int]]


def snapshot(root: Path) -> Tree:
    """Every entry under ``root``: kind, bytes (files) and permission bits."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(full).encode(), 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"", 0)
            else:
                out[rel] = ("file", full.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def assert_plain_tree(root: Path) -> None:
    """No symlinks, and every file has exactly one link."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(Path(dirpath, name))
            assert not stat.S_ISLNK(st.st_mode), f"symlink {name} in the published tree"
            if stat.S_ISREG(st.st_mode):
                assert st.st_nlink == 1, f"{Path(dirpath, name)} has {st.st_nlink} links"


def leftovers(parent: Path, name: str) -> list[str]:
    allowed = {name, f".{name}.state.sqlite", f".{name}.spare", f".{name}.spare-state.sqlite"}
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}") and p.name not in allowed)


class Inputs:
    """A folder of records, one file each, that tests add to, change and remove from."""

    def __init__(self, folder: Path, key: synth.TestKey) -> None:
        self.folder = folder
        self.key = key
        self.rng = random.Random(7)
        self.n = 0
        folder.mkdir(parents=True)

    def add(self, count: int) -> list[Path]:
        made = []
        for _ in range(count):
            rec = random_record(self.key, self.rng, self.n)
            path = self.folder / f"r{self.n:04d}.json"
            path.write_bytes(dump_record(rec))
            made.append(path)
            self.n += 1
        return made

    def change(self, path: Path, note: str) -> None:
        """New bytes for the same record: an unsigned field changes."""
        rec = json.loads(path.read_bytes())
        rec["paper"]["headline"] = note
        path.write_bytes(dump_record(rec))

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.json"))


@pytest.fixture
def setup(tmp_path: Path, test_key: synth.TestKey) -> tuple[Inputs, Path, Config]:
    keyring = tmp_path / "keyring.json"
    keyring.write_bytes(test_key.keyring_json())
    inputs = Inputs(tmp_path / "in", test_key)
    cfg = Config(
        sources=(inputs.folder,),
        output=tmp_path / "out" / "site",
        keyring_files=(keyring,),
        jobs=1,
        source_date_epoch=1767225600,
        incremental=True,
    )
    return inputs, tmp_path, cfg


def state_bytes(output: Path) -> bytes:
    """The build state's bytes but for the two header fields a switch of journal mode bumps
    (the file change counter and the version-valid-for number)."""
    data = bytearray(state_path(output).read_bytes())
    data[24:28] = data[92:96] = bytes(4)
    return bytes(data)


def clean_tree(cfg: Config, where: Path) -> Tree:
    if where.exists():
        shutil.rmtree(where)
    run_build(Config(**{**cfg.__dict__, "output": where / "site", "incremental": False}), progress=False)
    return snapshot(where / "site")


def build(cfg: Config, **kw: Any) -> dict[str, Any]:
    report = run_build(cfg, progress=False, **kw)
    return report.incremental


@pytest.mark.parametrize("jobs", [1, 2])  # with 2, the costliest site steps run in forked processes
def test_incremental_equals_clean_after_every_change(setup: tuple[Inputs, Path, Config], jobs: int) -> None:
    inputs, tmp, cfg = setup
    cfg = Config(**{**cfg.__dict__, "jobs": jobs})
    files = inputs.add(30)
    site = cfg.output

    counts = build(cfg)
    assert counts == {"inputs": 30, "carried": 0, "rebuilt": 30}
    assert snapshot(site) == clean_tree(cfg, tmp / "clean")
    assert not state_path(site).is_relative_to(site)

    # nothing changed: the live tree is left as it is
    root_ino = site.stat().st_ino
    counts = build(cfg)
    assert counts == {"unchanged": True, "inputs": 30}
    assert site.stat().st_ino == root_ino

    # added, changed and removed records, one step at a time and then together
    def change_two() -> None:
        for i in (2, 5):
            inputs.change(files[i], f"changed {i}")

    def remove_four() -> None:
        for i in (0, 7, 8, 11):
            files[i].unlink()

    def together() -> None:
        inputs.add(2)
        inputs.change(files[3], "again")
        files[4].unlink()

    steps: list[Callable[[], object]] = [lambda: inputs.add(3), change_two, remove_four, together]
    expected_rebuilt = [3, 2, 0, 3]
    for step, rebuilt in zip(steps, expected_rebuilt, strict=True):
        step()
        counts = build(cfg)
        assert counts["rebuilt"] == rebuilt
        assert counts["carried"] == len(inputs.files()) - rebuilt
        assert snapshot(site) == clean_tree(cfg, tmp / "clean")
        assert_plain_tree(site)
        assert leftovers(site.parent, site.name) == []

    # a template change rebuilds every record
    templates = tmp / "templates"
    shutil.copytree(cfg.templates_dir, templates)
    page = templates / "record.html"
    page.write_text(page.read_text().replace('<h2 id="h-ids">Identifiers</h2>', '<h2 id="h-ids">IDs</h2>'))
    cfg2 = Config(**{**cfg.__dict__, "templates_dir": templates})
    spare = spare_path(site)
    # record copies (the template does not change them) that the spare holds already (not
    # those the previous build changed: the spare is brought up to date from the live tree)
    with sqlite3.connect(state_path(site)) as live:
        delta = {str(rel) for (rel,) in live.execute("SELECT rel FROM delta_files")}
    copies = [p for p in sorted(spare.glob("pith/*.json")) if f"pith/{p.name}" not in delta]
    assert len(copies) > 20
    inodes = {p.name: p.stat().st_ino for p in copies}
    counts = build(cfg2)
    assert counts["carried"] == 0 and counts["rebuilt"] == len(inputs.files())
    # the spare became the live tree; the files whose bytes it held were not written again
    assert {p.name: p.stat().st_ino for p in site.glob("pith/*.json") if p.name in inodes} == inodes
    tree = snapshot(site)
    assert tree == clean_tree(cfg2, tmp / "clean")
    assert any(b'<h2 id="h-ids">IDs</h2>' in data for kind, data, _m in tree.values() if kind == "file")
    assert_plain_tree(site)

    # after every record was rebuilt, the state still knows which files each record owns: a
    # record that leaves takes its files with it
    files[9].unlink()
    inputs.change(files[10], "after the template change")
    counts = build(cfg2)
    assert counts["rebuilt"] == 1
    assert snapshot(site) == clean_tree(cfg2, tmp / "clean")
    assert_plain_tree(site)


def test_tampered_live_site_is_rebuilt_not_trusted(setup: tuple[Inputs, Path, Config]) -> None:
    inputs, tmp, cfg = setup
    files = inputs.add(12)
    build(cfg)
    victim = next(p for p in (cfg.output / "pith").iterdir() if p.suffix == ".json")
    victim.unlink()
    victim.write_bytes(b"{}")  # a different file where the state lists the record copy
    # nothing changed in the input, but the live tree no longer matches the state
    counts = build(cfg)
    assert counts["carried"] == 0
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
    # and when the input changed too, a stale carried file is caught while linking
    inputs.change(files[0], "x")
    victim = next(p for p in (cfg.output / "pith").iterdir() if p.suffix == ".json")
    victim.unlink()
    victim.write_bytes(b"{}")
    build(cfg)
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
    assert_plain_tree(cfg.output)


@pytest.mark.parametrize("jobs", [1, 2])
def test_injected_fault_keeps_previous_site(setup: tuple[Inputs, Path, Config], jobs: int) -> None:
    inputs, _tmp, cfg = setup
    cfg = Config(**{**cfg.__dict__, "jobs": jobs})
    files = inputs.add(10)
    build(cfg)
    before = snapshot(cfg.output)
    state_before = state_bytes(cfg.output)
    inputs.add(2)
    inputs.change(files[1], "fault")
    with pytest.raises(OutputError, match="injected fault"):
        build(cfg, fail_after=2)
    assert snapshot(cfg.output) == before
    assert state_bytes(cfg.output) == state_before
    assert leftovers(cfg.output.parent, cfg.output.name) == []
    counts = build(cfg)
    assert counts["rebuilt"] == 3


def test_failing_step_in_a_forked_process_keeps_previous_site(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site step that runs beside the others (in a forked process) and fails: the build fails
    with the step's error, the previous site and state stay, nothing is left behind."""
    inputs, _tmp, cfg = setup
    cfg = Config(**{**cfg.__dict__, "jobs": 2})
    files = inputs.add(10)
    build(cfg)
    before = snapshot(cfg.output)
    state_before = state_bytes(cfg.output)
    inputs.change(files[1], "fault")

    def full_disk(_records: object, **_options: object) -> Iterator[object]:
        raise OSError(28, "No space left on device", f"search/t/{os.getpid()}.js")
        yield  # pragma: no cover

    monkeypatch.setattr(search, "build_search", full_disk)
    with pytest.raises(OutputError, match="No space left on device") as failed:
        build(cfg)
    pid = int(str(failed.value).split("search/t/")[1].split(".js")[0])
    assert pid != os.getpid()  # the step ran in another process
    assert snapshot(cfg.output) == before
    assert state_bytes(cfg.output) == state_before
    assert leftovers(cfg.output.parent, cfg.output.name) == []
    monkeypatch.undo()
    counts = build(cfg)
    assert counts["rebuilt"] == 1
    assert snapshot(cfg.output) == clean_tree(cfg, _tmp / "clean")


def _kill_run(cfg: Config, delay: float, incremental: bool) -> int | None:
    """Run ``pith-mirror build`` in a child and SIGKILL it after ``delay`` seconds."""
    args = [
        sys.executable,
        "-m",
        "generator",
        "build",
        *map(str, cfg.sources),
        "-o",
        str(cfg.output),
        "--keyring",
        str(cfg.keyring_files[0]),
        "-q",
        "-j",
        "2",
        "--incremental" if incremental else "--no-incremental",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1767225600"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _kill_points(setup: tuple[Inputs, Path, Config], runs: int, seed: int) -> None:
    inputs, tmp, cfg = setup
    files = inputs.add(260)  # enough to use the worker pool
    rng = random.Random(seed)
    build(cfg)
    inputs.add(1)
    build(cfg)  # the first tree is now the spare
    spare = spare_path(cfg.output)
    adopting = 0
    for run in range(runs):
        incremental = run % 3 != 2
        old = snapshot(cfg.output)
        inputs.add(1)
        inputs.change(files[run], f"kill run {run}")
        new = clean_tree(cfg, tmp / "clean")
        if incremental and spare.is_dir():
            adopting += 1  # the killed build starts by adopting the spare as its staging tree
        _kill_run(cfg, rng.uniform(0.05, 2.5), incremental)
        now = snapshot(cfg.output)
        assert now in (old, new), f"run {run}: the live site is neither the old nor the new one"
        build(Config(**{**cfg.__dict__, "incremental": incremental}))
        assert snapshot(cfg.output) == new
        assert leftovers(cfg.output.parent, cfg.output.name) == []
        assert_plain_tree(cfg.output)
        if not incremental:
            assert not spare.exists()
        elif spare.exists():  # none after a kill between the swap and the state update
            assert snapshot(spare) in (old, now)
            assert_plain_tree(spare)
    assert adopting >= 1


def test_killed_builds_leave_old_or_new_site(setup: tuple[Inputs, Path, Config]) -> None:
    _kill_points(setup, runs=3, seed=1)


@pytest.mark.slow
@pytest.mark.timeout(1900)  # 50 kills, each followed by a clean and an incremental build
def test_killed_builds_many_points(setup: tuple[Inputs, Path, Config]) -> None:
    _kill_points(setup, runs=50, seed=2)


def test_output_independent_of_environment(setup: tuple[Inputs, Path, Config]) -> None:
    """Byte-identical trees under different hash seeds, time zones, locales and umasks."""
    inputs, tmp, cfg = setup
    inputs.add(20)
    trees = []
    for i, (seed, tz, lc, umask) in enumerate(
        [("0", "UTC", "C", "022"), ("12345", "Asia/Kathmandu", "C.UTF-8", "077")]
    ):
        out = tmp / f"env{i}" / "site"
        code = (
            f"import os; os.umask(0o{umask}); from generator.cli import main; "
            f"raise SystemExit(main(['build', '{inputs.folder}', '-o', '{out}', "
            f"'--keyring', '{cfg.keyring_files[0]}', '-q', '-j', '2', '--incremental']))"
        )
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz, "LC_ALL": lc, "PYTHONPATH": str(REPO)}
        env.pop("SOURCE_DATE_EPOCH", None)
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        trees.append({k: (kind, data) for k, (kind, data, _mode) in snapshot(out).items()})
        modes = {m for kind, _d, m in snapshot(out).values() if kind == "file"}
        assert modes == {0o644}
    assert trees[0] == trees[1]


def test_without_paper_pages(setup: tuple[Inputs, Path, Config]) -> None:
    inputs, tmp, cfg = setup
    inputs.add(5)
    cfg = Config(**{**cfg.__dict__, "paper_pages": False})
    build(cfg)
    tree = snapshot(cfg.output)
    assert not any(rel.startswith("paper/") or rel == "paper" for rel in tree)
    assert len([rel for rel in tree if rel.startswith("pith/") and rel.endswith(".json")]) == 5
    assert tree == clean_tree(cfg, tmp / "clean")


# -- the spare tree ------------------------------------------------------------------------
Inodes = dict[str, int]


def inodes(root: Path) -> Inodes:
    out: Inodes = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = Path(dirpath, name)
            out[full.relative_to(root).as_posix()] = os.lstat(full).st_ino
    return out


def record_files(site: Path, suffix: str) -> list[str]:
    """The files of one record in the default layout (its copy and its page)."""
    return [f"pith/{suffix}.json", f"pith/{suffix}/index.html"]


def _suffix(path: Path) -> str:
    """The SUFFIX of the record in an input file."""
    rec = json.loads(path.read_bytes())
    return suffix_from_hash(rec["canonical_sha256"])


def test_spare_adopted_and_updated_in_place(setup: tuple[Inputs, Path, Config]) -> None:
    inputs, tmp, cfg = setup
    files = inputs.add(20)
    site = cfg.output
    spare = spare_path(site)

    build(cfg)
    assert not spare.exists() and not spare_state_path(site).exists()  # no previous tree yet
    first = snapshot(site)
    first_ino = inodes(site)

    inputs.change(files[1], "changed once")
    build(cfg)
    second = snapshot(site)
    second_ino = inodes(site)
    # the previous tree is kept whole beside the site, outside it; the live state names it
    assert snapshot(spare) == first
    assert not spare_state_path(site).exists()
    assert not spare.resolve().is_relative_to(site.resolve())
    assert not any(p.name.endswith(".spare") or "spare" in p.name for p in site.rglob("*"))
    assert_plain_tree(site)
    assert_plain_tree(spare)  # one link each: no file is shared between the trees

    spare_root = spare.stat().st_ino
    removed = files[4]
    removed_suffix = _suffix(removed)
    changed_suffix = _suffix(files[2])
    removed.unlink()
    inputs.change(files[2], "changed twice")
    counts = build(cfg)
    assert counts["rebuilt"] == 1 and counts["carried"] == 18
    # the spare became the new live tree, and the tree it replaced is the new spare
    assert site.stat().st_ino == spare_root
    assert snapshot(spare) == second
    assert snapshot(site) == clean_tree(cfg, tmp / "clean")
    assert_plain_tree(site)
    assert_plain_tree(spare)
    assert leftovers(site.parent, site.name) == []
    now_ino = inodes(site)
    tree = snapshot(site)

    # the removed record's files are gone
    for rel in record_files(site, removed_suffix):
        assert rel not in tree
    assert not (site / "pith" / removed_suffix).exists()
    # the changed record's files are new files
    for rel in record_files(site, changed_suffix):
        assert now_ino[rel] != first_ino[rel]
    # files with the same bytes in all three builds were neither written nor copied: the
    # spare's files stayed where they were (record files and site-wide pages alike)
    same = [
        rel
        for rel, (kind, data, _m) in first.items()
        if kind == "file" and rel in tree and second.get(rel) == first[rel] == tree[rel]
    ]
    kept_pages = [rel for rel in same if not rel.startswith(("pith/", "paper/"))]
    assert kept_pages, "some site-wide file should be unchanged"
    # (except the files of the record rebuilt now, and robots.txt, which two site steps write)
    rewritten = [rel for rel in same if now_ino[rel] != first_ino[rel]]
    assert rewritten
    assert all(changed_suffix[:8] in rel or rel == "robots.txt" for rel in rewritten), rewritten
    assert len(same) - len(rewritten) > 100
    # a file changed in the previous build only came from the live tree as a copy: new inode
    once_suffix = _suffix(files[1])
    for rel in record_files(site, once_suffix):
        assert now_ino[rel] not in (first_ino[rel], second_ino[rel])


def test_missing_or_tampered_spare_falls_back(setup: tuple[Inputs, Path, Config]) -> None:
    inputs, tmp, cfg = setup
    files = inputs.add(15)
    site = cfg.output
    spare = spare_path(site)
    build(cfg)

    def step(i: int) -> None:
        inputs.change(files[i], f"step {i}")
        build(cfg)
        assert snapshot(site) == clean_tree(cfg, tmp / "clean")
        assert_plain_tree(site)
        assert leftovers(site.parent, site.name) == []

    step(0)
    assert spare.is_dir()

    # files of the spare changed by hand: a different size, a symlink, a directory, missing
    page = next(p for p in (spare / "pith").iterdir() if p.suffix == ".json")
    page.write_bytes(page.read_bytes() + b" ")
    other = sorted(p for p in (spare / "pith").iterdir() if p.suffix == ".json")[-1]
    other.unlink()
    other.symlink_to("/etc/hostname")
    index = spare / "index.html"
    index.unlink()
    index.mkdir()
    (index / "x").write_bytes(b"x")
    (spare / "verification.json").unlink()
    step(1)

    # a spare the live state does not name (a copy of it: another inode) is not used
    copy = tmp / "copy"
    shutil.copytree(spare, copy, symlinks=True)
    shutil.rmtree(spare)
    copy.rename(spare)
    step(2)

    # a spare is not used when the live state does not list what its build changed
    db = sqlite3.connect(state_path(site))
    with db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'delta_valid'")
    db.close()
    step(3)

    # no spare at all
    shutil.rmtree(spare)
    step(4)
    assert spare.is_dir()

    # a symlink in place of the spare is removed, never followed
    target = tmp / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"keep")
    shutil.rmtree(spare)
    spare.symlink_to(target)
    step(5)
    assert (target / "keep.txt").read_bytes() == b"keep"
    assert spare.is_dir() and not spare.is_symlink()


def test_clean_build_keeps_no_spare(setup: tuple[Inputs, Path, Config]) -> None:
    inputs, _tmp, cfg = setup
    files = inputs.add(6)
    build(cfg)
    inputs.change(files[0], "x")
    build(cfg)
    assert spare_path(cfg.output).is_dir()
    build(Config(**{**cfg.__dict__, "incremental": False}))
    assert not spare_path(cfg.output).exists()
    assert not spare_state_path(cfg.output).exists()
    # the next incremental build does not trust the state of a tree the clean build replaced
    inputs.change(files[1], "y")
    counts = build(cfg)
    assert counts["carried"] == 0
    assert state_path(cfg.output).is_file()
    for p in cfg.output.rglob("*"):
        assert not stat.S_ISLNK(os.lstat(p).st_mode)


def _listing_pages(site: Path) -> dict[str, bytes]:
    """The files written as cached pages: listing pages and resolver shards."""
    listings = [p for p in (site / "browse").rglob("index.html") if p.parent != site / "browse"]
    shards = [p for sub in ("arxiv", "pith") for p in (site / "resolve" / sub).rglob("*.js*")]
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in listings + shards}


def _search_shards(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in (site / "search").glob("[dt]/*.js")}


def _report_shards(site: Path) -> dict[str, bytes]:
    """The report's and the mirror index's shards (cached pages keyed by their records)."""
    found = [p for p in (site / "verification").glob("*.*") if p.name != "index.html"]
    found += [p for p in (site / "mirror-index").glob("*.json") if p.name != "index.json"]
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in found}


@pytest.mark.parametrize("jobs", [1, 2])  # with 2, the listing and search steps run in forked processes
def test_unchanged_listing_pages_are_kept_not_rendered(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    inputs, tmp, cfg = setup
    cfg = Config(**{**cfg.__dict__, "page_size": 4, "jobs": jobs})
    files = inputs.add(40)
    first = run_build(cfg, progress=False)
    assert first.kept_pages == 0
    before = _listing_pages(cfg.output)
    assert len(before) > 20
    shards = _search_shards(cfg.output)  # search document and term shards are cached pages too
    assert len(shards) > 10

    # an unsigned field no listing shows: every listing page is kept
    assert len(_report_shards(cfg.output)) >= 2  # the report's shards are cached pages too

    def no_postings(*_args: object) -> None:
        raise AssertionError("search postings or listing keys were made although nothing they show changed")

    for n, note in enumerate(("a new headline", "another headline")):
        inputs.change(files[6], note)
        with monkeypatch.context() as m:
            m.setattr(search.Postings, "add_document", no_postings)
            m.setattr(listings, "cached_listing_pages", no_postings)  # nor a listing page keyed
            again = run_build(cfg, progress=False)
        # every report shard but the changed record's (its JSON and its page), and every
        # mirror-index shard but the changed record's
        kept_reports = len(_report_shards(cfg.output)) - 3
        # browse/, search/ and resolve/ are kept whole (no record's category, time, list item,
        # document, terms or ids changed): their listing pages and shards and their other files
        # but the pages their steps render each build (browse/, search/ and resolve/index.html):
        # search/manifest.js, resolve/index.json and resolve/shards.js
        assert again.kept_pages == len(before) + len(shards) + kept_reports + 3, n
        assert _listing_pages(cfg.output) == before
        assert _search_shards(cfg.output) == shards
        assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")

    # a new record: the pages of its category and month that shift are rendered, the rest kept
    (new,) = inputs.add(1)
    added = run_build(cfg, progress=False)
    prefix = _suffix(new)[:2]
    kept_reports = sum(1 for rel in _report_shards(cfg.output) if Path(rel).stem != prefix)
    after = _listing_pages(cfg.output)
    changed = {rel for rel in after if before.get(rel) != after[rel]}
    same_shards = [rel for rel, data in _search_shards(cfg.output).items() if shards.get(rel) == data]
    assert changed and added.kept_pages == len(after) - len(changed) + len(same_shards) + kept_reports
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
    assert_plain_tree(cfg.output)


def test_listing_rows_hold_every_field_the_templates_show() -> None:
    """A listing page is kept when its rows are unchanged: every field the record list shows
    must therefore be in the row (``generator.columns.Row``)."""
    import re

    from generator.columns import Row

    text = (REPO / "templates" / "_record_row.html").read_text()
    shown = set(re.findall(r"\bs\.(\w+)", text))
    assert shown and shown <= set(Row._fields)


def test_spare_with_a_file_where_a_directory_is_needed(setup: tuple[Inputs, Path, Config]) -> None:
    """The new build needs a directory where the spare holds a file: the file goes."""
    inputs, tmp, cfg = setup
    files = inputs.add(5)
    build(cfg)
    inputs.change(files[0], "x")
    build(cfg)
    (new,) = inputs.add(1)
    suffix = _suffix(new)
    spare = spare_path(cfg.output)
    (spare / "pith" / suffix).write_bytes(b"a file of the spare")
    counts = build(cfg)
    assert counts["rebuilt"] == 1
    assert (cfg.output / "pith" / suffix / "index.html").is_file()
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")


def test_new_copy_conflicting_with_a_carried_record(setup: tuple[Inputs, Path, Config]) -> None:
    """A new input with other bytes for a record the previous build published (carried, its
    summary still in the previous state) is a conflict: both copies are refused, the build
    fails closed, and with --skip-invalid the site is a clean build's without that record."""
    inputs, tmp, cfg = setup
    files = inputs.add(12)
    build(cfg)
    before = snapshot(cfg.output)
    twin = inputs.folder / "twin.json"
    twin.write_bytes(files[4].read_bytes())
    inputs.change(twin, "another copy")
    with pytest.raises(BuildFailedError) as err:
        run_build(cfg, progress=False)
    assert [f.code for f in err.value.failures] == ["conflicting_copies"]
    assert "twin.json" in err.value.failures[0].detail
    assert snapshot(cfg.output) == before  # nothing published
    skipping = Config(**{**cfg.__dict__, "skip_invalid": True})
    report = run_build(skipping, progress=False)
    assert len(report.published) == 11
    assert snapshot(cfg.output) == clean_tree(skipping, tmp / "clean")
    assert_plain_tree(cfg.output)


@pytest.mark.parametrize("retain", [0, 1000])
def test_inputs_are_read_once_or_again_past_the_bound(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch, retain: int
) -> None:
    """The scan keeps new inputs in memory up to a bound (and the build reads them once); past
    it the build reads the inputs again. Both give a clean build's tree."""
    from generator import scan, sources

    inputs, tmp, cfg = setup
    files = inputs.add(12)
    build(cfg)
    monkeypatch.setattr(scan, "RETAIN_RECORDS", retain)
    reads = []
    real = sources.local.read_file

    def counting(path: Path, max_bytes: int = 0) -> Any:
        reads.append(path)
        return real(path, max_bytes) if max_bytes else real(path)

    monkeypatch.setattr(sources.local, "read_file", counting)
    for i in (1, 5):
        inputs.change(files[i], f"changed {i}")
    inputs.add(1)
    counts = build(cfg)
    assert counts["rebuilt"] == 3 and counts["carried"] == 10
    assert len(reads) == (13 if retain else 26)
    monkeypatch.undo()
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
    assert leftovers(cfg.output.parent, cfg.output.name) == []


def test_unchanged_input_files_are_not_read_again(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the same input files (path, size, times, inode) nothing is read; a file rewritten
    with its old modification time put back still has a new change time, and is read."""
    from generator import sources

    inputs, tmp, cfg = setup
    files = inputs.add(6)
    build(cfg)
    reads: list[Path] = []
    real = sources.local.read_file

    def counting(path: Path, max_bytes: int = 0) -> Any:
        reads.append(path)
        return real(path, max_bytes) if max_bytes else real(path)

    monkeypatch.setattr(sources.local, "read_file", counting)
    assert build(cfg) == {"unchanged": True, "inputs": 6}
    assert reads == []
    os.utime(files[2])  # the same bytes, a new time: read, and still nothing to rebuild
    assert build(cfg) == {"unchanged": True, "inputs": 6}
    assert len(reads) == 6
    st = files[3].stat()
    inputs.change(files[3], "changed, old time put back")
    os.utime(files[3], ns=(st.st_atime_ns, st.st_mtime_ns))
    reads.clear()
    counts = build(cfg)
    assert len(reads) >= 6 and counts.get("unchanged") is None
    monkeypatch.undo()
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")


def _die_after_writing(state: Path, publishing: Path | None) -> None:
    """In a forked child: do what a build does to the live state (write-ahead log, the
    previous snapshot pinned, a change committed) and die without closing anything, as a
    build killed there would; with ``publishing``, after creating the publishing marker."""
    pid = os.fork()
    if pid == 0:
        try:
            live = sqlite3.connect(str(state), isolation_level=None)
            live.execute("PRAGMA journal_mode=WAL")
            live.execute("PRAGMA wal_autocheckpoint=0")
            pin = sqlite3.connect(f"file:{state}?mode=ro", uri=True, isolation_level=None)
            pin.execute("BEGIN")
            pin.execute("SELECT count(*) FROM meta").fetchone()
            live.execute("BEGIN")
            live.execute("UPDATE meta SET value = 'written' WHERE key = 'inputs'")
            live.execute("DELETE FROM delta_files")
            live.execute("COMMIT")
            if publishing is not None:
                publishing.touch()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def test_a_killed_build_leaves_the_live_state_as_it_was(setup: tuple[Inputs, Path, Config]) -> None:
    """The live state is updated in place, in its write-ahead log: a build killed after
    committing there (before publishing) leaves a log that the next build throws away, and
    finds the previous state, byte for byte; one killed while publishing (its marker there)
    leaves a log that is replayed."""
    inputs, _tmp, cfg = setup
    inputs.add(4)
    build(cfg)
    state = state_path(cfg.output)
    before = state_bytes(cfg.output)
    _die_after_writing(state, None)
    assert Path(f"{state}-wal").stat().st_size > 0
    recover_live_state(cfg.output)
    assert state_bytes(cfg.output) == before
    assert leftovers(cfg.output.parent, cfg.output.name) == []
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT value FROM meta WHERE key = 'inputs'").fetchone()[0] != "written"

    marker = cfg.output.parent / f".{cfg.output.name}.state-publishing"
    _die_after_writing(state, marker)
    recover_live_state(cfg.output)
    assert leftovers(cfg.output.parent, cfg.output.name) == []
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT value FROM meta WHERE key = 'inputs'").fetchone()[0] == "written"
        assert db.execute("SELECT count(*) FROM delta_files").fetchone()[0] == 0


def test_manifest_chunks_of_another_tree_are_not_reused(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest's kept chunks are reused only when the state says they describe the tree
    it names (``chunks_root``): a state published by a build that did not keep them (an older
    version) has its chunks made again, whatever they hold."""
    inputs, tmp, cfg = setup
    defaults = manifest.table_manifest_chunks.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "rows", 4)  # many chunks, most untouched by one change
    files = inputs.add(12)
    build(cfg)
    state = state_path(cfg.output)
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM manifest_chunks").fetchone()[0] >= 1
        db.execute("UPDATE manifest_chunks SET hashed = x'00', listed = x'00'")
        db.execute("UPDATE meta SET value = 'another tree' WHERE key = 'chunks_root'")
    db.close()
    inputs.change(files[3], "chunks")
    build(cfg)
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")


def test_shards_keyed_again_only_where_a_build_touched(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``settle`` names the SUFFIXes whose record a build added, replaced or removed; the report
    and mirror-index shards none of them falls in keep the key the previous build wrote them
    under (read, not made again), and that key is the one made from every row."""
    inputs, _tmp, cfg = setup
    files = inputs.add(12)
    build(cfg)
    state = state_path(cfg.output)
    with sqlite3.connect(state) as db:
        suffix_at = {str(w): str(s) for s, w in db.execute("SELECT suffix, where_ FROM places")}
    db.close()
    seen: list[frozenset[str] | None] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = settle(*args, **kwargs)
        seen.append(out.touched)
        return out

    monkeypatch.setattr(build_module, "settle", spy)
    inputs.change(files[2], "touched")
    files[5].unlink()
    (added,) = inputs.add(1)
    build(cfg)
    with sqlite3.connect(state) as db:
        suffix_at.update({str(w): str(s) for s, w in db.execute("SELECT suffix, where_ FROM places")})
        assert seen == [frozenset(suffix_at[str(f)] for f in (files[2], files[5], added))]

        steps = [
            ("report", "report_sha256", report.SHARD_LEN, report.shard_json),
            ("mirror-index", "mindex_sha256", mirror_index.PREFIX_LEN, mirror_index.shard_path),
        ]
        for kind, column, size, path_of in steps:
            every = list(suffix_shard_keys(db, kind, column, size, path_of, None))
            assert len(every) >= 5
            assert list(suffix_shard_keys(db, kind, column, size, path_of, frozenset())) == every
            prefix, count, _key = every[0]
            db.execute("UPDATE page_keys SET key = 'kept' WHERE rel = ?", (path_of(prefix),))
            kept = list(suffix_shard_keys(db, kind, column, size, path_of, frozenset()))
            assert kept == [(prefix, count, "kept"), *every[1:]]
            a_suffix = db.execute("SELECT min(suffix) FROM summaries").fetchone()[0]
            assert list(suffix_shard_keys(db, kind, column, size, path_of, frozenset([a_suffix]))) == every
        db.rollback()
    db.close()


def test_mirror_index_looks_up_each_held_shard_once(setup: tuple[Inputs, Path, Config]) -> None:
    """With nothing touched, every mirror-index shard is one the previous build wrote under its
    key: the top takes each one's size and SHA-256 from the file list (no shard is made again),
    with one page_keys lookup a shard besides one for all of them, and is the published top."""
    inputs, _tmp, cfg = setup
    inputs.add(12)
    build(cfg)
    statements: list[str] = []
    with sqlite3.connect(state_path(cfg.output)) as db:
        db.set_trace_callback(statements.append)
        ctx = SimpleNamespace(records=SummaryStore(db), touched=frozenset())
        *shards, top = mirror_index.mirror_index_files(ctx)
    db.close()
    assert len(shards) >= 5 and all(isinstance(s, CachedPage) for s in shards)
    assert isinstance(top, OutputFile) and top.data == (cfg.output / mirror_index.TOP).read_bytes()
    assert not [s for s in statements if "mindex FROM summaries" in s]
    assert len([s for s in statements if "page_keys" in s]) == len(shards) + 1


@pytest.mark.parametrize("in_memory", [True, False])
def test_places_follow_inputs_that_moved(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch, in_memory: bool
) -> None:
    """A carried record read from another line or file now has that place in the state, as a
    build from nothing gives it: found by the input scan when the previous keys fit in memory,
    else by ``settle`` from the carried inputs."""
    from generator import incremental

    inputs, tmp, cfg = setup
    rng = random.Random(3)
    lines = [dump_record(random_record(inputs.key, rng, n)) + b"\n" for n in range(9)]
    folder = tmp / "lines"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"".join(lines[:6]))
    (folder / "b.jsonl").write_bytes(b"".join(lines[6:8]))
    cfg = Config(**{**cfg.__dict__, "sources": (folder,)})
    build(cfg)
    if not in_memory:
        monkeypatch.setattr(incremental, "KNOWN_IN_MEMORY", 1)
    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("moved"))
        return settle(*args, **kwargs)

    monkeypatch.setattr(build_module, "settle", spy)
    # a new first line shifts a.jsonl; a record moves from b.jsonl to the end of a.jsonl
    (folder / "a.jsonl").write_bytes(lines[8] + b"".join(lines[:6]) + lines[7])
    (folder / "b.jsonl").write_bytes(lines[6])
    counts = build(cfg)
    assert counts["rebuilt"] == 1 and counts["carried"] == 8
    if in_memory:
        assert seen[0] is not None and len(seen[0]) == 7  # six shifted lines and the moved record
    else:
        assert seen == [None]
    monkeypatch.undo()

    def places(output: Path) -> list[tuple[str, str]]:
        with sqlite3.connect(state_path(output)) as db:
            rows = [(str(s), str(w)) for s, w in db.execute("SELECT suffix, where_ FROM places ORDER BY 1")]
        db.close()
        return rows

    fresh = Config(**{**cfg.__dict__, "output": tmp / "fresh" / "site"})
    build(fresh)
    assert places(cfg.output) == places(fresh.output)
    assert len(places(cfg.output)) == 9
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")


def test_resolver_and_search_kept_without_digests_when_no_identity_changed(
    setup: tuple[Inputs, Path, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record whose bytes changed but whose ids, time, document and terms did not leaves the
    resolver and the search index as they were: both are kept without digesting every record
    (``SiteContext.unchanged``); a record added or removed makes them digest again."""
    from generator.render import resolve

    inputs, tmp, cfg = setup
    files = inputs.add(10)
    build(cfg)
    calls: list[str] = []
    for module, name in ((resolve, "shards_digest"), (search, "index_digest")):
        real = getattr(module, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(module, name, counted)
    inputs.change(files[3], "a new headline")
    assert build(cfg)["rebuilt"] == 1
    assert calls == []
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
    files[4].unlink()
    calls.clear()
    build(cfg)
    assert sorted(calls) == ["index_digest", "shards_digest"]
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
    # past the bound of rows kept in memory the build does not compare: it digests again
    from generator import summaries

    monkeypatch.setattr(summaries, "TOUCHED_IN_MEMORY", 0)
    monkeypatch.setattr(build_module, "TOUCHED_IN_MEMORY", 0)
    inputs.change(files[3], "past the bound")
    calls.clear()
    assert build(cfg)["rebuilt"] == 1
    assert sorted(calls) == ["index_digest", "shards_digest"]
    assert snapshot(cfg.output) == clean_tree(cfg, tmp / "clean")
