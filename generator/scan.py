"""Reading the inputs of an incremental build once.

An incremental build first needs every input's key: their digest tells whether anything changed
at all, and each key tells whether the previous build has that record already. Reading the
inputs a second time to feed the workers would double the cost of a rebuild after a small change
(reading and hashing every input is most of it). So the one pass that computes the keys also
notes the inputs the previous build has (in the temporary ``carried`` table of the connection
that will write the state: on disk, so memory stays flat but for the previous build's input
keys and the places it read them from, held up to ``KNOWN_IN_MEMORY``, which also tell which
carried inputs moved) and keeps the few new ones in memory, up to a bound; past it, the build
reads the inputs again as a clean build does.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from generator.incremental import BuildState, input_key
from generator.shard import outside_shard
from generator.sources import RawRecord
from generator.sources.local import _mirror_root_of_file, is_mirror_tree, list_files
from generator.summaries import CARRIED_INDEX

RETAIN_RECORDS = 4096  # new or changed inputs kept in memory after the scan, at most
RETAIN_BYTES = 64 << 20  # and their bytes, at most
BATCH = 256


@dataclass
class Scan:
    digest: str  # SHA-256 over every input's key, in order
    count: int  # inputs
    outside: int  # inputs left to other shards
    carried: int  # inputs the previous build has (noted in the ``carried`` table)
    retained: list[tuple[int, RawRecord, str]] | None  # (position, input, key) of the others, or
    # None when there were too many to keep
    gone: list[str] | None  # input keys of the previous build that no input has now (None: not
    # known, when the previous keys were looked up in batches)
    moved: list[tuple[str, str]] | None  # (where, input key) of the inputs the previous build
    # has that are somewhere else now (another file or line; the first input of each key), or
    # None when not known


def scan_inputs(
    records: Iterable[RawRecord],
    old: BuildState,
    prefixes: tuple[str, ...],
    db: sqlite3.Connection,
    on_change: Callable[[], None] | None = None,
) -> Scan:
    """One pass over ``records``: keys, digest, and the inputs ``old`` has, noted in ``db``'s
    temporary ``carried`` table (the build's connection: ``IncrementalSite.scan_connection``).
    ``on_change`` is called once, as soon as an input the previous build does not have is
    met (a build that will not stop at "nothing changed" starts its slower work then)."""
    h = hashlib.sha256()
    count = outside = carried = 0
    retained: list[tuple[int, RawRecord, str]] | None = []
    held = 0
    db.execute("BEGIN")
    try:
        batch: list[tuple[int, RawRecord, str]] = []
        every = old.all_known()
        # With every previous key at hand, the first input of each is picked out here and the
        # rows are appended, the unique index made after them in one sort (inserting through
        # it cost 0.8 s at 100,000 records); else the index, made first, drops later copies.
        unseen = set(every) if every is not None else None
        moved: list[tuple[str, str]] | None = [] if every is not None else None
        if unseen is None:
            db.execute(CARRIED_INDEX)

        def flush() -> None:
            nonlocal carried, retained, held, on_change
            rows = []  # (key, position, place) of the inputs the previous build has
            fresh = []  # the inputs it does not have
            if unseen is not None and moved is not None and every is not None:
                for item in batch:
                    seq, raw, key = item
                    if key in unseen:  # the first input with a key the previous build has
                        unseen.discard(key)
                        rows.append((key, seq, raw.where))
                        if every[key] != raw.where:
                            moved.append((raw.where, key))
                    elif key not in every:
                        fresh.append(item)
            else:
                known = old.known([k for _s, _r, k in batch])
                for item in batch:
                    seq, raw, key = item
                    if key in known:
                        rows.append((key, seq, raw.where))
                    else:
                        fresh.append(item)
            db.executemany("INSERT OR IGNORE INTO carried VALUES (?, ?, ?)", rows)
            carried += len(batch) - len(fresh)
            if on_change is not None and fresh:
                on_change()  # may commit (IncrementalSite.start_check): begin again
                on_change = None
                if not db.in_transaction:
                    db.execute("BEGIN")
            if retained is not None:
                for item in fresh:
                    raw = item[1]
                    held += len(raw.data) + sum(len(d) for _k, d in raw.endpoints)
                retained.extend(fresh)
                if len(retained) > RETAIN_RECORDS or held > RETAIN_BYTES:
                    retained = None
            batch.clear()

        for seq, raw in enumerate(records):
            key = input_key(raw)
            h.update(bytes.fromhex(key))
            count += 1
            if outside_shard(raw.data, prefixes):
                outside += 1
                continue
            batch.append((seq, raw, key))
            if len(batch) >= BATCH:
                flush()
        flush()
        db.execute(CARRIED_INDEX)
    finally:
        if db.in_transaction:
            db.execute("COMMIT")
    gone = sorted(unseen) if unseen is not None else None
    return Scan(h.hexdigest(), count, outside, carried, retained, gone, moved)


def input_stamp(sources: Iterable[Path], store: Path | None) -> str | None:
    """SHA-256 over the path, size, modification and change times, inode and device of every
    input file, or None when the inputs are not plain files (a download store, or a mirror-shaped
    tree whose records pull in files beside them). Equal stamps mean the same bytes, as for
    ``make`` and ``rsync``: a file cannot be rewritten without a new change time."""
    if store is not None:
        return None
    h = hashlib.sha256()
    for src in sources:
        if is_mirror_tree(src) or (src.is_file() and _mirror_root_of_file(src) is not None):
            return None
        h.update(f"source {src}\0".encode("utf-8", "surrogatepass"))
        for path in list_files(src):
            try:
                st = os.stat(path, follow_symlinks=True)
            except OSError:
                return None
            h.update(
                f"{path}\0{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} {st.st_dev}\n".encode(
                    "utf-8", "surrogatepass"
                )
            )
    return h.hexdigest()
