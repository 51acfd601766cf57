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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator.paths import safe_rel
from generator.render.cached import CachedPage, KeptTree
from generator.render.site import OutputFile
from generator.streamed import StreamedFile
from generator.summaries import FILES_IN_RANGE, FileHashes
from generator.write import is_plain, put_chunks, put_file

BATCH = 400  # under SQLite's 500 host parameters of the lookups


class SiteWriter:
    """Writes site-wide files into ``staging`` and notes them in ``hashes`` (and in the build's
    ``site_noted`` table: the site-wide files of this build).

    A file whose bytes the staging tree already holds (as ``hashes`` lists it: with ``based``,
    the previous build's files) is not written again. With ``based``, a ``CachedPage`` whose key
    the previous build noted for a file it still lists is kept as it is, not rendered. A later
    file with the path of an earlier one replaces it. ``fail_after`` injects an ``OSError``
    after that many files (tests of failing closed)."""

    def __init__(
        self,
        staging: Path,
        hashes: FileHashes,
        db: sqlite3.Connection,
        *,
        based: bool = False,
        fail_after: int | None = None,
    ) -> None:
        self.staging = staging
        self.hashes = hashes
        self.db = db
        self.based = based
        self.fail_after = fail_after
        self.files = 0  # files emitted (written, kept or carried)
        self.kept_pages = 0  # cached pages kept instead of rendered
        self._batch: list[OutputFile | CachedPage] = []
        self._rels: set[str] = set()

    def emit(self, f: OutputFile | StreamedFile | CachedPage | KeptTree) -> None:
        if isinstance(f, KeptTree):
            self.flush()
            self._keep_tree(f.prefix)
            return
        if isinstance(f, StreamedFile):
            self.flush()
            keep = self.hashes.get_sha(f.dest_path)
            sha, size, _new = put_chunks(self.staging, f.dest_path, f.chunks(), keep)
            self.hashes.record(f.dest_path, sha, size)
            self._note([f.dest_path])
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
        kept = self._keep(cached) if cached else set()
        self._note([f.dest_path for f in batch])
        for f in batch:
            if isinstance(f, CachedPage):
                if f.dest_path in kept:
                    self.kept_pages += 1
                    self._count(f.dest_path)
                    continue
                f = f.render()
            outputs.append(f)
        self._write(outputs)

    def _note(self, rels: Sequence[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO temp.site_noted VALUES (?)", [(r,) for r in rels])

    def _keep_tree(self, prefix: str) -> None:
        """Keep every file the build's file list has under ``prefix`` (the previous build's).
        A file this build noted already (a page the step wrote before the tree) stays counted
        once, as written, not kept."""
        if not self.based:
            raise ValueError(f"{prefix}: nothing to keep in a build that does not start from a previous one")
        count = self._keep_range(prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))
        self.kept_pages += count
        if self.fail_after is not None and self.files + count >= self.fail_after:
            self.files = self.fail_after
            raise OSError(5, "injected fault while writing", prefix)
        self.files += count

    def _keep_range(self, lo: str, hi: str) -> int:
        """``keep`` and note every listed file whose path is in [lo, hi); returns how many of
        them this build had not noted yet."""
        self.hashes.keep_range(lo, hi)
        noted = self.db.execute(
            f"INSERT OR IGNORE INTO temp.site_noted SELECT rel {FILES_IN_RANGE}", (lo, hi)
        )
        return noted.rowcount

    def _keep(self, cached: Sequence[CachedPage]) -> set[str]:
        """Note the keys of ``cached``; the paths of those whose file the previous build wrote
        with the same key (kept as they are)."""
        kept: set[str] = set()
        if self.based:
            marks = ",".join("?" * len(cached))
            known = dict(
                self.db.execute(
                    f"SELECT k.rel, k.key FROM page_keys k JOIN files f USING (rel) WHERE k.rel IN ({marks})",
                    [c.dest_path for c in cached],
                )
            )
            kept = {c.dest_path for c in cached if known.get(c.dest_path) == c.key}
            self.hashes.keep(sorted(kept))
        self._store_keys([(c.dest_path, c.key) for c in cached if c.dest_path not in kept])
        return kept

    def _store_keys(self, rows: Sequence[tuple[str, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO page_keys VALUES (?, ?)", rows)

    def take(self, outcome: StepsOutcome) -> None:
        """Note what ``ChildWriter`` wrote in another process, as if this writer had."""
        self.hashes.keep(outcome.kept)
        self.hashes.record_many(outcome.recorded)
        self._note(outcome.noted)
        self._store_keys(outcome.keys)
        self.files += outcome.files
        self.kept_pages += outcome.kept_pages

    def _write(self, outputs: Sequence[OutputFile]) -> None:
        if not outputs:
            return
        sums = [(f, hashlib.sha256(f.data).hexdigest(), len(f.data)) for f in outputs]
        current = self.hashes.among([f.dest_path for f in outputs])
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


@dataclass
class StepsOutcome:
    """What a ``ChildWriter`` did, for the parent's ``SiteWriter.take``."""

    files: int = 0
    kept_pages: int = 0
    kept: list[str] = field(default_factory=list)  # files kept as the staging tree holds them
    recorded: list[tuple[str, str, int]] = field(default_factory=list)  # (rel, SHA-256, size)
    noted: list[str] = field(default_factory=list)  # site-wide files of this build
    keys: list[tuple[str, str]] = field(default_factory=list)  # (rel, key) of rendered cached pages
    took: list[tuple[str, int, float]] = field(default_factory=list)  # (step, files, seconds)


class _NotingHashes(FileHashes):
    """A ``FileHashes`` that reads the build's file list but notes its changes in an outcome."""

    def __init__(self, db: sqlite3.Connection, outcome: StepsOutcome, *, based: bool) -> None:
        super().__init__(db, based=based)
        self.outcome = outcome

    def record_many(self, rows: Iterable[tuple[str, str, int]]) -> None:
        self.outcome.recorded.extend(rows)

    def keep(self, rels: Sequence[str]) -> None:
        self.outcome.kept.extend(rels)

    def keep_range(self, lo: str, hi: str) -> list[str]:
        rels = [str(r) for (r,) in self.db.execute(f"SELECT rel {FILES_IN_RANGE}", (lo, hi))]
        self.keep(rels)
        return rels


class ChildWriter(SiteWriter):
    """A ``SiteWriter`` for a forked process: it writes files into the staging tree and reads
    the build database (its own read-only connection), but every change it would make to the
    database goes into ``outcome`` instead, for the parent to apply (``SiteWriter.take``)."""

    def __init__(self, staging: Path, db: sqlite3.Connection, *, based: bool) -> None:
        self.outcome = StepsOutcome()
        self.noting = _NotingHashes(db, self.outcome, based=based)
        super().__init__(staging, self.noting, db, based=based)

    def _note(self, rels: Sequence[str]) -> None:
        self.outcome.noted.extend(rels)

    def _keep_range(self, lo: str, hi: str) -> int:
        noted = set(self.outcome.noted)
        rels = [rel for rel in self.noting.keep_range(lo, hi) if rel not in noted]
        self._note(rels)
        return len(rels)

    def _store_keys(self, rows: Sequence[tuple[str, str]]) -> None:
        self.outcome.keys.extend(rows)

    def finish(self) -> StepsOutcome:
        self.flush()
        self.outcome.files, self.outcome.kept_pages = self.files, self.kept_pages
        return self.outcome
