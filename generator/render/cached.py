"""Site-wide pages that an incremental build may keep instead of rendering again.

A listing page shows a few dozen records; rendering every one of them on every build is most
of the cost of a rebuild after one record changed. A step therefore yields a ``CachedPage``: the
page's path, a *key* (SHA-256 over everything the page shows that can change between builds:
its records' display rows, its page number, the listing's size) and a function that renders it.
An incremental build whose previous build wrote the same path under the same key keeps that
file; otherwise it renders the page. Everything else a page depends on (templates, code,
settings, keys) is in the render fingerprint, and a build with another fingerprint keeps
nothing. A clean build renders every page.

A step whose files all follow from one stream it can read cheaply (the search index, the
resolver) goes one step further: it digests that stream into the key of one *marker* file, and
when the previous build wrote the marker under the same key, it yields a ``KeptTree`` instead
of its pages: every file the previous build has under the step's directory is kept as it is.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby

from generator.render.site import OutputFile


@dataclass(frozen=True)
class CachedPage:
    dest_path: str
    key: str
    make: Callable[[], OutputFile]

    def render(self) -> OutputFile:
        out = self.make()
        if out.dest_path != self.dest_path:
            raise ValueError(f"{self.dest_path}: rendered as {out.dest_path}")
        return out


def page_key(*parts: object) -> str:
    """SHA-256 over ``parts`` (strings, numbers, None and lists or tuples of them)."""
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeptTree:
    """Every file under ``prefix`` (a directory, ending in ``/``) that the previous build wrote
    is kept as it is (an incremental build with a previous build's file list only)."""

    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix.endswith("/") or self.prefix.startswith("/"):
            raise ValueError(f"KeptTree needs a directory such as 'search/', not {self.prefix!r}")


def _database(records: object) -> sqlite3.Connection | None:
    """The build database behind ``records`` (a build's ``SummaryStore``), if any."""
    db = getattr(records, "db", None)
    return db if isinstance(db, sqlite3.Connection) else None


def previous_key(records: object, rel: str) -> str | None:
    """The key under which the previous build wrote ``rel`` (a cached page it still lists), when
    ``records`` is a build's ``SummaryStore`` and this build may keep it; else None."""
    db = _database(records)
    return None if db is None else _held_key(db, rel)


def _held_key(db: sqlite3.Connection, rel: str) -> str | None:
    row = db.execute(
        "SELECT k.key FROM page_keys k JOIN files f USING (rel) WHERE k.rel = ?", (rel,)
    ).fetchone()
    return None if row is None else str(row[0])


def suffix_shard_keys(
    db: sqlite3.Connection,
    kind: str,
    column: str,
    size: int,
    path_of: Callable[[str], str],
    touched: frozenset[str] | None,
) -> Iterator[tuple[str, int, str]]:
    """(prefix, records, key) of every shard of the ``summaries`` table by the first ``size``
    characters of SUFFIX, in prefix order. A shard's key is ``page_key(kind, prefix, values)``,
    ``values`` being its records' ``column`` (a SHA-256 of what the shard shows of each) in
    SUFFIX order, read from an index that covers it.

    With ``touched`` (the SUFFIXes whose record this build added, replaced or removed: the rest
    are the previous build's, with the same columns), a shard none of them falls in has the key
    under which the previous build wrote ``path_of(prefix)``, and only its size is read (a
    count over its range of the index); the other shards, and one the previous build did not
    write, are keyed from their rows. Without ``touched`` every shard is keyed from its rows,
    in one pass over the index."""
    if touched is None:
        cur = db.execute(f"SELECT suffix, {column} FROM summaries ORDER BY suffix")
        rows = (row for batch in iter(lambda: cur.fetchmany(4096), []) for row in batch)
        for prefix, group in groupby(rows, key=lambda r: str(r[0])[:size]):
            values = [str(value) for _suffix, value in group]
            yield prefix, len(values), page_key(kind, prefix, values)
        return
    changed = {suffix[:size] for suffix in touched}
    first = db.execute("SELECT min(suffix) FROM summaries").fetchone()[0]
    while first is not None:
        prefix = str(first)[:size]
        bounds = (prefix, prefix + "~")  # "~" sorts after every SUFFIX character
        within = "FROM summaries WHERE suffix >= ? AND suffix < ?"
        count = int(db.execute(f"SELECT count(*) {within}", bounds).fetchone()[0])
        key = None if prefix in changed else _held_key(db, path_of(prefix))
        if key is None:
            cur = db.execute(f"SELECT {column} {within} ORDER BY suffix", bounds)
            key = page_key(kind, prefix, [str(value) for (value,) in cur])
        yield prefix, count, key
        first = db.execute("SELECT min(suffix) FROM summaries WHERE suffix >= ?", (bounds[1],)).fetchone()[0]


def marker(records: object, made: OutputFile, key: Callable[[], str]) -> OutputFile | CachedPage:
    """A step's marker file: a ``CachedPage`` keyed by ``key()`` (the digest of the step's
    stream) when ``records`` come from a build database, so the next build can compare its
    digest with ``previous_key``; else the file as it is."""
    if _database(records) is None:
        return made
    return CachedPage(made.dest_path, key(), lambda: made)
