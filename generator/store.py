"""The local content store: fetched bytes and what is known about them.

One directory (default ``.pith-mirror/`` beside the configuration file, else in the current
directory)::

    .pith-mirror/
      store.sqlite           what was fetched: one row per URL, one row per record copy
      objects/ab/cdef...     bodies, named by their SHA-256 (content-addressed)
      lock                   held by a fetch while it runs

Invariants:

- A body is written to a temporary file, flushed to disk (``fsync``, unless ``durable=False``),
  then renamed into place (and the directory synced), before any database row names it. A
  row therefore never names a missing or partial object, and every object is re-hashed when
  read, so a torn file (power loss) is refused, never used.
- A record and all its endpoint copies are committed in one transaction, only after the record
  verified (``generator.verify.verify_record``). A fetch killed at any point leaves either the
  whole record or nothing of it; the next run fetches only what is not complete.
- A refreshed copy replaces the current one only if it keeps every event the current one holds
  (append-only); otherwise the current copy is kept and a note says why.

``iter_responses(root)`` hands out every stored response with its original status line and
headers, for archive writers (WARC).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import StoreError
from generator.identifiers import HEX64_RE

STORE_DIR = ".pith-mirror"
DB_NAME = "store.sqlite"
SCHEMA_VERSION = 1

# verification results recorded per response
VERIFIED = "verified"  # a record that passed verify_record
CHECKED = "checked"  # an endpoint copy: strict JSON, names the same record
ABSENT = "absent"  # the server answered 404/410: recorded, not fatal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    url          TEXT PRIMARY KEY,
    status       INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    http_version TEXT NOT NULL,
    headers      TEXT NOT NULL,    -- JSON [[name, value], ...] in the order received
    sha256       TEXT,             -- decoded body (objects/), NULL when there is none
    size         INTEGER,
    etag         TEXT,
    last_modified TEXT,
    fetched_at   TEXT NOT NULL,    -- when these bytes arrived
    checked_at   TEXT NOT NULL,    -- the last time the server confirmed them (200 or 304)
    verification TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS copies (
    suffix TEXT NOT NULL,
    kind   TEXT NOT NULL,          -- record | graph | events | bundle | state | integrity
    url    TEXT NOT NULL,
    sha256 TEXT,                   -- NULL: the endpoint is absent upstream
    PRIMARY KEY (suffix, kind)
);
CREATE TABLE IF NOT EXISTS records (
    suffix           TEXT PRIMARY KEY,
    pith_number      TEXT NOT NULL,
    canonical_sha256 TEXT NOT NULL,
    arxiv_id         TEXT NOT NULL,
    kinds            TEXT NOT NULL, -- the endpoint kinds asked for, comma-separated
    base_url         TEXT NOT NULL, -- where it was fetched from (upstream or another mirror)
    updated_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    suffix  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (suffix, kind, message)
);
CREATE TABLE IF NOT EXISTS aliases (
    query  TEXT PRIMARY KEY,       -- an arXiv id or short number as the user gave it
    suffix TEXT NOT NULL,
    via    TEXT NOT NULL           -- the URL that answered
);
"""


@dataclass(frozen=True)
class Cached:
    """What the store holds for one URL: enough for a conditional request."""

    url: str
    status: int
    sha256: str | None
    size: int | None
    etag: str | None
    last_modified: str | None
    fetched_at: str
    checked_at: str
    verification: str


@dataclass(frozen=True)
class StoredResponse:
    """One response as received. ``body`` is decoded (a ``Content-Encoding`` header, if any,
    names the encoding on the wire, not of these bytes)."""

    url: str
    fetched_at: str
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class NewResponse:
    """A response to commit: metadata plus the sha256 of its body, already in ``objects/``."""

    url: str
    status: int
    reason: str
    http_version: str
    headers: Sequence[tuple[str, str]]
    sha256: str | None
    size: int | None
    fetched_at: str
    verification: str


@dataclass(frozen=True)
class CopyUpdate:
    """One endpoint of a record after a fetch.

    ``response`` set: a new answer (200 with body, or 404/410 absent) becomes current.
    ``response`` None: the current copy stays (304, or a refused newer copy); ``confirmed_at``
    set means the server confirmed it (304) at that time.
    """

    kind: str
    url: str
    response: NewResponse | None = None
    confirmed_at: str | None = None


@dataclass(frozen=True)
class RecordRow:
    suffix: str
    pith_number: str
    canonical_sha256: str
    arxiv_id: str
    kinds: tuple[str, ...]
    base_url: str
    updated_at: str


@dataclass(frozen=True)
class StoredCopy:
    kind: str
    url: str
    sha256: str | None
    fetched_at: str | None


class Store:
    """``with Store.open(path) as store: ...``. Not shared between threads."""

    def __init__(self, root: Path, *, durable: bool = True, readonly: bool = False) -> None:
        self.root = root
        self.objects = root / "objects"
        self.durable = durable
        self.readonly = readonly
        self._lock_fd: int | None = None
        self._dirs: set[Path] = set()  # object directories known to exist
        db = root / DB_NAME
        if readonly:
            if not db.is_file():
                raise StoreError(f"{root}: not a pith-mirror store (no {DB_NAME})")
        else:
            try:
                self.objects.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{root}: cannot create the store: {exc.strerror}") from None
        try:
            uri = db.resolve().as_uri() + ("?mode=ro" if readonly else "")
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives a killed process; a power cut may lose the last
                # commits but never leaves a row naming a missing object (objects are synced first)
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                self._check_version()
        except sqlite3.Error as exc:
            raise StoreError(f"{db}: cannot open the store database: {exc}") from None

    @classmethod
    def open(cls, root: Path, *, durable: bool = True, readonly: bool = False) -> Store:
        return cls(root, durable=durable, readonly=readonly)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.unlock()
        self.db.close()

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif row[0] != str(SCHEMA_VERSION):
            raise StoreError(f"{self.root}: store schema {row[0]}, this version reads {SCHEMA_VERSION}")

    # -- locking ------------------------------------------------------------------------------
    def lock(self) -> None:
        """One writer at a time; raises ``StoreError`` when another fetch holds the store."""
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"{self.root}: another fetch is using this store") from None
        self._lock_fd = fd
        self._clear_temp()

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _clear_temp(self) -> None:
        """Temporary files an earlier killed fetch left behind (never named by a row)."""
        for tmp in self.objects.glob("*/.tmp-*"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # -- objects ------------------------------------------------------------------------------
    def object_path(self, sha256: str) -> Path:
        if HEX64_RE.fullmatch(sha256) is None:
            raise StoreError(f"{self.root}: bad object name {sha256[:80]!r}")
        return self.objects / sha256[:2] / sha256[2:]

    def put_object(self, data: bytes) -> str:
        """Store ``data`` under its SHA-256 (temp file, fsync, rename). Returns the hash."""
        sha = hashlib.sha256(data).hexdigest()
        dest = self.object_path(sha)
        if dest.is_file():
            try:
                if hashlib.sha256(dest.read_bytes()).hexdigest() == sha:
                    return sha
            except OSError:
                pass  # unreadable: write it again
        if dest.parent not in self._dirs:
            dest.parent.mkdir(exist_ok=True)
            self._dirs.add(dest.parent)
        tmp = dest.parent / f".tmp-{sha[2:18]}-{os.getpid()}-{id(data):x}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, dest)
            if self.durable:
                _fsync_dir(dest.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"{dest}: cannot write object: {exc.strerror}") from None
        return sha

    def read_object(self, sha256: str) -> bytes:
        """The bytes of an object, re-hashed: a missing or damaged object is a ``StoreError``."""
        path = self.object_path(sha256)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{path}: cannot read object: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"{path}: object is damaged (its bytes do not hash to its name)")
        return data

    def has_object(self, sha256: str) -> bool:
        return self.object_path(sha256).is_file()

    # -- reads --------------------------------------------------------------------------------
    def cached(self, url: str) -> Cached | None:
        row = self.db.execute(
            "SELECT url, status, sha256, size, etag, last_modified, fetched_at, checked_at, verification "
            "FROM responses WHERE url=?",
            (url,),
        ).fetchone()
        return Cached(*row) if row else None

    def record(self, suffix: str) -> RecordRow | None:
        row = self.db.execute(
            "SELECT suffix, pith_number, canonical_sha256, arxiv_id, kinds, base_url, updated_at "
            "FROM records WHERE suffix=?",
            (suffix,),
        ).fetchone()
        if row is None:
            return None
        return RecordRow(row[0], row[1], row[2], row[3], tuple(k for k in row[4].split(",") if k), *row[5:])

    def complete(self, suffix: str, kinds: Sequence[str]) -> bool:
        """True when the record is in the store and every endpoint kind asked for was asked for
        before: held (with its object), or known absent (404 upstream, or not listed by the
        mirror it came from)."""
        row = self.record(suffix)
        if row is None or not set(kinds) <= set(row.kinds):
            return False
        have = {c.kind: c for c in self.copies(suffix)}
        record = have.get("record")
        if record is None or record.sha256 is None:
            return False
        for kind in ("record", *kinds):
            copy = have.get(kind)
            if copy is not None and copy.sha256 is not None and not self.has_object(copy.sha256):
                return False
        return True

    def copies(self, suffix: str) -> list[StoredCopy]:
        rows = self.db.execute(
            "SELECT c.kind, c.url, c.sha256, r.fetched_at FROM copies c "
            "LEFT JOIN responses r ON r.url = c.url WHERE c.suffix=? ORDER BY c.kind",
            (suffix,),
        ).fetchall()
        return [StoredCopy(*row) for row in rows]

    def notes(self, suffix: str) -> list[str]:
        rows = self.db.execute(
            "SELECT message FROM notes WHERE suffix=? ORDER BY at, kind, message", (suffix,)
        ).fetchall()
        return [r[0] for r in rows]

    def suffixes(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT suffix FROM records ORDER BY suffix")]

    def alias(self, query: str) -> str | None:
        row = self.db.execute("SELECT suffix FROM aliases WHERE query=?", (query,)).fetchone()
        return row[0] if row else None

    def suffixes_starting(self, prefix: str) -> list[str]:
        rows = self.db.execute(
            "SELECT suffix FROM records WHERE suffix >= ? AND suffix < ? ORDER BY suffix",
            (prefix, prefix + "\x7f"),
        )
        return [r[0] for r in rows]

    def iter_responses(self) -> Iterator[StoredResponse]:
        """Every stored response that has a body, in URL order, with its original headers."""
        rows = self.db.execute(
            "SELECT url, fetched_at, status, reason, http_version, headers, sha256 FROM responses "
            "WHERE sha256 IS NOT NULL ORDER BY url"
        )
        for url, fetched_at, status, reason, version, headers, sha in rows:
            yield StoredResponse(
                url=url,
                fetched_at=fetched_at,
                status=status,
                reason=reason,
                http_version=version,
                headers=[(str(k), str(v)) for k, v in json.loads(headers)],
                body=self.read_object(sha),
            )

    # -- writes -------------------------------------------------------------------------------
    def set_alias(self, query: str, suffix: str, via: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO aliases(query, suffix, via) VALUES (?, ?, ?)", (query, suffix, via)
        )

    def commit_record(
        self,
        row: RecordRow,
        updates: Sequence[CopyUpdate],
        notes: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Make ``updates`` current for ``row.suffix`` in one transaction.

        Every object named must already be in ``objects/`` (``put_object``). ``notes`` are
        (kind, message, at) triples, kept with the record.
        """
        for upd in updates:
            resp = upd.response
            if resp is not None and resp.sha256 is not None and not self.has_object(resp.sha256):
                raise StoreError(f"{self.root}: object {resp.sha256} missing before commit of {resp.url}")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT OR REPLACE INTO records(suffix, pith_number, canonical_sha256, arxiv_id, kinds, "
                "base_url, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.suffix,
                    row.pith_number,
                    row.canonical_sha256,
                    row.arxiv_id,
                    ",".join(row.kinds),
                    row.base_url,
                    row.updated_at,
                ),
            )
            for upd in updates:
                resp = upd.response
                if resp is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO responses(url, status, reason, http_version, headers, "
                        "sha256, size, etag, last_modified, fetched_at, checked_at, verification) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            resp.url,
                            resp.status,
                            resp.reason,
                            resp.http_version,
                            json.dumps([list(h) for h in resp.headers]),
                            resp.sha256,
                            resp.size,
                            _header(resp.headers, "etag"),
                            _header(resp.headers, "last-modified"),
                            resp.fetched_at,
                            resp.fetched_at,
                            resp.verification,
                        ),
                    )
                    self.db.execute(
                        "INSERT OR REPLACE INTO copies(suffix, kind, url, sha256) VALUES (?, ?, ?, ?)",
                        (row.suffix, upd.kind, resp.url, resp.sha256),
                    )
                elif upd.confirmed_at is not None:
                    self.db.execute(
                        "UPDATE responses SET checked_at=? WHERE url=?", (upd.confirmed_at, upd.url)
                    )
            for kind, message, at in notes:
                self.db.execute(
                    "INSERT OR IGNORE INTO notes(suffix, kind, message, at) VALUES (?, ?, ?, ?)",
                    (row.suffix, kind, message, at),
                )
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise StoreError(f"{self.root}: cannot record {row.suffix}: {exc}") from None

    def stats(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "records": one("SELECT count(*) FROM records").fetchone()[0],
            "responses": one("SELECT count(*) FROM responses").fetchone()[0],
            "absent": one("SELECT count(*) FROM copies WHERE sha256 IS NULL").fetchone()[0],
            "notes": one("SELECT count(*) FROM notes").fetchone()[0],
        }


def iter_responses(root: Path) -> Iterator[StoredResponse]:
    """Every response with a body in the store at ``root``, for archive writers (WARC): the
    status line and headers as received, and the body's exact (decoded) bytes, re-hashed as read.
    Headers that describe the wire bytes (``Content-Encoding``...) are the archive writer's to
    handle (``generator.warc.archived_headers``)."""
    with Store.open(root, readonly=True) as store:
        yield from store.iter_responses()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def default_store_dir(config_file: Path | None) -> Path:
    """``.pith-mirror/`` beside the configuration file, else in the current directory."""
    return (config_file.parent if config_file is not None else Path.cwd()) / STORE_DIR
