"""Faults injected into a build over an existing good site, in clean and incremental mode, with
one process and with forked workers: the re-check of the record copies before the swap, an
exception while rendering a record or a site-wide page, a full disk part-way through a file,
and a swap that fails at publish.

Every case asserts the promises of RELIABILITY.md for a failed build: a typed error (or the
exception itself) reaches the caller, the live site is byte for byte the previous one (the
build state too, in incremental mode), and nothing is left beside the output but what a
successful build leaves there."""

from __future__ import annotations

import errno
import os
import random
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from generator import build as build_module
from generator import write as write_module
from generator.build import SERIAL_BELOW, run_build
from generator.config import Config
from generator.errors import BuildFailedError, OutputError
from generator.incremental import drop_spare, spare_path
from generator.paths import record_json
from generator.render.site import Renderer
from generator.synth import TestKey, dump_record, random_record
from tests.integration.test_incremental import state_bytes

Tree = dict[str, tuple[str, bytes, int]]

# enough new records for one build to send them through the worker pool when jobs > 1
POOLED = SERIAL_BELOW


def snapshot(root: Path) -> Tree:
    """Every entry under ``root``: kind, bytes (files, symlink targets) and permission bits."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = os.lstat(full)
            rel = full.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(full).encode(), 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", full.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def suffix_of(rec: dict[str, Any]) -> str:
    return str(rec["pith_number"]).split(":")[2]


@dataclass
class Site:
    """A good site built from ``inputs``; ``add`` puts more records there for the next build."""

    tmp: Path
    inputs: Path
    cfg: Config
    key: TestKey
    rng: random.Random
    n: int = 0

    @property
    def out(self) -> Path:
        return self.cfg.output

    def add(self, count: int) -> list[dict[str, Any]]:
        made = []
        for _ in range(count):
            rec = random_record(self.key, self.rng, self.n)
            (self.inputs / f"r{self.n:05d}.json").write_bytes(dump_record(rec))
            made.append(rec)
            self.n += 1
        return made

    def build(self) -> None:
        run_build(self.cfg, progress=False)

    def listing(self) -> set[str]:
        return set(os.listdir(self.out.parent))


def make_site(tmp: Path, key: TestKey, *, jobs: int, incremental: bool, records: int = 8) -> Site:
    """A good site of ``records`` records. In incremental mode it is built twice (one more
    record the second time), so that the previous tree is kept as the spare."""
    inputs = tmp / "in"
    inputs.mkdir()
    keyring = tmp / "keyring.json"
    keyring.write_bytes(key.keyring_json())
    cfg = Config(
        sources=(inputs,),
        output=tmp / "out" / "site",
        keyring_files=(keyring,),
        jobs=jobs,
        source_date_epoch=1767225600,
        incremental=incremental,
    )
    site = Site(tmp, inputs, cfg, key, random.Random(11))
    site.add(records)
    site.build()
    if incremental:
        site.add(1)
        site.build()
    # what a successful build leaves beside the output, and nothing else
    normal = {"site", ".site.state.sqlite", ".site.spare"} if incremental else {"site"}
    assert site.listing() == normal
    return site


@dataclass
class Before:
    tree: Tree
    listing: set[str]
    state: bytes | None


def before(site: Site) -> Before:
    state = state_bytes(site.out) if site.cfg.incremental else None
    return Before(snapshot(site.out), site.listing(), state)


def assert_untouched(site: Site, was: Before) -> None:
    """The live site and its state are the previous ones; beside them, nothing new: a failed
    incremental build may only have used up the spare (it becomes the staging tree)."""
    assert snapshot(site.out) == was.tree, "the live site changed"
    now = site.listing()
    assert now <= was.listing, f"left beside the output: {sorted(now - was.listing)}"
    spare = {spare_path(site.out).name} if site.cfg.incremental else set()
    assert was.listing - now <= spare, f"removed beside the output: {sorted(was.listing - now - spare)}"
    if was.state is not None:
        assert state_bytes(site.out) == was.state, "the build state changed"


def flip(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


class Where:
    """Notes the ids of the processes in which an injected fault fired (in a file: forked
    workers write there too)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def note(self) -> None:
        with open(self.path, "a") as fh:
            fh.write(f"{os.getpid()}\n")

    def pids(self) -> list[int]:
        return [int(x) for x in self.path.read_text().split()] if self.path.exists() else []


MODES = [
    pytest.param(1, False, id="clean-j1"),
    pytest.param(2, False, id="clean-j2"),
    pytest.param(1, True, id="incremental-j1"),
    pytest.param(2, True, id="incremental-j2"),
]


# -- A: the re-check of the record copies before the swap -------------------------------------
# with jobs=2 the worker pool sends the typed errors back pickled (errors.RecordError.__reduce__)
TYPED_MODES = MODES


def _flip_one_copy(
    site: Site, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> tuple[pytest.ExceptionInfo[Exception], str, dict[str, Any]]:
    """Build over the good site with new records (with jobs=2, enough for the worker pool: the
    wrapper below is inherited by the forked workers), one of whose copies is written with one
    bit flipped. Returns how the build failed, that copy's path and its record."""
    new = site.add(POOLED if jobs > 1 else 20)
    rec = new[len(new) // 2]
    target = record_json(suffix_of(rec))
    where = Where(site.tmp / "fault-pids")
    real_put = write_module.put_file

    def flipping(root: Path, rel: str, data: bytes) -> None:
        if rel == target:
            where.note()
            data = flip(data)
        real_put(root, rel, data)

    monkeypatch.setattr(build_module, "put_file", flipping)
    with pytest.raises(Exception) as failed:
        site.build()
    pids = where.pids()
    assert len(pids) == 1, "the flipped copy was not written once"
    assert (pids[0] == os.getpid()) == (jobs == 1), "with jobs=2 the copy is written by a pool worker"
    return failed, target, rec


@pytest.mark.parametrize(("jobs", "incremental"), MODES)
def test_record_copy_written_wrong_fails_closed(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, jobs: int, incremental: bool
) -> None:
    """One record's copy reaches the staging tree with one bit flipped: the build fails (how it
    fails is the next test's concern), the previous site (and state) stay, nothing is left
    beside them; the next build publishes the right bytes."""
    site = make_site(tmp_path, test_key, jobs=jobs, incremental=incremental)
    was = before(site)
    _failed, target, rec = _flip_one_copy(site, monkeypatch, jobs)
    assert_untouched(site, was)
    monkeypatch.undo()
    site.build()
    assert (site.out / target).read_bytes() == dump_record(rec)


@pytest.mark.parametrize(("jobs", "incremental"), TYPED_MODES)
def test_record_copy_written_wrong_is_named_by_the_recheck(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, jobs: int, incremental: bool
) -> None:
    """The re-check before the swap (``_reverify_chunk``) reads the copy back from the staging
    tree: the build fails with ``hash_mismatch`` naming that file, and only that file."""
    site = make_site(tmp_path, test_key, jobs=jobs, incremental=incremental)
    failed, target, _rec = _flip_one_copy(site, monkeypatch, jobs)
    assert failed.type is BuildFailedError, f"{failed.type.__name__}: {failed.value}"
    assert isinstance(failed.value, BuildFailedError)
    failures = failed.value.failures
    assert [(f.code, f.where) for f in failures] == [("hash_mismatch", f"output {target}")]


def test_invalid_record_in_the_worker_pool_is_reported(tmp_path: Path, test_key: TestKey) -> None:
    """An unsigned record among enough others for the worker pool (jobs=2): the build fails
    with the record's typed error, as with jobs=1, and --skip-invalid publishes the rest."""
    site = make_site(tmp_path, test_key, jobs=2, incremental=False)
    site.add(POOLED)
    bad = random_record(test_key, site.rng, site.n)
    del bad["receipt"]
    (site.inputs / "unsigned.json").write_bytes(dump_record(bad))
    for jobs in (1, 2):
        cfg = replace(site.cfg, jobs=jobs)
        with pytest.raises(BuildFailedError) as failed:
            run_build(cfg, progress=False)
        assert [f.code for f in failed.value.failures] == ["no_receipt"], f"jobs={jobs}"
    run_build(replace(site.cfg, skip_invalid=True), progress=False)
    assert not (site.out / record_json(suffix_of(bad))).exists()
    assert len(list((site.out / "pith").glob("*.json"))) == site.n


# -- F: an exception while rendering ----------------------------------------------------------
@pytest.mark.parametrize(("jobs", "incremental"), MODES)
def test_exception_rendering_the_third_record_keeps_previous_site(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, jobs: int, incremental: bool
) -> None:
    """``Renderer.render_record`` raises on its third call (in each process that renders: with
    jobs=2, in the pool workers): the exception reaches the caller, nothing is published."""
    site = make_site(tmp_path, test_key, jobs=jobs, incremental=incremental)
    was = before(site)
    site.add(POOLED if jobs > 1 else 20)
    where = Where(tmp_path / "fault-pids")
    real_render = Renderer.render_record
    calls = {"n": 0}

    def failing(self: Renderer, rec: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            where.note()
            raise RuntimeError("injected fault rendering a record")
        return real_render(self, rec)

    monkeypatch.setattr(Renderer, "render_record", failing)
    with pytest.raises(RuntimeError, match="injected fault rendering a record"):
        site.build()
    pids = where.pids()
    assert pids, "the fault did not fire"
    assert all((pid == os.getpid()) == (jobs == 1) for pid in pids)
    assert_untouched(site, was)


@pytest.mark.parametrize("page", ["verification/index.html", "index.html"])
@pytest.mark.parametrize(("jobs", "incremental"), MODES)
def test_exception_rendering_a_site_page_keeps_previous_site(
    tmp_path: Path,
    test_key: TestKey,
    monkeypatch: pytest.MonkeyPatch,
    jobs: int,
    incremental: bool,
    page: str,
) -> None:
    """A site-wide page fails to render: the verification report's page (a step of the build
    process) or the home page (a listing step: in a forked process in an incremental build with
    two cores)."""
    site = make_site(tmp_path, test_key, jobs=jobs, incremental=incremental)
    was = before(site)
    site.add(2)
    where = Where(tmp_path / "fault-pids")
    real_page = Renderer.page

    def failing(self: Renderer, template: str, dest_path: str, **context: Any) -> Any:
        if dest_path == page:
            where.note()
            raise RuntimeError(f"injected fault rendering {dest_path}")
        return real_page(self, template, dest_path, **context)

    monkeypatch.setattr(Renderer, "page", failing)
    with pytest.raises(RuntimeError, match=f"injected fault rendering {page}"):
        site.build()
    assert where.pids(), "the fault did not fire"
    assert_untouched(site, was)


# -- G: a full disk part-way through a file ---------------------------------------------------
class FullDisk:
    """Writes into regular files beside the output (the staging tree) by ``os.write`` or
    ``os.copy_file_range``: the ``fail_at``-th such call writes half of its bytes (a short
    write, as when a disk fills), and every later one raises ENOSPC. Other descriptors (pipes,
    the terminal, files elsewhere) are left alone."""

    def __init__(self, parent: Path) -> None:
        self.prefix = f"{parent}/"
        self.real_write = os.write
        self.real_copy = os.copy_file_range
        self.calls = 0
        self.fail_at = 0
        self.full = False
        self.fired = False

    def arm(self, k: int) -> None:
        """Fail from the k-th call on (0: no fault, and the count of calls is kept)."""
        self.fail_at, self.full, self.fired = k, False, False
        if k:
            self.calls = 0

    def _ours(self, fd: int) -> bool:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            return os.readlink(f"/proc/self/fd/{fd}").startswith(self.prefix)
        except OSError:
            return False

    def _short(self, fd: int, size: int) -> bool:
        """Whether this call writes only half of its ``size`` bytes (raises when full)."""
        if not (self.fail_at and self._ours(fd)):
            return False
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.calls += 1
        if self.calls != self.fail_at:
            return False
        self.fired = self.full = True
        if size < 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return True

    def write(self, fd: int, data: Any) -> int:
        view = memoryview(data)
        if self._short(fd, len(view)):
            return self.real_write(fd, view[: len(view) // 2])
        return self.real_write(fd, view)

    def copy_file_range(self, src: int, dst: int, count: int, *args: Any) -> int:
        if self._short(dst, count):
            return self.real_copy(src, dst, count // 2, *args)
        return self.real_copy(src, dst, count, *args)


def _full_disk_runs(
    site: Site,
    disk: FullDisk,
    step: int,
    between: Callable[[], None] | None,
    errors: tuple[type[Exception], ...] = (OutputError,),
) -> tuple[int, int]:
    """Builds with the disk full from the k-th write on, for k = 1, 1+step, ... until a build
    makes fewer writes than k (and publishes). Without ``between`` every build has the same
    inputs (one record more than the site); else ``between`` runs first (a good build) and each
    build adds a record. Returns the number of faults that fired and the number of writes of
    the build that published. Each build must fail with one of ``errors``."""
    fired = 0
    if between is None:
        site.add(1)
    for k in range(1, 2000, step):
        if between is not None:
            between()
            site.add(1)
        was = before(site)
        disk.arm(k)
        try:
            site.build()
        except errors as exc:
            assert disk.fired, f"k={k}: the build failed without the fault: {exc}"
            assert os.strerror(errno.ENOSPC) in str(exc)
            assert_untouched(site, was)
            fired += 1
            continue
        finally:
            disk.arm(0)
        assert not disk.fired, f"k={k}: a write failed and the build went on to publish"
        assert disk.calls < k
        return fired, disk.calls
    raise AssertionError("the builds never ran out of writes")


@pytest.mark.parametrize("mode", ["clean", "incremental", "incremental-spare"])
def test_disk_full_part_way_through_a_file(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """ENOSPC after a short write, at every 7th write of a small build (in incremental mode:
    after the first fault the spare is used up and the builds start by copying the live tree;
    with ``incremental-spare`` a good build between the faults keeps a spare to start from)."""
    incremental = mode != "clean"
    site = make_site(tmp_path, test_key, jobs=1, incremental=incremental)
    disk = FullDisk(site.out.parent)
    monkeypatch.setattr(os, "write", disk.write)

    def good_build() -> None:
        site.add(1)
        site.build()
        assert spare_path(site.out).is_dir()

    fired, writes = _full_disk_runs(site, disk, 7, good_build if mode == "incremental-spare" else None)
    assert fired >= 5, f"only {fired} faults fired: the build writes fewer files than expected"
    if mode != "incremental-spare":  # the same inputs every time: every 7th write up to the last
        assert fired == len(range(1, writes + 1, 7))


def test_disk_full_while_copying_the_live_tree(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a spare, an incremental build starts by copying every file of the live tree into
    its staging tree (``os.copy_file_range``): ENOSPC after a short copy, at every 7th copy.
    (The error is not yet an ``OutputError`` there: see the test after the next.)"""
    site = make_site(tmp_path, test_key, jobs=1, incremental=True)
    drop_spare(site.out)
    disk = FullDisk(site.out.parent)
    monkeypatch.setattr(os, "copy_file_range", disk.copy_file_range)
    fired, copies = _full_disk_runs(site, disk, 7, None, errors=(OutputError, OSError))
    assert copies >= len(snapshot(site.out)) // 2, "the build did not copy the live tree"
    assert fired == len(range(1, copies + 1, 7))


def _no_room_for_staging(monkeypatch: pytest.MonkeyPatch, out: Path) -> list[str]:
    """``os.mkdir`` of the staging directory fails with ENOSPC. Returns the paths refused."""
    real = os.mkdir
    refused: list[str] = []

    def mkdir(path: Any, *args: Any, **kw: Any) -> None:
        if Path(path).parent == out.parent and ".staging-" in Path(path).name:
            refused.append(str(path))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, *args, **kw)

    monkeypatch.setattr(os, "mkdir", mkdir)
    return refused


@pytest.mark.parametrize("incremental", [False, True], ids=["clean", "incremental"])
def test_no_room_for_the_staging_directory_keeps_previous_site(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, incremental: bool
) -> None:
    site = make_site(tmp_path, test_key, jobs=1, incremental=incremental)
    was = before(site)
    site.add(1)
    refused = _no_room_for_staging(monkeypatch, site.out)
    with pytest.raises((OutputError, OSError), match=os.strerror(errno.ENOSPC)):
        site.build()
    assert len(refused) == 1
    assert_untouched(site, was)


@pytest.mark.parametrize("fault", ["staging-mkdir", "copy-live-tree"])
def test_io_error_while_preparing_the_staging_tree_is_an_output_error(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    site = make_site(tmp_path, test_key, jobs=1, incremental=True)
    site.add(1)
    if fault == "staging-mkdir":
        _no_room_for_staging(monkeypatch, site.out)
    else:
        drop_spare(site.out)
        disk = FullDisk(site.out.parent)
        monkeypatch.setattr(os, "copy_file_range", disk.copy_file_range)
        disk.arm(1)
    with pytest.raises(OutputError, match=os.strerror(errno.ENOSPC)):
        site.build()


def test_no_room_for_the_staging_directory_releases_the_lock(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path, test_key, jobs=1, incremental=False)
    site.add(1)
    held = set(write_module.HELD_LOCKS)
    try:
        _no_room_for_staging(monkeypatch, site.out)
        with pytest.raises((OutputError, OSError)):
            site.build()
        monkeypatch.undo()
        site.build()  # the disk has room again
    finally:
        for fd in set(write_module.HELD_LOCKS) - held:  # a leaked lock, closed for the next tests
            write_module.HELD_LOCKS.discard(fd)
            os.close(fd)


# -- G: the swap fails at publish -------------------------------------------------------------
def _no_exchange(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where renameat2 is missing: publishing swaps with two renames."""
    monkeypatch.setattr(write_module, "_renameat2_exchange", lambda a, b: False)


def _failing_rename(monkeypatch: pytest.MonkeyPatch, out: Path, which: str) -> list[str]:
    """``os.rename`` fails with EIO when it moves the live tree away (``first``) or moves the
    staging tree into its place (``second``). Returns the list of renames refused."""
    real = os.rename
    refused: list[str] = []

    def rename(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        hit = Path(src) == out if which == "first" else Path(dst) == out
        if hit and not refused:  # once: putting the live tree back must work
            refused.append(f"{src} -> {dst}")
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(src))
        real(src, dst, *args, **kw)

    monkeypatch.setattr(os, "rename", rename)
    return refused


@pytest.mark.parametrize("incremental", [False, True], ids=["clean", "incremental"])
@pytest.mark.parametrize(
    "fault",
    [
        "exchange",
        "first-rename",
        "second-rename",
    ],
)
def test_swap_failing_at_publish_keeps_previous_site(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, incremental: bool, fault: str
) -> None:
    """Everything is built and re-checked, then the swap fails: the atomic exchange itself
    (renameat2 answers an error), or, where renameat2 is missing, either of the two renames."""
    site = make_site(tmp_path, test_key, jobs=1, incremental=incremental)
    was = before(site)
    site.add(2)
    refused: list[str] = []
    if fault == "exchange":

        def exchange(a: Path, b: Path) -> bool:
            refused.append(f"{a} <-> {b}")
            raise OutputError(f"{b}: cannot swap in the new site: {os.strerror(errno.EIO)}")

        monkeypatch.setattr(write_module, "_renameat2_exchange", exchange)
    else:
        _no_exchange(monkeypatch)
        refused = _failing_rename(monkeypatch, site.out, fault.split("-")[0])
    with pytest.raises(OutputError, match=os.strerror(errno.EIO)):
        site.build()
    assert len(refused) == 1
    assert_untouched(site, was)
    # the next build, without the fault, publishes
    monkeypatch.undo()
    site.build()
    assert snapshot(site.out) != was.tree


@pytest.mark.parametrize("incremental", [False, True], ids=["clean", "incremental"])
def test_swap_by_two_renames_publishes(
    tmp_path: Path, test_key: TestKey, monkeypatch: pytest.MonkeyPatch, incremental: bool
) -> None:
    """Without renameat2 (and no fault) the two-rename swap publishes the new site and leaves
    nothing behind but what a build leaves: the fault cases above test that path."""
    site = make_site(tmp_path, test_key, jobs=1, incremental=incremental)
    _no_exchange(monkeypatch)
    site.add(2)
    site.build()
    monkeypatch.undo()
    expected = replace(site.cfg, output=tmp_path / "clean" / "site", incremental=False)
    run_build(expected, progress=False)
    assert snapshot(site.out) == snapshot(expected.output)
    normal = {"site", ".site.state.sqlite", ".site.spare"} if incremental else {"site"}
    assert site.listing() == normal
