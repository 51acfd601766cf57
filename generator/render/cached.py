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
from collections.abc import Callable
from dataclasses import dataclass

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
    if db is None:
        return None
    row = db.execute(
        "SELECT k.key FROM page_keys k JOIN files f USING (rel) WHERE k.rel = ?", (rel,)
    ).fetchone()
    return None if row is None else str(row[0])


def marker(records: object, made: OutputFile, key: Callable[[], str]) -> OutputFile | CachedPage:
    """A step's marker file: a ``CachedPage`` keyed by ``key()`` (the digest of the step's
    stream) when ``records`` come from a build database, so the next build can compare its
    digest with ``previous_key``; else the file as it is."""
    if _database(records) is None:
        return made
    return CachedPage(made.dest_path, key(), lambda: made)
