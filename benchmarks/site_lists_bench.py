"""Time the two site-wide steps that list every file or record, new code against the code they
replaced, on the state of a built site.

    python benchmarks/site_lists_bench.py --records 20000 [--work DIR] [--repeat 3]
    python benchmarks/site_lists_bench.py --state SITE_STATE.sqlite --keyring KEYRING.json

With ``--records N`` it builds (once, kept in ``--work``) an incremental site of N synthetic
records (``generator.bench``'s inputs) and uses its state; with ``--state`` it uses the state of
any incremental build (``.<site>.state.sqlite`` beside the site), opened read-only.

For each step it checks that old and new give the same bytes (SHA-256 of each file), then times
making the files' bytes (the chunks are dropped as they come) and making and writing them as a
build does (``write.put_chunks``, which also hashes every chunk, into a directory under
``--work``), and how long hashing the bytes once takes. Prints a Markdown table of seconds,
best (median) of ``--repeat`` runs, and the best CPU time of making (steadier than wall time on a
busy machine).

- ``manifest``: ``manifest.table_manifest_chunks`` against ``manifest.manifest_chunks`` over
  ``FileHashes.items_sized`` (the step before the chunked read).
(The verification report was the second such list; it is sharded now, see ``generator.report``.)
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.bench import generate_inputs
from generator.build import SiteContext, run_build
from generator.config import Config
from generator.incremental import state_path
from generator.keyring import load_keyring
from generator.manifest import UNLISTED, FileEntry, manifest_chunks, table_manifest_chunks
from generator.render.site import Renderer
from generator.streamed import StreamedFile
from generator.summaries import FileHashes, SummaryStore
from generator.write import put_chunks

EPOCH = 1767225600
Files = Callable[[], dict[str, Iterable[bytes]]]


def build_state(n: int, work: Path) -> tuple[Path, Path]:
    """The state of an incremental build of N synthetic records (built once, then reused)."""
    src, keyring = generate_inputs(n, 1, work / "inputs", 2)
    site = work / f"site-{n}"
    state = state_path(site)
    if not state.is_file():
        cfg = Config(
            sources=(src,),
            output=site,
            keyring_files=(keyring,),
            jobs=2,
            source_date_epoch=EPOCH,
            incremental=True,
            paper_pages=True,
        )
        t = time.monotonic()
        run_build(cfg, progress=False)
        print(f"built {n} records in {time.monotonic() - t:.1f} s: {site}", file=sys.stderr)
    return state, keyring


def _fields(ctx: SiteContext) -> dict[str, Any]:
    return {
        "build_time": ctx.build_time,
        "build_time_basis": "SOURCE_DATE_EPOCH",
        "upstream": ctx.config.upstream,
        "base_url": ctx.config.base_url,
        "record_count": len(ctx.records),
        "keyring": ctx.keyring.describe(),
        "operator_key": None,
    }


def old_manifest(ctx: SiteContext) -> dict[str, Iterable[bytes]]:
    known = ctx.known_hashes
    assert isinstance(known, FileHashes)

    def entries() -> Iterator[FileEntry]:
        for rel, sha, size in known.items_sized():
            if rel not in UNLISTED:
                yield FileEntry(rel, size, sha)

    return {"manifest.json": manifest_chunks(entries, **_fields(ctx))}


def new_manifest(ctx: SiteContext) -> dict[str, Iterable[bytes]]:
    known = ctx.known_hashes
    assert isinstance(known, FileHashes)
    return {"manifest.json": table_manifest_chunks(known.db, ctx.staging, **_fields(ctx))}


def _streamed(files: Iterable[StreamedFile]) -> dict[str, Iterable[bytes]]:
    return {f.dest_path: f.chunks() for f in files}


def consume(make: Files) -> tuple[float, float]:
    """Seconds (wall, CPU of this process) to make every chunk of the files (the chunks are
    dropped as they come)."""
    t, cpu = time.monotonic(), time.process_time()
    for chunks in make().values():
        for _chunk in chunks:
            pass
    return time.monotonic() - t, time.process_time() - cpu


def write(make: Files, root: Path) -> float:
    """Seconds to make the files and write them as the build does (``write.put_chunks``: hash
    and write each chunk) into ``root``."""
    t = time.monotonic()
    for name, chunks in make().items():
        put_chunks(root, name, chunks)
    return time.monotonic() - t


def digest(make: Files) -> tuple[dict[str, tuple[int, str]], float]:
    """({file: (bytes, sha256)}, seconds spent hashing the bytes)."""
    digests = {}
    hashing = 0.0
    for name, chunks in make().items():
        h = hashlib.sha256()
        size = 0
        for chunk in chunks:
            t = time.monotonic()
            h.update(chunk)
            hashing += time.monotonic() - t
            size += len(chunk)
        digests[name] = (size, h.hexdigest())
    return digests, hashing


def _cell(seconds: list[float]) -> str:
    return f"{min(seconds):.3f} ({statistics.median(seconds):.3f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=20000, help="build a site of N records (default 20000)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pith-site-lists-bench")
    p.add_argument("--state", type=Path, help="use this build state instead of building one")
    p.add_argument("--keyring", type=Path, help="the keyring of that build (with --state)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.state is not None:
        state, keyring = args.state, args.keyring
    else:
        state, keyring = build_state(args.records, args.work)
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    cfg = Config(keyring_files=(keyring,) if keyring else (), source_date_epoch=EPOCH, paper_pages=True)
    kr = load_keyring(cfg.keyring_files)
    records = SummaryStore(db)
    hashes = FileHashes(db)
    print(f"state {state}: {len(records)} records, {len(hashes)} files", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as spool:
        ctx = SiteContext(
            cfg, kr, Renderer(cfg, kr), records, [], "2026-01-01T00:00:00Z", Path(spool), hashes
        )
        cases: list[tuple[str, Files, Files]] = [
            ("manifest", lambda: old_manifest(ctx), lambda: new_manifest(ctx)),
        ]
        for name, old, new in cases:
            old_digests, _ = digest(old)
            new_digests, hashing = digest(new)
            if old_digests != new_digests:
                raise SystemExit(f"{name}: old and new bytes differ: {old_digests} {new_digests}")
            times: dict[str, list[float]] = {
                k: [] for k in ("old", "new", "old+w", "new+w", "old c", "new c")
            }
            for _ in range(args.repeat):
                for label, make in (("old", old), ("new", new)):
                    wall, cpu = consume(make)
                    times[label].append(wall)
                    times[label + " c"].append(cpu)
                    with tempfile.TemporaryDirectory(dir=args.work) as out:
                        times[label + "+w"].append(write(make, Path(out)))
            size = sum(n for n, _ in new_digests.values())
            rows.append(
                f"| {name} | {size / 1e6:.1f} | {_cell(times['old'])} | {_cell(times['new'])} | "
                f"{min(times['old']) / min(times['new']):.1f}x | {min(times['old c']):.3f} | "
                f"{min(times['new c']):.3f} | {_cell(times['old+w'])} | "
                f"{_cell(times['new+w'])} | {min(times['old+w']) / min(times['new+w']):.1f}x | "
                f"{hashing:.3f} |"
            )
    print(f"\nN = {len(records)} records, {len(hashes)} files; best (median) of {args.repeat} runs\n")
    print(
        "| step | MB | old: make | new: make | old/new | old: make, CPU | new: make, CPU "
        "| old: make+write | new: make+write | old/new | of which sha256 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
