"""Where one record's CPU time goes, against the floor's per-record work (not a test).

    python benchmarks/record_bench.py [N] [--passes 3] [--work bench-work]

Takes N benchmark records (the same cached, signed inputs as ``pith-mirror bench``), then, in one
process and in the same run, times each part of a clean build's per-record work, best of
``--passes`` passes over all N records:

- the floor's Python: strict parse, canonical hash, record hash and Ed25519 check (what
  ``pith-mirror bench`` counts as unavoidable, besides the writes);
- ``verify_record``; ``render_record`` and its parts (the record view, the record page, the
  short-number page); the record's columns for the site-wide steps;
- the writes: the build's ``put_file`` against plain ``open``/``write`` of the same files into a
  fresh directory, taken in turn, every directory removed only after the last run (kernel time
  included: these two move with the disk's state, slower for minutes after a large removal,
  and only their ratio within one run means much).

It prints microseconds per record for each, and the build's per-record Python (verify, render,
columns) as a multiple of the floor's Python. The kernel work of the writes is the same on both
sides; how much Python the build adds per record is what decides build/floor in the bench.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.bench import floor_checks, floor_writes, generate_inputs
from generator.columns import data_reader
from generator.config import Config
from generator.keyring import load_keyring
from generator.render.opengraph import render_open_graph
from generator.render.site import OutputFile, Renderer, record_view
from generator.sources import RawRecord
from generator.summaries import record_columns
from generator.verify import VerifiedRecord, verify_record
from generator.write import put_file, umask_trusted


def best(passes: int, fn: Callable[[], Any]) -> float:
    """Seconds of the fastest of ``passes`` calls."""
    times = []
    for _ in range(passes):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def plain_writes(root: Path, outputs: list[list[OutputFile]]) -> None:
    floor_writes(str(root), ((f.dest_path, f.data) for files in outputs for f in files))


def build_writes(root: Path, outputs: list[list[OutputFile]]) -> None:
    with umask_trusted():
        for files in outputs:
            for f in files:
                put_file(root, f.dest_path, f.data)


def timed_writes(passes: int, outputs: list[list[OutputFile]]) -> tuple[float, float]:
    """Fastest of ``passes`` runs of plain writes and of the build's, taken in turn: (plain
    seconds, build seconds). Each run writes a fresh directory, and none is removed until all
    have run: on ext4 without a journal, files are made slower for minutes after a removal
    (see ``generator.bench.Trash``), which would weigh on whichever run came next."""
    times: dict[str, list[float]] = {"plain": [], "build": []}
    roots: list[Path] = []
    try:
        for _ in range(passes):
            for name, write in (("plain", plain_writes), ("build", build_writes)):
                root = Path(tempfile.mkdtemp(prefix="record-bench-"))
                roots.append(root)
                t = time.perf_counter()
                write(root, outputs)
                times[name].append(time.perf_counter() - t)
    finally:
        for root in roots:
            shutil.rmtree(root)
    return min(times["plain"]), min(times["build"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=3000, help="records (default 3000)")
    parser.add_argument("--passes", type=int, default=3, help="passes; the fastest counts (default 3)")
    parser.add_argument(
        "--work", type=Path, default=Path("bench-work"), help="input cache (default bench-work)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    src, keyring_path = generate_inputs(args.n, args.seed, args.work / "inputs", os.cpu_count() or 1)
    lines = src.read_bytes().splitlines()
    raws = [RawRecord(line, f"{src}:{i + 1}") for i, line in enumerate(lines)]
    keyring = load_keyring((keyring_path,))
    config = Config(keyring_files=(keyring_path,), paper_pages=True)
    renderer = Renderer(config, keyring)
    n = len(raws)
    recs: list[VerifiedRecord] = [verify_record(r, keyring) for r in raws]
    rendered = [renderer.render_record(rec) for rec in recs]
    outputs = [files for files, _summary in rendered]

    def record_pages() -> None:
        for rec in recs:
            view = record_view(rec)
            og = render_open_graph(rec, keyring)[2]
            renderer.page("record.html", f"pith/{rec.suffix}/index.html", r=view, copies={}, og=og)

    def short_pages() -> None:
        for rec in recs:
            renderer.page(
                "paper.html",
                f"pith/{rec.suffix[:8]}/index.html",
                short8=rec.suffix[:8],
                targets=[(rec.suffix, rec.title or "")],
            )

    def columns() -> None:
        for files, summary in rendered:
            record_columns(summary, data_reader((f.dest_path, f.data) for f in files), renderer)

    rows = [
        ("floor: parse, hash, signature", best(args.passes, lambda: floor_checks(lines, keyring))),
        ("verify_record", best(args.passes, lambda: [verify_record(r, keyring) for r in raws])),
        ("render_record (all its pages)", best(args.passes, lambda: list(map(renderer.render_record, recs)))),
        ("  record view", best(args.passes, lambda: [record_view(r) for r in recs])),
        ("  record view + record page", best(args.passes, record_pages)),
        ("  short-number page", best(args.passes, short_pages)),
        ("columns for the site-wide steps", best(args.passes, columns)),
    ]
    plain, ours = timed_writes(args.passes, outputs)
    rows += [("writes: plain open/write", plain), ("writes: the build's put_file", ours)]
    per = {name: seconds / n * 1e6 for name, seconds in rows}
    files = sum(len(f) for f in outputs)
    print(f"{n} records, {files / n:.2f} files per record, best of {args.passes} passes, one process")
    print("| part | µs per record |\n|---|---|")
    for name, us in per.items():
        print(f"| {name} | {us:.1f} |")
    build_python = sum(
        per[k] for k in ("verify_record", "render_record (all its pages)", "columns for the site-wide steps")
    )
    floor = per["floor: parse, hash, signature"]
    writes = per["writes: the build's put_file"] / per["writes: plain open/write"]
    print(
        f"build's per-record Python (verify + render + columns): {build_python:.1f} µs, "
        f"{build_python / floor:.2f}x the floor's {floor:.1f} µs; put_file / plain writes: {writes:.2f}"
    )


if __name__ == "__main__":
    main()
