"""The benchmark: N synthetic signed records, a clean build, the floor, and incremental rebuilds.

``pith-mirror bench N`` (or ``python -m generator.bench N``) generates N records signed by a test
key (cached by N and seed, so re-runs are cheap), then in one run measures:

- a clean build with every core and with one core (per-stage times, records per second, peak
  memory of the build's processes, output bytes and files, bytes and files per record);
- the **floor**: the unavoidable work for the same records on the same number of cores (strict
  parse, canonical hash, Ed25519 verification, and plain writes of the same number of files and
  bytes into the same directories), and the ratio build/floor;
- incremental rebuilds of the built site: nothing changed, one record changed, one record added.

Every build runs in a child process, so the memory figures are the build's own. CPU time is
printed in all and in the kernel. No tree is removed between measures (see ``Trash``): they are
moved aside and removed at the end, and a run that starts just after a large removal waits first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.incremental import spare_path, spare_state_path, state_path
from generator.keyring import Keyring
from generator.synth import TestKey, dump_record, random_record

BENCH_KEY_SEED = b"pith-mirror benchmark key"
CHUNK = 256


def bench_key() -> TestKey:
    return TestKey.from_seed(BENCH_KEY_SEED, "bench-key-1")


# -- inputs ---------------------------------------------------------------------------------
def _gen_chunk(args: tuple[int, int, int]) -> bytes:
    seed, start, stop = args
    key = bench_key()
    lines = []
    for n in range(start, stop):
        rng = random.Random(f"{seed}:{n}")
        lines.append(dump_record(random_record(key, rng, n)) + b"\n")
    return b"".join(lines)


def generate_inputs(n: int, seed: int, cache_dir: Path, jobs: int) -> tuple[Path, Path]:
    """``(records.jsonl, keyring.json)`` for N records; reused when already generated."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    jsonl = cache_dir / f"records-{n}-{seed}.jsonl"
    keyring = cache_dir / "bench-keyring.json"
    if not keyring.is_file():
        tmp = keyring.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(bench_key().keyring_json())
        os.replace(tmp, keyring)
    if jsonl.is_file():
        return jsonl, keyring
    tmp = jsonl.with_suffix(f".tmp{os.getpid()}")
    spans = [(seed, a, min(a + 2000, n)) for a in range(0, n, 2000)]
    with tmp.open("wb") as fh:
        if jobs > 1 and len(spans) > 1:
            with ProcessPoolExecutor(jobs) as pool:
                for data in pool.map(_gen_chunk, spans):
                    fh.write(data)
        else:
            for span in spans:
                fh.write(_gen_chunk(span))
    os.replace(tmp, jsonl)
    return jsonl, keyring


def changed_line(line: bytes, key: TestKey, n: int) -> bytes:
    """The same paper as another record, with one unsigned field changed (new bytes, same SUFFIX)."""
    rec = json.loads(line)
    rec["paper"]["headline"] = f"changed for benchmark run {n}"
    return dump_record(rec)


# -- measuring ------------------------------------------------------------------------------
def _tree_pids(root: int) -> list[int]:
    out = [root]
    i = 0
    while i < len(out):
        pid = out[i]
        i += 1
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    out.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _RssSampler(threading.Thread):
    """Samples the summed RSS of a process tree (the build and its workers) every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_sum_kib = 0
        self.peak_main_kib = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            pids = _tree_pids(self.pid)
            sizes = [_rss_kib(p) for p in pids]
            if sizes:
                self.peak_main_kib = max(self.peak_main_kib, sizes[0])
                self.peak_sum_kib = max(self.peak_sum_kib, sum(sizes))
            self._halt.wait(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _kernel(who: int) -> float:
    """CPU seconds spent in the kernel (creating files and directories, mostly)."""
    return resource.getrusage(who).ru_stime


@dataclass
class BuildRun:
    label: str
    seconds: float
    cpu_seconds: float
    kernel_seconds: float
    stage_times: dict[str, float]
    peak_main_mib: float
    peak_sum_mib: float
    files_written: int
    published: int
    extra: dict[str, Any] = field(default_factory=dict)
    # CPU seconds of the per-record stage by part (build.CPU_PARTS), summed over the workers
    record_cpu: dict[str, float] = field(default_factory=dict)
    main_cpu_seconds: float = 0.0  # the build's main process (all its threads)
    pooled: bool = False  # whether the records went through a pool (else the main process)


_CHILD = """
import json, logging, resource, sys, time
from pathlib import Path
from generator.build import run_build
from generator.config import Config
args = json.loads(sys.argv[1])
logging.basicConfig(level=logging.WARNING)
cfg = Config(sources=(Path(args["src"]),), output=Path(args["out"]), keyring_files=(Path(args["keyring"]),),
             jobs=args["jobs"], source_date_epoch=1767225600, incremental=args["incremental"],
             paper_pages=args["paper_pages"])
t = time.monotonic()
rep = run_build(cfg, progress=False)
print(json.dumps({"seconds": time.monotonic() - t, "stages": rep.stage_times,
                  "files": rep.files_written, "published": len(rep.published),
                  "extra": rep.incremental, "record_cpu": rep.record_cpu, "pooled": rep.pooled,
                  "main_cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}))
"""


PAPER_PAGES = True


def run_child_build(
    label: str, src: Path, out: Path, keyring: Path, jobs: int, *, incremental: bool
) -> BuildRun:
    arg = json.dumps(
        {
            "src": str(src),
            "out": str(out),
            "keyring": str(keyring),
            "jobs": jobs,
            "incremental": incremental,
            "paper_pages": PAPER_PAGES,
        }
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.monotonic()
    cpu0 = _cpu(resource.RUSAGE_CHILDREN)
    kernel0 = _kernel(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    sampler = _RssSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.stop()
    wall = time.monotonic() - t0
    cpu = _cpu(resource.RUSAGE_CHILDREN) - cpu0
    kernel = _kernel(resource.RUSAGE_CHILDREN) - kernel0
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: build failed ({proc.returncode}):\n{stderr.decode(errors='replace')}")
    data = json.loads(stdout.decode().strip().splitlines()[-1])
    return BuildRun(
        label=label,
        seconds=wall,
        cpu_seconds=cpu,
        kernel_seconds=kernel,
        stage_times=data["stages"],
        peak_main_mib=sampler.peak_main_kib / 1024,
        peak_sum_mib=sampler.peak_sum_kib / 1024,
        files_written=data["files"],
        published=data["published"],
        extra=data.get("extra") or {},
        record_cpu=data.get("record_cpu") or {},
        main_cpu_seconds=float(data.get("main_cpu") or 0.0),
        pooled=bool(data.get("pooled")),
    )


# -- the floor ------------------------------------------------------------------------------
_floor: dict[str, Any] = {}


def _floor_init(keyring_path: str, root: str) -> None:
    from generator.keyring import load_keyring

    _floor["keyring"] = load_keyring((Path(keyring_path),))
    _floor["root"] = root


def floor_checks(lines: list[bytes], keyring: Keyring) -> None:
    """The floor's per-record work besides the writes: strict parse, canonical hash, the record's
    own hash and the signature check (benchmarks/record_bench.py times it alone)."""
    import base64

    from generator.strictjson import canonical_json, loads_object

    for line in lines:
        doc = loads_object(line, "floor")
        h = hashlib.sha256(canonical_json(doc["canonical_record"])).digest()
        hashlib.sha256(line).digest()
        receipt = doc["receipt"]
        key = keyring.by_fingerprint(receipt["public_key_fingerprint"])[0]
        if not key.verify(base64.b64decode(receipt["signature_b64"]), h):
            raise RuntimeError("floor: signature does not verify")


def floor_writes(root: str, files: Iterable[tuple[str, bytes]]) -> None:
    """The floor's writes: each (relative path, bytes) with a plain ``open``/``write``, its
    directory made the first time this call needs it."""
    made: set[str] = set()
    for rel, data in files:
        parent = os.path.dirname(rel)
        if parent and parent not in made:
            os.makedirs(os.path.join(root, parent), exist_ok=True)
            made.add(parent)
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(data)


def _floor_chunk(args: tuple[list[bytes], list[tuple[str, int]]]) -> int:
    """``floor_checks``; then plain writes of the given files (as many bytes as each has)."""
    lines, files = args
    floor_checks(lines, _floor["keyring"])
    floor_writes(_floor["root"], ((rel, b"x" * size) for rel, size in files))
    return len(lines)


def _read_lines(path: Path, size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    with path.open("rb") as fh:
        for line in fh:
            chunk.append(line.rstrip(b"\n"))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def tree_files(root: Path) -> tuple[list[tuple[str, int]], int]:
    """Every file under ``root`` as (relative path, size), and the number of directories."""
    files: list[tuple[str, int]] = []
    dirs = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirs += len(dirnames)
        rel = os.path.relpath(dirpath, root)
        for name in filenames:
            full = os.path.join(dirpath, name)
            files.append((name if rel == "." else f"{rel}/{name}", os.lstat(full).st_size))
    files.sort()
    return files, dirs


@dataclass
class FloorRun:
    seconds: float
    cpu_seconds: float
    kernel_seconds: float


def run_floor(
    src: Path, keyring: Path, files: list[tuple[str, int]], n: int, root: Path, jobs: int, trash: Trash
) -> FloorRun:
    """The floor work on ``jobs`` processes, into ``root`` (an empty directory made here); the
    tree goes to ``trash`` afterwards."""
    trash.move(root)
    root.mkdir(parents=True)
    chunks = -(-n // CHUNK)
    per = -(-len(files) // max(chunks, 1))
    t0 = time.monotonic()
    cpu0 = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    kernel0 = _kernel(resource.RUSAGE_SELF) + _kernel(resource.RUSAGE_CHILDREN)
    work = ((lines, files[i * per : (i + 1) * per]) for i, lines in enumerate(_read_lines(src, CHUNK)))
    if jobs > 1:
        with ProcessPoolExecutor(jobs, initializer=_floor_init, initargs=(str(keyring), str(root))) as pool:
            done = sum(pool.map(_floor_chunk, work, chunksize=1))
    else:
        _floor_init(str(keyring), str(root))
        done = sum(_floor_chunk(w) for w in work)
    seconds = time.monotonic() - t0
    cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu0
    kernel = _kernel(resource.RUSAGE_SELF) + _kernel(resource.RUSAGE_CHILDREN) - kernel0
    if done != n:
        raise RuntimeError(f"floor processed {done} records, expected {n}")
    trash.move(root)
    return FloorRun(seconds, cpu, kernel)


# -- removing trees -------------------------------------------------------------------------
# On ext4 without a journal (this project's benchmark machine), making a file skips the free
# inodes freed in the last minutes (the kernel's ``recently_deleted`` check, which ``perf`` shows
# under ``ext4_create``): each create walks past them. Right after a large tree is removed, files
# are made several times slower, for minutes (20,000 directories with a file each took 5.2 s just
# after such a removal and 0.8-2.4 s after a quiet spell). A benchmark that removed a tree just
# before one measure and not the other would compare the two under different filesystems. So
# nothing is removed between measures: trees are moved aside (a rename frees no inode) and removed
# when the measures are done; and a run that starts within minutes of a large removal (an earlier
# run's, or its own clean-up of one) waits until that removal is old enough.
SETTLE_SECONDS = 360.0
SETTLE_MIN_ENTRIES = 20_000
_REMOVAL_NOTE = ".last-removal"


def count_entries(root: Path) -> int:
    """Files, links and directories under ``root`` (0 when it does not exist)."""
    total = 0
    for _dirpath, dirnames, filenames in os.walk(root):
        total += len(dirnames) + len(filenames)
    return total


class Trash:
    """Trees the run no longer needs, moved into ``work/trash`` and removed by ``empty``."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.dir = work / "trash"

    def move(self, path: Path) -> None:
        """Move ``path`` (when it exists) into the trash, under a new name there (a killed run
        may have left trees in it)."""
        if not os.path.lexists(path):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        os.rename(path, self.dir / f"{path.name}-{secrets.token_hex(8)}")

    def empty(self) -> int:
        """Remove the trash; the number of entries removed, noted for ``settle``."""
        entries = count_entries(self.dir)
        if entries:
            shutil.rmtree(self.dir)
            note = {"time": time.time(), "entries": entries}
            (self.work / _REMOVAL_NOTE).write_text(json.dumps(note) + "\n")
        elif self.dir.exists():
            self.dir.rmdir()
        return entries

    def settle(self, seconds: float) -> float:
        """Wait until the last large removal noted here is ``seconds`` old; the seconds waited."""
        try:
            note = json.loads((self.work / _REMOVAL_NOTE).read_text())
            since, entries = float(note["time"]), int(note["entries"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0
        wait = since + seconds - time.time()
        if entries < SETTLE_MIN_ENTRIES or wait <= 0:
            return 0.0
        _say(
            f"waiting {wait:.0f}s: {entries:,} files and directories were removed {time.time() - since:.0f}s "
            f"ago, and ext4 without a journal makes files slower for minutes after a large removal "
            f"(--settle 0 skips the wait)"
        )
        time.sleep(wait)
        return wait


# -- the whole run --------------------------------------------------------------------------
def _fmt_stages(stages: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in stages.items())


def _say(text: str) -> None:
    print(text, flush=True)


def run_bench(
    n: int,
    *,
    seed: int,
    work: Path,
    jobs: int,
    single: bool,
    incremental: bool,
    keep: bool,
    settle: float = SETTLE_SECONDS,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    src, keyring = generate_inputs(n, seed, work / "inputs", jobs)
    _say(f"inputs: {n} records, {src.stat().st_size / 1e6:.1f} MB ({time.monotonic() - t:.1f}s) in {src}")
    site = work / f"site-{n}"
    trash = Trash(work)
    # what an earlier run left (a kept site, a killed run's trees) goes first, then the wait
    move_site(site, trash)
    for old in (work / f"site1-{n}", work / "floor"):
        move_site(old, trash)
    trash.empty()
    waited = trash.settle(settle)
    results: dict[str, Any] = {"n": n, "seed": seed, "jobs": jobs, "settle_seconds": waited}
    try:
        # a clean build into an empty directory; it records the build state the rebuilds start from
        full = run_child_build("full build", src, site, keyring, jobs, incremental=True)
        files, dirs = tree_files(site)
        total_bytes = sum(s for _, s in files)
        _say(f"full build, {jobs} core(s): {full.seconds:.2f}s ({_fmt_stages(full.stage_times)})")
        _say(
            f"  {n / full.seconds:,.0f} records/s; "
            f"{full.cpu_seconds / full.seconds:.2f} cores busy on average; "
            f"peak RSS {full.peak_main_mib:.0f} MiB main process, "
            f"{full.peak_sum_mib:.0f} MiB all build processes"
        )
        _say(
            f"  output: {total_bytes / 1e6:.1f} MB in {len(files)} files and {dirs} directories; "
            f"per record {total_bytes / n / 1024:.2f} KiB, {len(files) / n:.2f} files, "
            f"{(len(files) + dirs) / n:.2f} inodes"
        )
        digest = hashlib.sha256()
        for rel, _size in files:
            digest.update(rel.encode() + b"\0" + hashlib.sha256((site / rel).read_bytes()).digest())
        tree_sha = digest.hexdigest()
        results.update(
            full_seconds=full.seconds,
            full_stages=full.stage_times,
            records_per_second=n / full.seconds,
            peak_main_mib=full.peak_main_mib,
            peak_sum_mib=full.peak_sum_mib,
            output_bytes=total_bytes,
            output_files=len(files),
            output_dirs=dirs,
            tree_sha256=tree_sha,
        )

        floor = run_floor(src, keyring, files, n, work / "floor", jobs, trash)
        results.update(
            full_cpu_seconds=full.cpu_seconds,
            full_kernel_seconds=full.kernel_seconds,
            floor_seconds=floor.seconds,
            floor_cpu_seconds=floor.cpu_seconds,
            floor_kernel_seconds=floor.kernel_seconds,
            build_over_floor=full.seconds / floor.seconds,
            build_over_floor_cpu=full.cpu_seconds / floor.cpu_seconds,
        )
        _say(
            f"floor, {jobs} core(s): {floor.seconds:.2f}s; "
            f"build/floor {full.seconds / floor.seconds:.2f} wall, "
            f"{full.cpu_seconds / floor.cpu_seconds:.2f} CPU time"
        )
        for name, run in (("build", full), ("floor", floor)):
            user = run.cpu_seconds - run.kernel_seconds
            _say(
                f"  {name}: {run.cpu_seconds:.1f} CPU-s, {run.kernel_seconds:.1f} in the kernel and "
                f"{user:.1f} in user space ({user / n * 1e6:.0f} µs per record)"
            )
        parts = cpu_parts(full)
        bound = bound_over_floor(parts, floor.cpu_seconds)
        results.update(build_cpu_parts=parts, build_over_floor_cpu_bound=bound)
        _say("  build CPU-s by part: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
        _say(f"  build/floor CPU time with the records' pages and columns costing nothing: {bound:.2f}")

        if single and jobs > 1:
            site1 = work / f"site1-{n}"
            one = run_child_build("full build, 1 core", src, site1, keyring, 1, incremental=True)
            move_site(site1, trash)
            floor1 = run_floor(src, keyring, files, n, work / "floor", 1, trash).seconds
            results.update(
                one_core_seconds=one.seconds,
                speedup=one.seconds / full.seconds,
                floor_one_core_seconds=floor1,
                floor_speedup=floor1 / floor.seconds,
            )
            _say(
                f"full build, 1 core: {one.seconds:.2f}s ({_fmt_stages(one.stage_times)}); "
                f"{jobs} cores are {one.seconds / full.seconds:.2f}x one core "
                f"(floor: {floor1:.2f}s on 1 core, {floor1 / floor.seconds:.2f}x)"
            )

        if incremental:
            same = run_child_build("incremental, nothing changed", src, site, keyring, jobs, incremental=True)
            _say(f"rebuild, nothing changed: {same.seconds:.2f}s ({_fmt_stages(same.stage_times)})")
            inc_src = work / f"inc-{n}.jsonl"
            key = bench_key()
            with src.open("rb") as fin, inc_src.open("wb") as fout:
                for i, line in enumerate(fin):
                    fout.write(changed_line(line, key, 1) + b"\n" if i == n // 2 else line)
            changed = run_child_build(
                "incremental, one changed", inc_src, site, keyring, jobs, incremental=True
            )
            _say(
                f"rebuild, one record changed (the first after a fresh build: no spare tree yet, every "
                f"file copied once): {changed.seconds:.2f}s ({_fmt_stages(changed.stage_times)})"
            )
            with inc_src.open("ab") as fout:
                fout.write(_gen_chunk((seed + 1, n, n + 1)))
            added = run_child_build("incremental, one added", inc_src, site, keyring, jobs, incremental=True)
            _say(
                f"rebuild, one record added (at a random submission time): {added.seconds:.2f}s "
                f"({_fmt_stages(added.stage_times)})"
            )
            # the first rebuild after a fresh build has no spare tree yet and copies every carried
            # file from the live site; from the second on, the spare is brought up to date in place
            prev = inc_src.with_suffix(".prev")
            inc_src.rename(prev)
            with prev.open("rb") as fin, inc_src.open("wb") as fout:
                for i, line in enumerate(fin):
                    fout.write(changed_line(line, key, 2) + b"\n" if i == n // 3 else line)
            prev.unlink()
            again = run_child_build(
                "incremental, another changed", inc_src, site, keyring, jobs, incremental=True
            )
            _say(
                f"rebuild, another record changed (steady state: the spare brought up to date in place): "
                f"{again.seconds:.2f}s ({_fmt_stages(again.stage_times)})"
            )
            inc_src.unlink()
            results.update(
                unchanged_seconds=same.seconds,
                one_changed_seconds=changed.seconds,
                one_added_seconds=added.seconds,
                another_changed_seconds=again.seconds,
                incremental_peak_sum_mib=max(
                    same.peak_sum_mib, changed.peak_sum_mib, added.peak_sum_mib, again.peak_sum_mib
                ),
                incremental_detail={
                    "unchanged": same.extra,
                    "changed": changed.extra,
                    "added": added.extra,
                    "another changed": again.extra,
                },
            )

    finally:
        if not keep:
            move_site(site, trash)
        removed = trash.empty()
        if removed:
            _say(f"removed the run's trees ({removed:,} files and directories)")
    return results


def cpu_parts(run: BuildRun) -> dict[str, float]:
    """A build's CPU seconds by part: the per-record stage's parts in the workers
    (``build.CPU_PARTS``); the rest of its child processes' time (the workers' start-up,
    passing records and results, re-verifying the record copies, and the site-wide steps an
    incremental build runs beside the main process); and the main process (the state database,
    the other site-wide steps, settling, publishing). They add up to the build's CPU time."""
    parts = {f"record {k}": v for k, v in run.record_cpu.items()}
    records = sum(parts.values())
    main = run.main_cpu_seconds - (0.0 if run.pooled else records)
    children = run.cpu_seconds - run.main_cpu_seconds - (records if run.pooled else 0.0)
    parts["other child processes"] = max(0.0, children)
    parts["main process"] = max(0.0, main)
    return parts


def bound_over_floor(parts: dict[str, float], floor_cpu: float) -> float:
    """build/floor in CPU time with the records' rendering and columns at no cost (``parts``
    from ``cpu_parts``): how far any renderer, however fast, could bring the ratio."""
    total = sum(parts.values())
    free = parts.get("record render", 0.0) + parts.get("record columns", 0.0)
    return (total - free) / floor_cpu


def move_site(site: Path, trash: Trash) -> None:
    """A built site and what incremental builds keep beside it (state, spare tree), to ``trash``."""
    for path in (spare_state_path(site), spare_path(site), site):
        trash.move(path)
    for tag in ("", "-wal", "-shm", "-journal"):
        trash.move(Path(f"{state_path(site)}{tag}"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="pith-mirror bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("n", type=int, metavar="N", help="number of synthetic records")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic records (default 1)")
    p.add_argument(
        "--work",
        type=Path,
        default=Path("bench-work"),
        metavar="DIR",
        help="working directory; generated inputs are cached here (default: bench-work)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: number of cores)",
    )
    p.add_argument(
        "--no-single",
        dest="single",
        action="store_false",
        help="skip the one-core build (the multi-core speed-up figure)",
    )
    p.add_argument(
        "--no-incremental", dest="incremental", action="store_false", help="skip the incremental rebuilds"
    )
    p.add_argument("--keep", action="store_true", help="keep the built site")
    p.add_argument(
        "--paper-pages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="build with /paper/SHORT8/ redirect pages (default: yes, as pith-mirror build)",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        metavar="SECONDS",
        help=(
            "before measuring, wait until the last large removal of files in DIR (an earlier "
            "run's trees) is this old: ext4 makes files slower for minutes after one "
            f"(default {SETTLE_SECONDS:.0f}; 0 to skip)"
        ),
    )


def run_from_args(args: argparse.Namespace) -> int:
    global PAPER_PAGES
    PAPER_PAGES = args.paper_pages
    if args.n < 1 or args.jobs < 1 or args.settle < 0:
        print("bench: N and --jobs must be positive, and --settle not negative", file=sys.stderr)
        return 2
    results = run_bench(
        args.n,
        seed=args.seed,
        work=args.work,
        jobs=args.jobs,
        single=args.single,
        incremental=args.incremental,
        keep=args.keep,
        settle=args.settle,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
