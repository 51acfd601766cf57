"""Incremental builds, keyed on content, on two full trees (the live site and a spare).

A record's outputs are rebuilt when its input changes (its bytes, fetched endpoints, notes or
provenance: the *input key*) or when anything that shapes every page changes (templates, static
files, output settings, the keyring, the generator's own code: the *render fingerprint*).
Otherwise the record is *carried*: its files come from the previous build and its summary from
the build state. Records that left the input are not carried.

The build state is a SQLite file beside the output, ``.{name}.state.sqlite`` (never inside the
published tree). It lists every file of the live tree with its SHA-256 and size, which record
owns it, which are site-wide, each record's summary and input key, the files the build that
wrote it changed (``delta_files``), and the identity (device, inode) of the live tree's root
directory and of the spare. A state that does not describe the live tree (a build killed between
the swap and the state update, a tree replaced by hand) is not used, and the build starts from
nothing.

A build does not fill a new state row by row, nor copy it: it updates the live state in place,
in one write-ahead log (``summaries.settle`` with ``based``): records whose input left go,
records verified now come in, carried records stay where they are. Nothing reaches the file
before the build publishes: a read-only connection pins the previous snapshot (so nothing is
checkpointed), and a build that fails or is killed before publishing leaves a log that is
thrown away (``IncrementalSite.release``, or ``recover_live_state`` when the next build starts);
the file is then the previous build's state again. Publishing commits, swaps the trees, leaves
a marker (``.{name}.state-publishing``: a log to replay, not to throw away, should the build be
killed now) and writes the log into the file. The mode is ``IncrementalSite.mode``:

- ``spare``: the previous tree is kept whole beside the output as the *spare*, ``.{name}.spare``.
  The build adopts it as its staging tree when the live state names it and lists what its own
  build changed, and brings it up to date: the files in the live state's ``delta_files`` are
  copied from the live tree into new files (or removed), and every other listed file is kept
  after one ``lstat`` (a plain file of the recorded size with one link; else it is copied);
- ``copy``: no usable spare: the staging tree starts empty and every listed file is copied from
  the live tree once;
- ``fresh``: no usable state: an empty state and tree.

When the render fingerprint changed (templates, code, settings, keys), every record is rebuilt,
but the build still starts from the previous state and the spare (or an empty tree, with nothing
copied): the spare's files whose bytes a rebuilt file has are kept, and the rest go as stale.

Rebuilt records and site-wide files are then written as new files renamed over the staging
tree's (``write.put_file``), and only where their bytes differ (the file list's triggers note
each change in ``delta_files`` for the next build); files of the previous build that this build
does not produce are removed before the manifest step; publishing swaps the trees and renames
the old one into the spare's place: no per-file work after the swap.

The price is a second full copy of the site on disk (bytes and inodes twice); a clean build
(``--no-incremental``) keeps no spare. A build killed at any point leaves the staging tree (the
former spare) behind; the next build clears it, throws away the killed build's log and starts
in ``copy`` mode.

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
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import generator
from generator import GENERATOR
from generator.config import Config
from generator.forked import Forked
from generator.keyring import Keyring
from generator.paths import safe_rel
from generator.sources import RawRecord
from generator.summaries import (
    CARRIED_TABLE,
    FileHashes,
    connect,
    meta_get,
    meta_set,
    present_rels,
    resume,
    share_database,
    tune,
    unshare_database,
)
from generator.write import (
    STAGING_TAG,
    StagedSite,
    _fsync_dir,
    put_into,
    swap_in,
)

log = logging.getLogger(__name__)

STATE_VERSION = "10"
STATE_TAG = ".state.sqlite"
NEW_STATE_TAG = ".state-new-"
SPARE_TAG = ".spare"
SPARE_STATE_TAG = ".spare-state.sqlite"
PUBLISHING_TAG = ".state-publishing"  # a build is writing its new state into the file
LEGACY_SKELETON_TAG = ".skeleton"  # the emptied previous tree of state version 3
# the previous build's input keys are held in memory up to this many records (some 75 MB of
# Python strings), and looked up in batches past it
KNOWN_IN_MEMORY = 1 << 19

# Every change to the file list is noted in ``delta_files``: the next build brings the spare
# (this build's starting tree) up to date from it. (Not INSERT OR IGNORE: an outer statement's
# conflict policy overrides a trigger's.)
DELTA_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS files_added AFTER INSERT ON files
  BEGIN INSERT INTO delta_files SELECT NEW.rel WHERE NOT EXISTS
    (SELECT 1 FROM delta_files WHERE rel = NEW.rel); END;
CREATE TRIGGER IF NOT EXISTS files_changed AFTER UPDATE ON files
  BEGIN INSERT INTO delta_files SELECT NEW.rel WHERE NOT EXISTS
    (SELECT 1 FROM delta_files WHERE rel = NEW.rel); END;
CREATE TRIGGER IF NOT EXISTS files_removed AFTER DELETE ON files
  BEGIN INSERT INTO delta_files SELECT OLD.rel WHERE NOT EXISTS
    (SELECT 1 FROM delta_files WHERE rel = OLD.rel); END;
"""


# what ``input_key`` hashes after the bytes of a record with no endpoints, notes or provenance
# (a record read from a local file): two zero counts and two absent extras
_PLAIN_TAIL = bytes(8) + (1).to_bytes(8, "big") + b"\x00" + (1).to_bytes(8, "big") + b"\x00"


def input_key(raw: RawRecord) -> str:
    """SHA-256 over everything of a ``RawRecord`` that can reach its pages (not ``where``)."""
    if not raw.endpoints and not raw.notes and raw.origin_url is None and raw.fetched_at is None:
        h = hashlib.sha256(len(raw.data).to_bytes(8, "big"))
        h.update(raw.data)
        h.update(_PLAIN_TAIL)
        return h.hexdigest()
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
        self,
        output: Path,
        *,
        read: bool = True,
        path: Path | None = None,
        tree: Path | None = None,
    ) -> None:
        self.output = output
        self.path = path if path is not None else state_path(output)
        tree = tree if tree is not None else output
        self.db: sqlite3.Connection | None = None
        self.valid = False
        self.root: str | None = None  # the tree it describes (device:inode), as read at opening
        if not read or not self.path.is_file() or tree.is_symlink() or not tree.is_dir():
            return
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            self.root = meta_get(db, "root")
            if meta_get(db, "state_version") != STATE_VERSION or self.root != _root_id(tree):
                db.close()
                return
        except sqlite3.DatabaseError as exc:
            log.warning("%s: unreadable build state (%s); not using it", self.path, exc)
            return
        self.db = db
        self.valid = True

    def meta(self, key: str) -> str | None:
        return meta_get(self.db, key) if self.db is not None else None

    def all_known(self) -> dict[str, str] | None:
        """Every input key whose record the previous build published, with the place (``where``)
        that build read it from, read at once (an index scan and a lookup of each place), or
        None past ``KNOWN_IN_MEMORY`` records: ``known`` looks the keys up in batches."""
        assert self.db is not None
        cur = self.db.execute(
            "SELECT s.input_key, p.where_ FROM summaries s JOIN places p USING (suffix) LIMIT ?",
            (KNOWN_IN_MEMORY + 1,),
        )
        found = {str(k): str(w) for k, w in cur}
        return found if len(found) <= KNOWN_IN_MEMORY else None

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
        for rel, missing in unlike_listed(self.db, self.output, missing_on=(OSError,)):
            return f"{rel} is missing" if missing else f"{rel} is not the file the build state recorded"
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
    copied: int = 0  # copied from the live tree into a new file
    removed: int = 0  # files of the spare that the previous build removed


class IncrementalSite(StagedSite):
    """A ``StagedSite`` whose build starts from the previous build: its state (a copy of the live
    state, updated in place) and, when it can, its tree (the spare, brought up to date).

    ``mode`` says how the build started (see the module docstring): ``"spare"``, ``"copy"`` or
    ``"fresh"``. In the first two the build database already holds the previous build's records
    and files, and the staging tree holds exactly the files it lists."""

    def __init__(self, output: Path, fingerprint: str) -> None:
        super().__init__(output)
        self.fingerprint = fingerprint
        self.old_state = BuildState(output, read=False)
        self.reusable = False
        self.trusted = False  # the live tree is the one its state describes: it may become the spare
        self.new_state_path = output.parent / f".{output.name}{NEW_STATE_TAG}{secrets.token_hex(4)}"
        self.db: sqlite3.Connection | None = None
        self.mode = "fresh"
        self.counts = CarryCounts()
        self._check: Forked[list[str]] | None = None
        self._live: sqlite3.Connection | None = None  # writes the live state (write-ahead log)
        self._pinned = False  # the live state is in write-ahead-log mode, its snapshot pinned

    @property
    def based(self) -> bool:
        """The build database started as the previous build's state."""
        return self.mode != "fresh"

    def __enter__(self) -> IncrementalSite:
        super().__enter__()
        try:
            clear_leftovers(self.output)
            recover_live_state(self.output)
            self.old_state = BuildState(self.output)  # read under the lock
        except BaseException:
            self.__exit__(None, None, None)  # the lock is released
            raise
        self.trusted = self.old_state.valid
        self.reusable = self.old_state.valid and self.old_state.meta("fingerprint") == self.fingerprint
        return self

    def start_check(self) -> None:
        """Start checking the spare while the inputs are scanned (``scan_inputs`` calls this at
        the first input the previous build does not have), so the check overlaps the scan: a
        child process ``lstat``s its files (``check_spare``) while this one hashes the inputs.
        The live state goes into write-ahead-log mode first, so the child goes on reading the
        previous build's file list while ``begin`` updates the state in place. ``begin`` takes
        the check (or starts it); a build that stops before (nothing changed) drops it."""
        if self.trusted and self.reusable and self._check is None and self._spare_usable():
            self._share_live_state()
            self._start_check(spare_path(self.output))

    def scan_connection(self) -> sqlite3.Connection:
        """The connection that will write the live state, opened for the input scan to note
        the carried inputs in its temporary ``carried`` table (nothing of the state is written
        until ``begin``)."""
        if self._live is None:
            live = sqlite3.connect(str(self.old_state.path), isolation_level=None)
            tune(live)
            live.execute(CARRIED_TABLE)
            self._live = live
        return self._live

    def _share_live_state(self) -> None:
        """Put the live state in write-ahead-log mode, for writing, and pin the previous
        build's snapshot with the read-only connection (see ``begin``)."""
        old = self.old_state
        assert old.db is not None
        if self._pinned:
            return
        live = self.scan_connection()
        share_database(live)
        live.execute("PRAGMA wal_autocheckpoint=0")
        self._pinned = True
        old.db.execute("BEGIN")
        old.db.execute("SELECT count(*) FROM meta").fetchone()  # the read transaction starts

    def _spare_usable(self) -> bool:
        """The live state names the spare as the tree its build started from, and lists what
        that build changed."""
        spare = spare_path(self.output)
        return (
            self.old_state.meta("delta_valid") == "1"
            and spare.is_dir()
            and not spare.is_symlink()
            and self.old_state.meta("spare") == _root_id(spare)
        )

    def _start_check(self, tree: Path) -> None:
        """Check the spare's files (in ``tree``) in a child process (``check_spare``), but not
        those the live state's ``delta_files`` lists: ``begin`` replaces them. The child gets
        the tree's directory descriptor, which stays valid when ``begin`` renames the spare."""
        old = self.old_state
        assert old.db is not None
        changed = frozenset(str(rel) for (rel,) in old.db.execute("SELECT rel FROM delta_files"))
        fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._check = Forked(partial(check_spare, str(old.path), fd, changed), "spare check")
        finally:
            os.close(fd)

    def begin(self) -> None:
        """Start the new state and tree (see the module docstring)."""
        old = self.old_state
        if not (self.trusted and old.db is not None):
            self.release()
            drop_spare(self.output)
            self.db = connect(self.new_state_path)
            self.mode = "fresh"
            return
        if self._check is not None or self._spare_usable():
            os.rmdir(self.staging)
            os.rename(spare_path(self.output), self.staging)
            self.mode = "spare"
        else:
            self.drop_check()
            drop_spare(self.output)
            self.mode = "copy"
        # The live state is updated in place. In write-ahead-log mode every change goes to the
        # log (``.state.sqlite-wal``), never into the file, as long as a reader holds the
        # previous snapshot (the pin: ``old_state``'s read transaction) and nothing checkpoints
        # (``wal_autocheckpoint=0``; readers in child processes do not). The build commits to
        # share the database with the steps in child processes, and to publish; a build that
        # fails or is killed before publishing leaves the file as it was, and its log is thrown
        # away (``release``, or ``recover_live_state`` at the next start). Should a log be
        # replayed all the same, a state committed mid-build names no tree (its root is empty)
        # and is not used.
        self._share_live_state()
        db = self._live
        assert db is not None
        self.db = db
        resume(db, DELTA_TRIGGERS)
        if meta_get(db, "chunks_root") != old.root:
            # the manifest's kept chunks describe another tree (a state an older version
            # published): made again, all of them (filelist.kept_list_chunks)
            db.execute("DELETE FROM manifest_chunks")
        meta_set(db, "root", "")
        changed = {str(rel) for (rel,) in db.execute("SELECT rel FROM delta_files")}
        db.execute("DELETE FROM delta_files")
        if not self.reusable:
            db.execute("DELETE FROM page_keys")  # pages rendered otherwise: no cached page holds
            # every record is rebuilt, often under the same input key: the owners rows it gets
            # now replace the previous build's, whose files are candidates for removal (and,
            # in temp.held, tell a worker which files the spare holds for its record)
            db.execute("INSERT OR IGNORE INTO temp.stale SELECT rel FROM owners")
            db.execute("INSERT OR IGNORE INTO temp.held SELECT input_key, rel FROM owners")
            db.execute("DELETE FROM owners")
        if self.mode == "spare":
            self._bring_up_to_date(changed)
        elif self.reusable:
            self._bring_up_to_date(None)
        # else every record is rebuilt: the tree starts empty, and the files the state lists
        # that this build does not write go as stale files

    @property
    def db_path(self) -> Path:
        """The build database's file: the live state (updated in place) or, from nothing, a
        new file that publishing renames over it."""
        return self.old_state.path if self.based else self.new_state_path

    def release(self) -> None:
        """End a build that does not publish: stop the check, roll back, close the connections
        to the live state (the writer first, while the pin keeps it from checkpointing) and
        throw away its log: the live state is the previous build's again, byte for byte but
        for its header's change counter."""
        self.drop_check()
        live, self._live = self._live, None
        pinned, self._pinned = self._pinned, False
        if self.db is not None and self.db is not live:
            self.db.close()  # a new state (from nothing) that was not published
        self.db = None
        if live is None:
            return
        live.close()  # an uncommitted transaction is rolled back
        if pinned:
            self.old_state.close()
            discard_log(self.output)

    def _bring_up_to_date(self, changed: set[str] | None) -> None:
        """Make the staging tree hold the files the state lists. With ``changed`` (the files the
        previous build changed, added or removed), those are copied from the live tree or
        removed now, and the spare's other files are checked in the background (``check_spare``;
        ``finish_check`` replaces those that are not plain files of the recorded size). Without
        it, every file is copied from the live tree."""
        assert self.db is not None
        counts = self.counts
        live_fd = os.open(self.output, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if changed is None:
                cur = self.db.execute("SELECT rel, size FROM files")
                while rows := cur.fetchmany(4096):
                    for rel, size in rows:
                        self._copy_from_live(safe_rel(rel), size, live_fd)
                    counts.copied += len(rows)
            else:
                listed = self._listed(sorted(changed))
                for rel in sorted(changed):
                    if rel in listed:
                        self._copy_from_live(safe_rel(rel), listed[rel], live_fd)
                        counts.copied += 1
                counts.removed += _remove_files(self.staging, sorted(r for r in changed if r not in listed))
                if self._check is None:
                    self._start_check(self.staging)
        finally:
            os.close(live_fd)
        log.info(
            "staging tree (%s): %d file(s) copied from the live site, %d removed%s",
            "the spare" if self.mode == "spare" else "empty",
            counts.copied,
            counts.removed,
            "; the others are being checked" if changed is not None else "",
        )

    def finish_check(self) -> int:
        """Wait for the background check of the spare and copy from the live tree each file it
        found wrong that this build did not write itself. Returns the number copied."""
        if self._check is None:
            return 0
        assert self.db is not None
        bad = self._check.result()
        self._check = None
        copied = 0
        live_fd = os.open(self.output, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for i in range(0, len(bad), 500):
                part = bad[i : i + 500]
                written = present_rels(self.db, "temp.noted", part)
                sizes = self._listed(part)
                for rel in part:
                    if rel not in written and rel in sizes:
                        self._copy_from_live(safe_rel(rel), sizes[rel], live_fd)
                        copied += 1
        finally:
            os.close(live_fd)
        if copied:
            log.info("%d file(s) of the spare were not as recorded: copied from the live site", copied)
        return copied

    def _listed(self, rels: Sequence[str]) -> dict[str, int]:
        """rel -> recorded size of those of ``rels`` that the state lists."""
        assert self.db is not None
        found: dict[str, int] = {}
        for i in range(0, len(rels), 500):
            part = rels[i : i + 500]
            marks = ",".join("?" * len(part))
            cur = self.db.execute(f"SELECT rel, size FROM files WHERE rel IN ({marks})", part)
            found.update((str(r), int(n)) for r, n in cur)
        return found

    def __exit__(self, *exc: object) -> None:
        try:
            if not self.published:
                self.release()
            if not self.published:
                with contextlib.suppress(OSError):
                    self.new_state_path.unlink()
        finally:
            super().__exit__(*exc)  # type: ignore[arg-type]

    def drop_check(self) -> None:
        """Stop the check of the spare (a build that will not use it)."""
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _copy_from_live(self, rel: str, size: int, live_fd: int) -> None:
        try:
            # O_NONBLOCK: a FIFO there is opened (and refused below), not waited on
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            src = os.open(rel, flags, dir_fd=live_fd)
        except (FileNotFoundError, NotADirectoryError):
            raise StaleStateError(f"{rel} is missing from the live site") from None
        except OSError as exc:
            what = "is a symlink" if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
            raise StaleStateError(f"{rel} in the live site {what}") from None
        try:
            st = os.fstat(src)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_nlink != 1:
                raise StaleStateError(f"{rel} in the live site is not the file the build state recorded")
            if not copy_file(src, self.staging, rel, size, st.st_mtime_ns):
                raise StaleStateError(f"{rel} in the live site changed while it was copied")
        finally:
            os.close(src)

    def remove_stale(self, hashes: FileHashes) -> int:
        """Remove the files of the previous build that this build does not have: those of records
        that left (``stale`` candidates noted by ``settle_based``) and site-wide files no step
        wrote this time, unless this build wrote them or a record it keeps owns them. Updates
        the list of site-wide files. Returns the number of files removed."""
        assert self.db is not None
        db = self.db
        removed: list[str] = []
        if self.based:
            db.execute(
                "INSERT OR IGNORE INTO temp.stale SELECT rel FROM site_files "
                "WHERE rel NOT IN (SELECT rel FROM temp.site_noted)"
            )
            removed = [
                str(rel)
                for (rel,) in db.execute(
                    "SELECT rel FROM temp.stale WHERE rel NOT IN (SELECT rel FROM temp.noted) "
                    "AND rel NOT IN (SELECT rel FROM owners) ORDER BY rel"
                )
            ]
            for i in range(0, len(removed), 500):
                part = removed[i : i + 500]
                db.execute(f"DELETE FROM files WHERE rel IN ({','.join('?' * len(part))})", part)
            db.execute("DELETE FROM temp.stale")
            db.execute("DELETE FROM site_files WHERE rel NOT IN (SELECT rel FROM temp.site_noted)")
        db.execute("INSERT OR IGNORE INTO site_files SELECT rel FROM temp.site_noted")
        return _remove_files(self.staging, removed)

    # -- publishing ------------------------------------------------------------------------
    def publish(self) -> None:
        """Record the new state, swap in the staging tree, and keep the old tree as the spare.

        Based on the previous state, the new one is committed into the live state's log first;
        after the swap, a marker file (``.state-publishing``) tells ``recover_live_state`` to
        replay that log rather than throw it away, and the log is then written into the file."""
        assert self.db is not None
        db = self.db
        keep = self.trusted and self.based and self.output.exists()
        meta_set(db, "state_version", STATE_VERSION)
        meta_set(db, "root", _root_id(self.staging))
        meta_set(db, "chunks_root", _root_id(self.staging))  # the manifest step kept them
        meta_set(db, "spare", (self.old_state.root or "") if keep else "")
        meta_set(db, "delta_valid", "1" if self.based else "0")
        db.execute("COMMIT")
        if not self.based:
            unshare_database(db)
            self.release()  # closes this build's database (a new file)
            self.old_state.close()  # before its file is replaced
            for tag in ("-wal", "-shm", "-journal"):  # never a log beside the new file
                Path(f"{state_path(self.output)}{tag}").unlink(missing_ok=True)
        _fsync_dir(self.staging)
        if not self.output.exists():
            os.rename(self.staging, self.output)
            os.replace(self.new_state_path, state_path(self.output))
            _fsync_dir(self.parent)
            self.published = True
            return
        old = swap_in(self.staging, self.output)
        self.published = True
        # the old tree becomes the spare; a build killed in between finds a state that names
        # the new tree and a spare it does not name, and does not use the spare
        if self.based:
            marker = publishing_marker(self.output)
            marker.touch()
            self.old_state.close()  # the pin, then the log is written into the file
            unshare_database(db)
            db.close()
            self.db = self._live = None
            self._pinned = False
            marker.unlink()
        else:
            os.replace(self.new_state_path, state_path(self.output))
        if keep:
            os.rename(old, spare_path(self.output))
        else:
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(self.parent)


def publishing_marker(output: Path) -> Path:
    return output.parent / f".{output.name}{PUBLISHING_TAG}"


def discard_log(output: Path) -> None:
    """Throw away the live state's write-ahead log (no connection may be open), and put the
    file back in rollback-journal mode: one file at rest."""
    state = state_path(output)
    for tag in ("-wal", "-shm"):
        Path(f"{state}{tag}").unlink(missing_ok=True)
    _to_rollback_journal(state)


def _to_rollback_journal(state: Path) -> None:
    try:
        with open(state, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return
    if header[18:20] == b"\x02\x02":  # in write-ahead-log mode
        _end_log(state, "end write-ahead-log mode")


def _end_log(state: Path, doing: str) -> None:
    """Open the state (which replays a log beside it), write any log into the file and leave it
    in rollback-journal mode. A failure is logged, and ``BuildState`` then judges the state as
    it finds it (unreadable or naming another tree: not used)."""
    try:
        db = sqlite3.connect(str(state), isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
    except sqlite3.Error as exc:
        log.warning("%s: cannot %s (%s)", state, doing, exc)


def recover_live_state(output: Path) -> None:
    """Before a build reads the live state (under the lock): the log of a build that did not
    publish is thrown away (the file holds the previous build's state); the log of a build
    killed while publishing (its marker is there) is replayed and written into the file."""
    marker = publishing_marker(output)
    if marker.exists():
        state = state_path(output)
        if state.is_file():
            _end_log(state, "replay its write-ahead log")
        marker.unlink()
        return
    discard_log(output)


def check_spare(state: str, spare_fd: int, skip: frozenset[str]) -> list[str]:
    """In a child process: the files a state lists (but not those in ``skip``) that the tree
    open as ``spare_fd`` does not hold as a regular file of the recorded size with one link."""
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return [rel for rel, _missing in unlike_listed(db, spare_fd, skip)]
    finally:
        db.close()


# ``lstat``s in flight at once in ``unlike_listed`` when the disk is slow to answer. On a cold
# cache (a nightly run after the machine's caches were dropped) each one waits for a read of a
# directory or inode block, and the disk serves several at a time: at 100,000 records (457,773
# files) one thread took 36-40 s and eight 12.3-12.8 s. Warm, one thread is faster (1.3-1.8 s
# against 1.8-2.2 s), and so it is with only dentries and inodes dropped (4.9 s against 5.6-6.0
# s): the threads contend for the interpreter. So the check starts on one thread and moves to
# the pool after the first batch that averaged more than ``CHECK_SLOW_SECONDS`` a file. Per
# 512-file batch, a warm ``lstat`` averaged 1.6-10 µs here, with dentries and inodes dropped
# 3.6-18.7 µs, fully cold 4-378 µs (median 114). Sorting by inode number did not help
# (README, "Cold caches").
CHECK_THREADS = 8
CHECK_BATCH = 512
CHECK_SLOW_SECONDS = 40e-6


def unlike_listed(
    db: sqlite3.Connection,
    root: Path | int,
    skip: frozenset[str] = frozenset(),
    missing_on: tuple[type[OSError], ...] = (FileNotFoundError, NotADirectoryError),
    threads: int = CHECK_THREADS,
    slow_seconds: float = CHECK_SLOW_SECONDS,
) -> Generator[tuple[str, bool], None, None]:
    """(rel, missing) for each file a state's ``files`` table lists (but not those in ``skip``)
    that ``root`` does not hold as a regular file of the recorded size with one link, in path
    order: one ``lstat`` each, relative to ``root``'s directory descriptor; on ``threads``
    threads once a batch averaged more than ``slow_seconds`` a file (0: from the start), a
    bounded number of batches read ahead, so memory stays flat.
    ``missing_on`` are the errors that count as a missing file (others are raised). ``root``
    may be an open directory descriptor (left open)."""
    fd = root if isinstance(root, int) else os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    skipped = {rel.encode("utf-8", "surrogateescape") for rel in skip}

    def check(batch: tuple[list[bytes], list[bytes]]) -> list[tuple[str, bool]]:
        found: list[tuple[str, bool]] = []
        for rel, size in zip(*batch, strict=True):
            if rel in skipped:
                continue
            try:
                st = os.stat(rel, dir_fd=fd, follow_symlinks=False)
            except missing_on:
                found.append((rel.decode("utf-8", "surrogateescape"), True))
                continue
            if st.st_size != int(size) or st.st_nlink != 1 or not stat.S_ISREG(st.st_mode):
                found.append((rel.decode("utf-8", "surrogateescape"), False))
        return found

    pool: ThreadPoolExecutor | None = None
    slow = threads > 1 and slow_seconds <= 0
    try:
        ahead: deque[Future[list[tuple[str, bool]]]] = deque()
        for batch in _listed_files(db, CHECK_BATCH):
            if not slow:
                started = time.perf_counter()
                found = check(batch)
                slow = threads > 1 and time.perf_counter() - started > slow_seconds * len(batch[0])
                yield from found
                continue
            if pool is None:
                pool = ThreadPoolExecutor(threads, thread_name_prefix="lstat")
            ahead.append(pool.submit(check, batch))
            if len(ahead) > 2 * threads:
                yield from ahead.popleft().result()
        while ahead:
            yield from ahead.popleft().result()
    finally:
        if pool is not None:
            # a caller that stops at the first difference (or an error) leaves batches queued
            pool.shutdown(wait=True, cancel_futures=True)
        if not isinstance(root, int):
            os.close(fd)


def _listed_files(db: sqlite3.Connection, rows: int = 4096) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """The ``files`` table's paths (UTF-8) and sizes (decimal), ``rows`` at a time in path order:
    SQLite joins each batch into two texts that are split here (no Python object per column
    per row); a batch whose texts do not split into one piece per file (a path with a line
    feed) is read row by row."""
    after = None
    while True:
        low = "" if after is None else "WHERE rel > ?"
        args: tuple[object, ...] = () if after is None else (after,)
        paths, sizes, count, top = db.execute(
            "SELECT CAST(group_concat(rel, char(10)) AS BLOB), CAST(group_concat(size, ' ') AS BLOB), "
            f"count(*), max(rel) FROM (SELECT rel, size FROM files {low} ORDER BY rel LIMIT ?)",
            (*args, rows),
        ).fetchone()
        if not count:
            return
        rels, lengths = paths.split(b"\n"), sizes.split(b" ")
        if len(rels) != count or len(lengths) != count:
            got = db.execute(
                f"SELECT rel, size FROM files {low} ORDER BY rel LIMIT ?", (*args, rows)
            ).fetchall()
            rels = [str(r).encode("utf-8", "surrogateescape") for r, _n in got]
            lengths = [str(n).encode() for _r, n in got]
        yield rels, lengths
        after = top


def _remove_files(root: Path, rels: Iterable[str]) -> int:
    """Remove ``root/rel`` for each rel (a directory there now holds files of this build: left),
    and the directories left empty. Returns the number of files removed."""
    removed = 0
    parents: set[str] = set()
    for rel in rels:
        path = root / safe_rel(rel)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            if not path.is_dir() or path.is_symlink():
                path.unlink()
                removed += 1
        parents.add(rel.rpartition("/")[0])
    for parent in sorted(parents, key=lambda r: (-r.count("/"), r)):
        while parent:
            try:
                os.rmdir(root / parent)
            except OSError:
                break
            parent = parent.rpartition("/")[0]
    return removed


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


__all__ = [
    "STAGING_TAG",
    "BuildState",
    "CarryCounts",
    "IncrementalSite",
    "drop_spare",
    "input_key",
    "render_fingerprint",
]
