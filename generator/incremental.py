"""Incremental builds, keyed on content, on two full trees (the live site and a spare).

A record's outputs are rebuilt when its input changes (its bytes, fetched endpoints, notes or
provenance: the *input key*) or when anything that shapes every page changes (templates, static
files, output settings, the keyring, the generator's own code: the *render fingerprint*).
Otherwise the record is *carried*: its files come from the previous build and its summary from
the build state. Records that left the input are not carried.

The build state is a SQLite file beside the output, ``.{name}.state.sqlite`` (never inside the
published tree). It lists every file of the live tree with its SHA-256 and size, each record's
summary and input key, the identity (device, inode) of the live tree's root directory and that
of the spare. A state that does not describe the live tree (a build killed between the swap and
the state update, a tree replaced by hand) is not used, and the build starts from nothing.

Every build still ends with one atomic swap of a complete staging tree, and the published tree
holds plain files only (one link each, no symlinks). To keep that cheap the previous tree is
not deleted after the swap: it is kept whole beside the output as the *spare*,
``.{name}.spare``, with the state that described it as ``.{name}.spare-state.sqlite``. The next
build adopts the spare as its staging tree (when its identity matches the one the live state
recorded) and brings it up to date in place, so its cost follows what changed, not the size of
the site:

- a carried file the spare already holds with the same SHA-256 (a plain file of the recorded
  size) is kept; otherwise it is copied from the live tree into a new file;
- rebuilt records and site-wide files are written as new files renamed over the spare's
  (``write.put_file``); a site-wide file whose bytes equal the spare's keeps the spare's file
  (a streamed one is written to a temporary file first, and dropped);
- files of the spare that the new build does not produce are removed before the manifest step;
- publishing swaps the trees and renames the old one and its state into the spare's place: no
  per-file work after the swap.

The price is a second full copy of the site on disk (bytes and inodes twice); a clean build
(``--no-incremental``) keeps no spare. A build killed at any point leaves the staging tree (the
former spare) behind; the next build clears it and starts from an empty tree, copying carried
files from the live tree once.

Nothing unverified is published: a carried record's bytes are the bytes a previous build
verified under the same fingerprint (which covers the keyring), checked by size and file type
against the state; every other record goes through ``verify_record`` as in a clean build.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import generator
from generator import GENERATOR
from generator.config import Config
from generator.keyring import Keyring
from generator.paths import safe_rel
from generator.sources import RawRecord
from generator.summaries import FileHashes, connect, meta_get, meta_set, summary_from_json
from generator.write import (
    OLD_TAG,
    STAGING_TAG,
    StagedSite,
    _fsync_dir,
    _renameat2_exchange,
    is_plain,
    put_into,
)

log = logging.getLogger(__name__)

STATE_VERSION = "7"
STATE_TAG = ".state.sqlite"
NEW_STATE_TAG = ".state-new-"
SPARE_TAG = ".spare"
SPARE_STATE_TAG = ".spare-state.sqlite"
LEGACY_SKELETON_TAG = ".skeleton"  # the emptied previous tree of state version 3


def input_key(raw: RawRecord) -> str:
    """SHA-256 over everything of a ``RawRecord`` that can reach its pages (not ``where``)."""
    h = hashlib.sha256()

    def part(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)

    part(raw.data)
    h.update(len(raw.endpoints).to_bytes(4, "big"))
    for kind, data in raw.endpoints:
        part(kind.encode())
        part(data)
    h.update(len(raw.notes).to_bytes(4, "big"))
    for note in raw.notes:
        part(note.encode("utf-8", "surrogatepass"))
    for extra in (raw.origin_url, raw.fetched_at):
        part(b"\x00" if extra is None else b"\x01" + extra.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def inputs_digest(records: Iterable[RawRecord]) -> tuple[str, int]:
    """SHA-256 over the input keys of all records, in order, and their number."""
    h = hashlib.sha256()
    n = 0
    for raw in records:
        h.update(bytes.fromhex(input_key(raw)))
        n += 1
    return h.hexdigest(), n


def _hash_tree(h: hashlib._Hash, root: Path, label: str) -> None:
    if not root.is_dir():
        h.update(f"{label}: missing\n".encode())
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())


def render_fingerprint(config: Config, keyring: Keyring) -> str:
    """What every output depends on besides the records: code, templates, static files,
    settings and keys. A change here rebuilds every record."""
    h = hashlib.sha256()
    h.update(f"{GENERATOR}\n".encode())
    _hash_tree(h, Path(generator.__file__).resolve().parent, "generator")
    _hash_tree(h, config.templates_dir, "templates")
    _hash_tree(h, config.static_dir, "static")
    _hash_tree(h, config.content_dir / "pages", "pages")  # content pages are in every page's nav
    settings = {
        k: v
        for k, v in asdict(config).items()
        if k not in ("sources", "output", "jobs", "content_dir", "templates_dir", "static_dir", "config_file")
        and k != "keyring_files"
        and k != "incremental"
    }
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(json.dumps(keyring.describe(), sort_keys=True, default=str).encode())
    return h.hexdigest()


def state_path(output: Path) -> Path:
    return output.parent / f".{output.name}{STATE_TAG}"


def spare_path(output: Path) -> Path:
    return output.parent / f".{output.name}{SPARE_TAG}"


def spare_state_path(output: Path) -> Path:
    return output.parent / f".{output.name}{SPARE_STATE_TAG}"


def _root_id(path: Path) -> str:
    st = os.stat(path, follow_symlinks=False)
    return f"{st.st_dev}:{st.st_ino}"


class BuildState:
    """A build's state, if it describes its tree (by default: the live site's); read-only."""

    def __init__(
        self, output: Path, *, read: bool = True, path: Path | None = None, tree: Path | None = None
    ) -> None:
        self.output = output
        self.path = path if path is not None else state_path(output)
        tree = tree if tree is not None else output
        self.db: sqlite3.Connection | None = None
        self.valid = False
        if not read or not self.path.is_file() or tree.is_symlink() or not tree.is_dir():
            return
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            if meta_get(db, "state_version") != STATE_VERSION or meta_get(db, "root") != _root_id(tree):
                db.close()
                return
        except sqlite3.DatabaseError as exc:
            log.warning("%s: unreadable build state (%s); not using it", self.path, exc)
            return
        self.db = db
        self.valid = True

    def meta(self, key: str) -> str | None:
        return meta_get(self.db, key) if self.db is not None else None

    def known(self, keys: list[str]) -> set[str]:
        """The input keys among ``keys`` whose record the previous build published."""
        assert self.db is not None
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            found.update(
                str(k)
                for (k,) in self.db.execute(
                    f"SELECT input_key FROM summaries WHERE input_key IN ({marks})", part
                )
            )
        return found

    def files_among(self, rels: Sequence[str]) -> dict[str, tuple[str, int]]:
        """rel -> (SHA-256, size) of those of ``rels`` (at most 500) that the state lists."""
        assert self.db is not None
        marks = ",".join("?" * len(rels))
        cur = self.db.execute(f"SELECT rel, sha256, size FROM files WHERE rel IN ({marks})", list(rels))
        return {str(r): (str(h), int(n)) for r, h, n in cur}

    def cached_files(self, rels: Sequence[str]) -> dict[str, tuple[str, str, int]]:
        """rel -> (page key, SHA-256, size) of those of ``rels`` (at most 500) that the build
        wrote as cached pages (``generator.render.cached``)."""
        assert self.db is not None
        marks = ",".join("?" * len(rels))
        cur = self.db.execute(
            f"SELECT k.rel, k.key, f.sha256, f.size FROM page_keys k JOIN files f USING (rel) "
            f"WHERE k.rel IN ({marks})",
            list(rels),
        )
        return {str(r): (str(k), str(h), int(n)) for r, k, h, n in cur}

    def check_live_files(self) -> str | None:
        """A cheap check that the live tree still holds the files the state lists: every one a
        regular file of the recorded size with one link. Returns a problem, or None."""
        assert self.db is not None
        for rel, size in self.db.execute("SELECT rel, size FROM files"):
            try:
                st = os.lstat(self.output / rel)
            except OSError:
                return f"{rel} is missing"
            if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_nlink != 1:
                return f"{rel} is not the file the build state recorded"
        return None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def open_state(output: Path) -> sqlite3.Connection:
    """A read-only connection to the live site's build state."""
    return sqlite3.connect(f"file:{state_path(output)}?mode=ro", uri=True, isolation_level=None)


def clear_leftovers(output: Path) -> None:
    """New-state files a killed build left behind (staging trees are cleared by StagedSite)."""
    for stale in output.parent.glob(f".{output.name}{NEW_STATE_TAG}*"):
        with contextlib.suppress(OSError):
            stale.unlink()


def drop_spare(output: Path) -> None:
    """Remove the spare tree and its state (and the emptied tree older versions kept). The
    state goes first: a spare left half removed by a killed build is never adopted."""
    spare_state_path(output).unlink(missing_ok=True)
    for tree in (spare_path(output), output.parent / f".{output.name}{LEGACY_SKELETON_TAG}"):
        if tree.is_symlink():
            tree.unlink()
        elif tree.exists():
            shutil.rmtree(tree)


class StaleStateError(Exception):
    """The live tree does not hold a file the build state lists: the state cannot be used."""


@dataclass
class CarryCounts:
    kept: int = 0  # already in the staging tree (the spare) with the same bytes
    copied: int = 0  # copied from the live tree into a new file
    conflicts: list[str] = field(default_factory=list)  # noted in this build with other bytes


class IncrementalSite(StagedSite):
    """A ``StagedSite`` that starts from the spare tree when it can, and on publish records the
    new state and keeps the previous tree as the next spare."""

    def __init__(self, output: Path, fingerprint: str) -> None:
        super().__init__(output)
        self.fingerprint = fingerprint
        self.old_state = BuildState(output, read=False)
        self.spare_state = BuildState(output, read=False)
        self.reusable = False
        self.trusted = False  # the live tree is the one its state describes: it may become the spare
        self.new_state_path = output.parent / f".{output.name}{NEW_STATE_TAG}{secrets.token_hex(4)}"
        self.db: sqlite3.Connection | None = None
        self.spare_used = False

    def __enter__(self) -> IncrementalSite:
        super().__enter__()
        clear_leftovers(self.output)
        self.old_state = BuildState(self.output)  # read under the lock
        self.trusted = self.old_state.valid
        self.reusable = self.old_state.valid and self.old_state.meta("fingerprint") == self.fingerprint
        return self

    def begin(self) -> None:
        """Start the new tree: adopt the spare when it is the one the live state describes."""
        spare = spare_path(self.output)
        legacy = self.output.parent / f".{self.output.name}{LEGACY_SKELETON_TAG}"
        if legacy.is_dir() and not legacy.is_symlink():
            shutil.rmtree(legacy, ignore_errors=True)
        if self.trusted and spare.is_dir() and not spare.is_symlink():
            state = BuildState(self.output, path=spare_state_path(self.output), tree=spare)
            if state.valid and self.old_state.meta("spare") == _root_id(spare):
                os.rmdir(self.staging)
                os.rename(spare, self.staging)
                self.spare_state = state
                self.spare_used = True
            else:
                state.close()
        if not self.spare_used:
            drop_spare(self.output)
        self.db = connect(self.new_state_path)

    def __exit__(self, *exc: object) -> None:
        try:
            self.spare_state.close()
            if self.db is not None:
                self.db.close()
                self.db = None
            if not self.published:
                with contextlib.suppress(OSError):
                    self.new_state_path.unlink()
                if self.spare_used:  # the spare was the staging tree, which goes now
                    with contextlib.suppress(OSError):
                        spare_state_path(self.output).unlink()
        finally:
            super().__exit__(*exc)  # type: ignore[arg-type]

    # -- bringing the staging tree up to date --------------------------------------------
    def current(self, rel: str, hashes: FileHashes) -> str | None:
        """The SHA-256 of the file the staging tree holds at ``rel`` as far as the states tell:
        the one this build noted, else the spare's (check the file with ``write.is_plain``)."""
        return self.current_among([rel], hashes).get(rel)

    def current_among(self, rels: Sequence[str], hashes: FileHashes) -> dict[str, str]:
        """``current`` for those of ``rels`` (at most 500) that either state lists."""
        found = hashes.among(rels)
        rest = [rel for rel in rels if rel not in found]
        if rest and self.spare_state.db is not None:
            found.update((rel, sha) for rel, (sha, _size) in self.spare_state.files_among(rest).items())
        return found

    def carry_files(self, rows: Iterable[tuple[str, str, int]], hashes: FileHashes) -> CarryCounts:
        """Bring files of the live tree, given as (rel, sha256, size) rows of the live state,
        into the staging tree and note them in ``hashes``: kept when the spare holds the same
        bytes (a plain file of the recorded size), else copied from the live tree into a new
        file (never a link). A file this build already noted is left as it is (its rel is in
        ``conflicts`` when the bytes differ). A live file that is not a plain file of the
        recorded size raises ``StaleStateError``."""
        counts = CarryCounts()
        live_fd = os.open(self.output, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stage_fd = os.open(self.staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            batch: list[tuple[str, str, int]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 500:
                    self._carry_batch(batch, hashes, counts, live_fd, stage_fd)
                    batch = []
            if batch:
                self._carry_batch(batch, hashes, counts, live_fd, stage_fd)
        finally:
            os.close(live_fd)
            os.close(stage_fd)
        return counts

    def _carry_batch(
        self,
        batch: list[tuple[str, str, int]],
        hashes: FileHashes,
        counts: CarryCounts,
        live_fd: int,
        stage_fd: int,
    ) -> None:
        rels = [rel for rel, _sha, _size in batch]
        noted = hashes.among(rels)
        spare = self.spare_state.files_among(rels) if self.spare_state.db is not None else {}
        carried: list[tuple[str, str, int]] = []
        for rel, sha, size in batch:
            if rel in noted:
                if noted[rel] != sha:
                    counts.conflicts.append(rel)
                continue
            self._place(rel, size, spare.get(rel) == (sha, size), counts, live_fd, stage_fd)
            carried.append((rel, sha, size))
        hashes.record_many(carried)

    def carry_compared(self, rows: Iterable[tuple[str, int, bool]]) -> CarryCounts:
        """The file step of ``carry_files`` for rows whose comparisons are done already:
        (rel, size, whether the spare's state lists the same SHA-256 and size). The caller
        notes the files."""
        counts = CarryCounts()
        live_fd = os.open(self.output, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stage_fd = os.open(self.staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for rel, size, same in rows:
                self._place(rel, size, same, counts, live_fd, stage_fd)
        finally:
            os.close(live_fd)
            os.close(stage_fd)
        return counts

    def _place(
        self, rel: str, size: int, same: bool, counts: CarryCounts, live_fd: int, stage_fd: int
    ) -> None:
        """Keep the spare's file when it is the same (a plain file of the recorded size), or
        copy the live file into a new file."""
        safe_rel(rel)
        if same and self.spare_used and is_plain(rel, size, dir_fd=stage_fd):
            counts.kept += 1
        else:
            self._copy_from_live(rel, size, live_fd)
            counts.copied += 1

    def _copy_from_live(self, rel: str, size: int, live_fd: int) -> None:
        try:
            src = os.open(rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=live_fd)
        except OSError:
            raise StaleStateError(f"{rel} is missing from the live site") from None
        try:
            st = os.fstat(src)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_nlink != 1:
                raise StaleStateError(f"{rel} in the live site is not the file the build state recorded")
            if not copy_file(src, self.staging, rel, size, st.st_mtime_ns):
                raise StaleStateError(f"{rel} in the live site changed while it was copied")
        finally:
            os.close(src)

    def remove_stale(self, hashes: FileHashes) -> int:
        """Remove the files of the spare that this build did not note, and the directories
        they leave empty. Returns the number of files removed."""
        if not self.spare_used or self.db is None:
            return 0
        db = self.db
        db.execute("COMMIT")
        db.execute("ATTACH DATABASE ? AS spare", (str(self.spare_state.path),))
        try:
            db.execute("BEGIN")
            db.execute("DROP TABLE IF EXISTS temp.stale")
            db.execute(
                "CREATE TEMP TABLE stale AS SELECT rel FROM spare.files EXCEPT SELECT rel FROM main.files"
            )
            db.execute("COMMIT")
        finally:
            db.execute("DETACH DATABASE spare")
            db.execute("BEGIN")
        removed = 0
        parents: set[str] = set()
        for (rel,) in db.execute("SELECT rel FROM temp.stale"):
            path = self.staging / safe_rel(str(rel))
            # (a directory there now holds files of this build, where the spare had a file)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                if not path.is_dir() or path.is_symlink():
                    path.unlink()
                    removed += 1
            parents.add(str(rel).rpartition("/")[0])
        db.execute("DROP TABLE temp.stale")
        for parent in sorted(parents, key=lambda r: (-r.count("/"), r)):
            while parent:
                try:
                    os.rmdir(self.staging / parent)
                except OSError:
                    break
                parent = parent.rpartition("/")[0]
        return removed

    # -- publishing ------------------------------------------------------------------------
    def publish(self) -> None:
        """Swap in the staging tree, record the new state, and keep the old tree as the spare."""
        assert self.db is not None
        db = self.db
        keep = self.trusted and self.output.exists()
        meta_set(db, "state_version", STATE_VERSION)
        meta_set(db, "root", _root_id(self.staging))
        meta_set(db, "spare", (self.old_state.meta("root") or "") if keep else "")
        db.execute("COMMIT")
        db.close()
        self.db = None
        _fsync_dir(self.staging)
        if not self.output.exists():
            os.rename(self.staging, self.output)
            os.replace(self.new_state_path, state_path(self.output))
            _fsync_dir(self.parent)
            self.published = True
            return
        if _renameat2_exchange(self.staging, self.output):
            old = self.staging
        else:
            old = self.parent / f".{self.name}{OLD_TAG}{secrets.token_hex(4)}"
            os.rename(self.output, old)
            os.rename(self.staging, self.output)
        self.published = True
        # the old tree and its state become the spare; a build killed in between finds a spare
        # that the live state does not name (or no live state) and does not use it
        if keep:
            os.replace(state_path(self.output), spare_state_path(self.output))
            os.replace(self.new_state_path, state_path(self.output))
            os.rename(old, spare_path(self.output))
        else:
            os.replace(self.new_state_path, state_path(self.output))
            spare_state_path(self.output).unlink(missing_ok=True)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(self.parent)


def copy_file(src_fd: int, root: Path, rel: str, size: int, mtime_ns: int) -> bool:
    """Copy ``size`` bytes from ``src_fd`` into a new file ``root/rel`` (``write.put_file``
    rules) with the modification time ``mtime_ns``. False when the source ends early."""
    complete = True

    def fill(fd: int) -> None:
        nonlocal complete
        offset = 0
        while offset < size:
            try:
                n = os.copy_file_range(src_fd, fd, size - offset, offset, offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                n = os.pwrite(fd, os.pread(src_fd, min(size - offset, 1 << 20), offset), offset)
            if n == 0:
                complete = False
                return
            offset += n
        os.utime(fd, ns=(mtime_ns, mtime_ns))

    put_into(root, rel, fill)
    return complete


def carry_records(
    db: sqlite3.Connection, old: BuildState, site: IncrementalSite, hashes: FileHashes
) -> list[tuple[str, str]]:
    """Carry every record listed in the ``carried`` table from the previous build: its summary
    into ``pending`` (without its columns, which ``settle`` copies from the previous state) and
    its files into the staging tree, as ``IncrementalSite.carry_files``
    does, with the comparisons against this build's files and the spare's state made in SQL.
    Returns (rel, pith number) for each carried file that a record rebuilt now also wrote with
    other bytes."""
    spare = site.spare_state.path if site.spare_used and site.spare_state.valid else None
    db.execute("COMMIT")
    db.execute("ATTACH DATABASE ? AS old", (str(old.path),))
    if spare is not None:
        db.execute("ATTACH DATABASE ? AS spare", (str(spare),))
    try:
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO pending (seq, suffix, raw_sha256, input_key, where_, submitted_at, signed_key, "
            "carried) SELECT c.seq, s.suffix, s.raw_sha256, s.input_key, c.where_, s.submitted_at, "
            "s.signed_key, 1 FROM carried c JOIN old.summaries s USING (input_key)"
        )
        db.execute(
            "INSERT OR IGNORE INTO owners SELECT o.* FROM old.owners o JOIN carried c USING (input_key)"
        )
        db.execute("DROP TABLE IF EXISTS temp.carry_files")
        same = (
            "(s.sha256 IS NOT NULL AND s.sha256 = f.sha256 AND s.size = f.size)" if spare is not None else "0"
        )
        db.execute(
            f"CREATE TEMP TABLE carry_files AS SELECT f.rel, f.sha256, f.size, {same} AS same "
            f"FROM old.files f {'LEFT JOIN spare.files s USING (rel) ' if spare is not None else ''}"
            "WHERE f.rel IN (SELECT o.rel FROM old.owners o JOIN carried c USING (input_key)) ORDER BY f.rel"
        )
        # a file this build wrote already stays (and differing bytes are reported)
        conflicts = [
            str(rel)
            for (rel,) in db.execute(
                "SELECT c.rel FROM temp.carry_files c JOIN main.files m USING (rel) "
                "WHERE m.sha256 != c.sha256"
            )
        ]
        db.execute("DELETE FROM temp.carry_files WHERE rel IN (SELECT rel FROM main.files)")
        db.execute("INSERT INTO main.files SELECT rel, sha256, size FROM temp.carry_files")
        db.execute("COMMIT")
    finally:
        db.execute("DETACH DATABASE old")
        if spare is not None:
            db.execute("DETACH DATABASE spare")
        db.execute("BEGIN")

    def rows() -> Iterator[tuple[str, int, bool]]:
        last = 0
        while True:
            part = db.execute(
                "SELECT rowid, rel, size, same FROM temp.carry_files "
                "WHERE rowid > ? ORDER BY rowid LIMIT 4096",
                (last,),
            ).fetchall()
            if not part:
                return
            last = part[-1][0]
            for _rowid, rel, size, same in part:
                yield str(rel), int(size), bool(same)

    counts = site.carry_compared(rows())
    db.execute("DROP TABLE temp.carry_files")
    log.info("carried files: %d kept in the spare, %d copied from the live site", counts.kept, counts.copied)
    out = []
    assert old.db is not None
    for rel in conflicts:
        row = old.db.execute(
            "SELECT s.data FROM owners o JOIN summaries s USING (input_key) "
            "WHERE o.rel = ? ORDER BY s.suffix",
            (rel,),
        ).fetchone()
        out.append((rel, summary_from_json(row[0]).pith_number if row else rel))
    return out


__all__ = [
    "STAGING_TAG",
    "BuildState",
    "CarryCounts",
    "IncrementalSite",
    "carry_records",
    "drop_spare",
    "input_key",
    "inputs_digest",
    "render_fingerprint",
]
