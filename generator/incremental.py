"""Incremental builds, keyed on content.

A record's outputs are rebuilt when its input changes (its bytes, fetched endpoints, notes or
provenance: the *input key*) or when anything that shapes every page changes (templates, static
files, output settings, the keyring, the generator's own code: the *render fingerprint*).
Otherwise its files are carried into the new tree as hard links to the live files, and its
summary comes from the build state. Records that left the input are simply not carried.

The build state is a SQLite file beside the output, ``.{name}.state.sqlite`` (never inside the
published tree). It lists every file of the live tree with its SHA-256 and size, each record's
summary and input key, and the identity (device, inode) of the live tree's root directory: a
state that does not describe the live tree (a build killed between the swap and the state
update, a tree replaced by hand) is not used, and the build starts from nothing.

Every build still ends with one atomic swap of a complete staging tree. To make that cheap, the
previous tree is not deleted after the swap: its files are unlinked (so every published file has
exactly one link again) and its empty directories are kept as ``.{name}.skeleton``, the starting
point of the next staging tree. Creating and deleting a directory per record costs ten times a
hard link on ext4; reusing them keeps an incremental build's cost near one ``link`` per file.

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
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import generator
from generator import GENERATOR
from generator.config import Config
from generator.keyring import Keyring
from generator.sources import RawRecord
from generator.summaries import FileHashes, connect, meta_get, meta_set
from generator.write import STAGING_TAG, StagedSite, _fsync_dir, _renameat2_exchange

log = logging.getLogger(__name__)

STATE_VERSION = "3"
STATE_TAG = ".state.sqlite"
NEW_STATE_TAG = ".state-new-"
SKELETON_TAG = ".skeleton"


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


def skeleton_path(output: Path) -> Path:
    return output.parent / f".{output.name}{SKELETON_TAG}"


def _root_id(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


class BuildState:
    """The previous build's state, if it describes the live tree; read-only."""

    def __init__(self, output: Path, *, read: bool = True) -> None:
        self.output = output
        self.path = state_path(output)
        self.db: sqlite3.Connection | None = None
        self.valid = False
        if not read or not self.path.is_file() or not output.is_dir():
            return
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            if meta_get(db, "state_version") != STATE_VERSION or meta_get(db, "root") != _root_id(output):
                db.close()
                return
        except sqlite3.DatabaseError as exc:
            log.warning("%s: unreadable build state (%s); building from nothing", self.path, exc)
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


class IncrementalSite(StagedSite):
    """A ``StagedSite`` that starts from the previous tree's emptied directories and, on
    publish, records the new state and turns the previous tree into the next skeleton."""

    def __init__(self, output: Path, fingerprint: str) -> None:
        super().__init__(output)
        self.fingerprint = fingerprint
        self.old_state = BuildState(output, read=False)
        self.reusable = False
        self.new_state_path = output.parent / f".{output.name}{NEW_STATE_TAG}{secrets.token_hex(4)}"
        self.db: sqlite3.Connection | None = None
        self.skeleton_used = False

    def __enter__(self) -> IncrementalSite:
        super().__enter__()
        clear_leftovers(self.output)
        self.old_state = BuildState(self.output)  # read under the lock
        self.reusable = self.old_state.valid and self.old_state.meta("fingerprint") == self.fingerprint
        return self

    def begin(self) -> None:
        """Start the new tree: adopt the skeleton when it is the one the state describes."""
        skel = skeleton_path(self.output)
        if skel.is_dir() and not skel.is_symlink():
            if self.old_state.valid and self.old_state.meta("skeleton") == _root_id(skel):
                os.rmdir(self.staging)
                os.rename(skel, self.staging)
                self.skeleton_used = True
            else:
                shutil.rmtree(skel, ignore_errors=True)
        self.db = connect(self.new_state_path)
        self.db.execute("CREATE TABLE IF NOT EXISTS skel (rel TEXT PRIMARY KEY) WITHOUT ROWID")

    def __exit__(self, *exc: object) -> None:
        try:
            if self.db is not None:
                self.db.close()
                self.db = None
            if not self.published:
                with contextlib.suppress(OSError):
                    self.new_state_path.unlink()
        finally:
            super().__exit__(*exc)  # type: ignore[arg-type]

    def stale_skeleton_dirs(self) -> list[str]:
        """Directories of the skeleton that the new tree does not use, deepest first."""
        if not self.skeleton_used or self.old_state.db is None or self.db is None:
            return []
        self.db.execute("COMMIT")
        self.db.execute("ATTACH DATABASE ? AS old", (str(self.old_state.path),))
        try:
            rows = self.db.execute("SELECT rel FROM old.skel EXCEPT SELECT rel FROM main.dirs").fetchall()
        finally:
            self.db.execute("DETACH DATABASE old")
            self.db.execute("BEGIN")
        return sorted((str(r) for (r,) in rows), key=lambda r: (-r.count("/"), r))

    def remove_stale_dirs(self) -> int:
        removed = 0
        for rel in self.stale_skeleton_dirs():
            try:
                os.rmdir(self.staging / rel)
                removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise
        return removed

    def publish(self) -> None:
        """Swap in the staging tree, record the new state, and keep the old tree's directories."""
        assert self.db is not None
        db = self.db
        meta_set(db, "state_version", STATE_VERSION)
        meta_set(db, "root", _root_id(self.staging))
        self._record_skeleton(db)
        db.execute("COMMIT")
        _fsync_dir(self.staging)
        if not self.output.exists():
            os.rename(self.staging, self.output)
            self._commit_state(db, old=None)
            _fsync_dir(self.parent)
            self.published = True
            return
        if _renameat2_exchange(self.staging, self.output):
            old = self.staging
        else:
            old = self.parent / f".{self.name}.old-{secrets.token_hex(4)}"
            os.rename(self.output, old)
            os.rename(self.staging, self.output)
        self._commit_state(db, old=old)
        _fsync_dir(self.parent)
        self.published = True

    def _commit_state(self, db: sqlite3.Connection, old: Path | None) -> None:
        """Move the new state in; then empty the old tree of files and keep it as the skeleton."""
        db.close()
        self.db = None
        os.replace(self.new_state_path, state_path(self.output))
        if old is None:
            return
        if not (self.old_state.valid and self._empty(old)):
            shutil.rmtree(old, ignore_errors=True)
            return
        os.rename(old, skeleton_path(self.output))

    def _record_skeleton(self, db: sqlite3.Connection) -> None:
        """The old tree will become the next skeleton: record its directories and identity."""
        db.execute("DELETE FROM skel")
        if self.old_state.valid and self.old_state.db is not None:
            rows = self.old_state.db.execute("SELECT rel FROM dirs")
            db.executemany("INSERT OR IGNORE INTO skel VALUES (?)", rows)
            meta_set(db, "skeleton", self.old_state.meta("root") or "")

    def _empty(self, old: Path) -> bool:
        """Unlink every file of the old tree that its state lists; False if anything is off."""
        assert self.old_state.db is not None
        fd = os.open(old, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for (rel,) in self.old_state.db.execute("SELECT rel FROM files"):
                try:
                    os.unlink(rel, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError:
                    return False
        finally:
            os.close(fd)
        # the old tree must now hold directories only
        return _only_dirs(old)


def _only_dirs(root: Path) -> bool:
    """True when ``root`` holds nothing but directories (cheap: stops at the first file)."""
    stack = [str(root)]
    while stack:
        top = stack.pop()
        with os.scandir(top) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    return False
    return True


class StaleStateError(Exception):
    """The live tree does not hold a file the build state lists: the state cannot be used."""


def carry_records(
    db: sqlite3.Connection, old: BuildState, live: Path, staging: Path, hashes: FileHashes
) -> int:
    """Carry every record listed in the ``carried`` table from the live tree into the staging
    tree: its summary into ``pending`` and its files as hard links. Each linked file is checked
    to be the recorded one (a regular file of the recorded size, linked from a single-link
    file); otherwise ``StaleStateError``. Returns the number of files linked."""
    db.execute("COMMIT")
    db.execute("ATTACH DATABASE ? AS old", (str(old.path),))
    try:
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO pending SELECT c.seq, s.suffix, s.raw_sha256, s.input_key, c.where_, "
            "s.submitted_at, s.signed_key, 1, s.data FROM carried c JOIN old.summaries s USING (input_key)"
        )
        db.execute(
            "INSERT OR IGNORE INTO owners SELECT o.* FROM old.owners o JOIN carried c USING (input_key)"
        )
        rows = db.execute(
            "SELECT f.rel, f.sha256, f.size FROM old.files f WHERE f.rel IN "
            "(SELECT o.rel FROM old.owners o JOIN carried c USING (input_key))"
        ).fetchall()
        db.execute("COMMIT")
    finally:
        db.execute("DETACH DATABASE old")
        db.execute("BEGIN")
    live_fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    stage_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for rel, sha, size in rows:
            try:
                os.link(rel, rel, src_dir_fd=live_fd, dst_dir_fd=stage_fd, follow_symlinks=False)
            except FileExistsError:
                continue  # also an output of a record rebuilt now, which wrote it afresh
            except FileNotFoundError:
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(rel, rel, src_dir_fd=live_fd, dst_dir_fd=stage_fd, follow_symlinks=False)
                except FileNotFoundError:
                    raise StaleStateError(f"{rel} is missing from the live site") from None
            st = os.stat(rel, dir_fd=stage_fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_nlink != 2:
                raise StaleStateError(f"{rel} in the live site is not the file the build state recorded")
            hashes.record(rel, sha, size)
    finally:
        os.close(live_fd)
        os.close(stage_fd)
    return len(rows)


def unlink_files(staging: Path, rels: Iterable[str]) -> None:
    for rel in rels:
        with contextlib.suppress(FileNotFoundError):
            (staging / rel).unlink()


__all__ = [
    "STAGING_TAG",
    "BuildState",
    "IncrementalSite",
    "carry_records",
    "input_key",
    "inputs_digest",
    "render_fingerprint",
]
