"""Writing site-wide files, in batches.

Site steps yield tens of thousands of small files (listing pages, search, resolver and mirror-index
shards). Each needs its SHA-256 noted in the build's file table and, in an incremental build, a
look at what the spare tree already holds and whether a cached page can be kept. Done one file at
a time that is several SQLite statements per file; here the files of a step are taken in batches
of a few hundred, with one query per batch for each lookup.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from generator.incremental import BuildState, IncrementalSite
from generator.paths import safe_rel
from generator.render.cached import CachedPage
from generator.render.site import OutputFile
from generator.streamed import StreamedFile
from generator.summaries import FileHashes
from generator.write import is_plain, put_chunks, put_file

BATCH = 400  # under SQLite's 500 host parameters of the lookups


class SiteWriter:
    """Writes site-wide files into ``staging`` and notes them in ``hashes``.

    ``spare`` is the build's site when it adopted a spare tree: a file whose bytes the staging
    tree already holds is not written again. ``previous`` is the live tree's state when its
    files may be carried: a ``CachedPage`` whose key the previous build wrote is carried from
    there instead of rendered. A later file with the path of an earlier one replaces it.
    ``fail_after`` injects an ``OSError`` after that many files (tests of failing closed)."""

    def __init__(
        self,
        staging: Path,
        hashes: FileHashes,
        db: sqlite3.Connection,
        *,
        spare: IncrementalSite | None = None,
        previous: tuple[BuildState, IncrementalSite] | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.staging = staging
        self.hashes = hashes
        self.db = db
        self.spare = spare
        self.previous = previous
        self.fail_after = fail_after
        self.files = 0  # files emitted (written, kept or carried)
        self.kept_pages = 0  # cached pages carried instead of rendered
        self._batch: list[OutputFile | CachedPage] = []
        self._rels: set[str] = set()

    def emit(self, f: OutputFile | StreamedFile | CachedPage) -> None:
        if isinstance(f, StreamedFile):
            self.flush()
            keep = self.spare.current(f.dest_path, self.hashes) if self.spare is not None else None
            sha, size, _new = put_chunks(self.staging, f.dest_path, f.chunks(), keep)
            self.hashes.record(f.dest_path, sha, size)
            self._count(f.dest_path)
            return
        if f.dest_path in self._rels:
            self.flush()  # the later file with this path wins
        self._batch.append(f)
        self._rels.add(f.dest_path)
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self._batch, self._rels = self._batch, [], set()
        if not batch:
            return
        outputs: list[OutputFile] = []
        cached = [f for f in batch if isinstance(f, CachedPage)]
        carried = self._carry(cached) if cached else set()
        for f in batch:
            if isinstance(f, CachedPage):
                if f.dest_path in carried:
                    self.kept_pages += 1
                    self._count(f.dest_path)
                    continue
                f = f.render()
            outputs.append(f)
        self._write(outputs)

    def _carry(self, cached: Sequence[CachedPage]) -> set[str]:
        """Note the keys of ``cached`` and carry those whose key is unchanged; their paths."""
        self.db.executemany(
            "INSERT OR REPLACE INTO page_keys VALUES (?, ?)", [(c.dest_path, c.key) for c in cached]
        )
        if self.previous is None:
            return set()
        old, site = self.previous
        known = old.cached_files([c.dest_path for c in cached])
        rows = []
        for c in cached:
            hit = known.get(c.dest_path)
            if hit is not None and hit[0] == c.key:
                rows.append((c.dest_path, hit[1], hit[2]))
        if not rows:
            return set()
        conflicts = set(site.carry_files(rows, self.hashes).conflicts)
        return {rel for rel, _sha, _size in rows if rel not in conflicts}

    def _write(self, outputs: Sequence[OutputFile]) -> None:
        if not outputs:
            return
        sums = [(f, hashlib.sha256(f.data).hexdigest(), len(f.data)) for f in outputs]
        current: dict[str, str] = {}
        if self.spare is not None:
            current = self.spare.current_among([f.dest_path for f in outputs], self.hashes)
        noted = []
        for f, sha, size in sums:
            held = current.get(f.dest_path) == sha and is_plain(self.staging / safe_rel(f.dest_path), size)
            if not held:
                put_file(self.staging, f.dest_path, f.data)
            noted.append((f.dest_path, sha, size))
            self._count(f.dest_path, noted)
        self.hashes.record_many(noted)

    def _count(self, rel: str, noted: list[tuple[str, str, int]] | None = None) -> None:
        self.files += 1
        if self.fail_after is not None and self.files >= self.fail_after:
            if noted:
                self.hashes.record_many(noted)
            raise OSError(5, "injected fault while writing", rel)
