"""The manifest's file list, read from the build's ``files`` table in large chunks.

A site of 100,000 records has some 455,000 files. Making one Python object, one JSON line and
one root-hash line per file cost seconds; here SQLite hands over each chunk of a few thousand
files as three long texts (paths, hashes, sizes: ``group_concat`` of plain columns, no string
building per row), and the chunk's root-hash lines and JSON lines are assembled from their
pieces by C-level list operations and one ``join`` each.

That shortcut is taken only when it provably gives the bytes of the per-file rule
(``hash_line`` and ``entry_line``), checked per chunk:

- each text splits into exactly one piece per file (no separator inside a value);
- no value holds ``"``, ``\\`` or a control character, the only characters JSON escapes
  (``json.dumps(..., ensure_ascii=False)`` keeps every other character, UTF-8 included);
- every size is an integer (SQLite and Python print integers alike);
- the paths are in strictly ascending byte order, the manifest's order.

A chunk that fails a check is made file by file by the per-file rule instead. The chunks
themselves are disjoint ranges of ``rel`` in ascending order, and SQLite's BINARY collation
compares UTF-8 bytes (``memcmp``), the order of ``manifest.path_key``.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ROWS = 4096  # files per chunk: a few MB of text at a time, whatever the size of the site

_CONTROL = bytes(range(0x20))


def hash_line(path: str, sha256: str, size: int) -> bytes:
    """A file's line of the root hash: ``<sha256> SP <size> SP <path> LF``."""
    return f"{sha256} {size} {path}\n".encode("utf-8", "surrogateescape")


def entry_line(path: str, sha256: str, size: int) -> str:
    """A file's line of the manifest's ``files`` list (compact JSON, keys sorted)."""
    return json.dumps(
        {"path": path, "sha256": sha256, "size": size}, ensure_ascii=False, separators=(",", ":")
    )


@dataclass(frozen=True)
class ListChunk:
    """Consecutive files of the list: their root-hash lines (each ending in LF), their JSON
    lines joined by ``,\\n`` (UTF-8), how many files and how many bytes they have."""

    hashed: bytes
    listed: bytes
    count: int
    total: int


def _pieces(text: bytes | None, sep: bytes, count: int) -> list[bytes] | None:
    """``text`` split at ``sep`` when it gives ``count`` values that JSON prints unescaped."""
    if text is None:
        return None
    parts = text.split(sep)
    if len(parts) != count or b'"' in text or b"\\" in text:
        return None
    controls = count - 1 if sep in _CONTROL else 0
    if len(text) - len(text.translate(None, _CONTROL)) != controls:
        return None
    return parts


def _interleave(count: int, *columns: list[bytes] | bytes) -> bytes:
    """Row by row, each column's value (a constant for ``bytes``), joined."""
    width = len(columns)
    out: list[bytes] = [b""] * (count * width)
    for i, column in enumerate(columns):
        out[i::width] = column if isinstance(column, list) else [column] * count
    return b"".join(out)


def _fast(
    rels: bytes | None, shas: bytes | None, sizes: bytes | None, count: int
) -> tuple[bytes, bytes] | None:
    paths = _pieces(rels, b"\n", count)
    digests = _pieces(shas, b" ", count)
    if paths is None or digests is None or sizes is None:
        return None
    lengths = sizes.split(b" ")  # integers: never empty, never a space inside
    if len(lengths) != count or paths != sorted(paths):
        return None
    hashed = _interleave(count, digests, b" ", lengths, b" ", paths, b"\n")
    listed = _interleave(count, b'{"path":"', paths, b'","sha256":"', digests, b'","size":', lengths, b"},\n")
    return hashed, listed[:-2]


def _ranges(
    db: sqlite3.Connection, rows: int, after: str = "", upto: str | None = None
) -> Iterator[tuple[str, str, str | None]]:
    """Ascending, disjoint ranges of ``rel`` of about ``rows`` files each, covering the table
    (or, given ``after``, the files above it, and given ``upto``, those up to it): (SQL
    condition, the range's lower bound, its upper bound or None)."""
    low = "rel >= ?" if after == "" else "rel > ?"  # every text is >= ''
    high = "" if upto is None else " AND rel <= ?"
    while True:
        found = [
            str(rel)
            for (rel,) in db.execute(
                f"SELECT rel FROM files WHERE {low}{high} ORDER BY rel LIMIT 2 OFFSET ?",
                (after, *(() if upto is None else (upto,)), rows - 1),
            )
        ]
        if found[:1] == [""]:  # '' never ends a range: '' is where the first one starts
            del found[0]
        if not found or found[0] == upto:
            yield low + high, after, upto
            return
        top = found[0]
        yield f"{low} AND rel <= ?", after, top
        low, after = "rel > ?", top


def _chunk(
    db: sqlite3.Connection, present: Sequence[str], cond: str, after: str, upto: str | None
) -> ListChunk:
    """The files of one range (``_ranges``) but ``present`` (the unlisted files in the table)."""
    bounds = (after,) if upto is None else (after, upto)
    skip = [u for u in present if (after <= u if after == "" else after < u) and (upto is None or u <= upto)]
    where = cond + (f" AND rel NOT IN ({','.join('?' * len(skip))})" if skip else "")
    args = (*bounds, *skip)
    rels, shas, sizes, count, total, ints = db.execute(
        "SELECT CAST(group_concat(rel, char(10)) AS BLOB), CAST(group_concat(sha256, ' ') AS BLOB),"
        " CAST(group_concat(size, ' ') AS BLOB), count(*), sum(size), sum(typeof(size) = 'integer')"
        f" FROM files WHERE {where}",
        args,
    ).fetchone()
    if not count:
        return ListChunk(b"", b"", 0, 0)
    made = _fast(rels, shas, sizes, count) if ints == count else None
    if made is not None:
        return ListChunk(made[0], made[1], count, int(total))
    files = db.execute(f"SELECT rel, sha256, size FROM files WHERE {where} ORDER BY rel", args).fetchall()
    return ListChunk(
        b"".join(hash_line(*f) for f in files),
        ",\n".join(entry_line(*f) for f in files).encode("utf-8", "surrogateescape"),
        len(files),
        sum(f[2] for f in files),
    )


def _present(db: sqlite3.Connection, unlisted: Sequence[str]) -> list[str]:
    return [u for u in unlisted if db.execute("SELECT 1 FROM files WHERE rel = ?", (u,)).fetchone()]


def list_chunks(db: sqlite3.Connection, unlisted: Sequence[str], rows: int = ROWS) -> Iterator[ListChunk]:
    """Every file of the ``files(rel, sha256, size)`` table but ``unlisted``, in path order.

    Only a range that holds an unlisted file is filtered in SQL (a per-row test that would
    otherwise cost a fifth of the query)."""
    present = _present(db, unlisted)
    for cond, after, upto in _ranges(db, rows):
        chunk = _chunk(db, present, cond, after, upto)
        if chunk.count:
            yield chunk


def kept_list_chunks(
    db: sqlite3.Connection,
    unlisted: Sequence[str],
    rows: int = ROWS,
    *,
    changed: bool = True,
    lists: bool = True,
) -> Iterator[ListChunk]:
    """``list_chunks``'s chunks, kept for the next build in the ``manifest_chunks`` table.

    A kept chunk starts after its ``lo`` and covers the paths up to the next chunk's ``lo`` (the
    first starts at ''), so every path, also one added later, falls in exactly one. A chunk is
    taken as kept unless a file in its range changed since it was made: with ``changed``, the
    table ``delta_files`` names every file of ``files`` added, changed or removed since (the
    triggers of an incremental build; ``generator.incremental``). The other chunks are made
    again from ``files`` (split when they grew) and replace the kept ones. Without kept chunks
    (a new state, an older one, or no ``changed``) every chunk is made and kept. Without
    ``lists`` a kept chunk comes without its JSON lines (``listed`` empty): read them afterwards,
    in order, with ``kept_lists``."""
    los = [str(lo) for (lo,) in db.execute("SELECT lo FROM manifest_chunks ORDER BY lo")]
    if changed and los[:1] == [""]:
        unlisted_set = set(unlisted)
        stale = {
            max(0, bisect.bisect_left(los, str(rel)) - 1)
            for (rel,) in db.execute("SELECT rel FROM delta_files")
            if rel not in unlisted_set
        }
    else:
        db.execute("DELETE FROM manifest_chunks")
        los, stale = [""], {0}
    present = _present(db, unlisted)
    for i, lo in enumerate(los):
        upto = los[i + 1] if i + 1 < len(los) else None
        if i not in stale:
            listed_column = "listed" if lists else "NULL"
            hashed, listed, count, total = db.execute(
                f"SELECT hashed, {listed_column}, count, total FROM manifest_chunks WHERE lo = ?", (lo,)
            ).fetchone()
            if count:
                yield ListChunk(bytes(hashed), bytes(listed or b""), int(count), int(total))
            continue
        for n, (cond, after, top) in enumerate(_ranges(db, rows, lo, upto)):
            chunk = _chunk(db, present, cond, after, top)
            if n == 0 or chunk.count:
                db.execute(
                    "INSERT OR REPLACE INTO manifest_chunks VALUES (?, ?, ?, ?, ?)",
                    (after, chunk.count, chunk.total, chunk.hashed, chunk.listed),
                )
            if chunk.count:
                yield chunk


def kept_lists(db: sqlite3.Connection) -> Iterator[bytes]:
    """The JSON lines of every chunk ``kept_list_chunks`` kept or made, in their order (the
    order of ``lo``, the paths' byte order), one chunk at a time."""
    cur = db.execute("SELECT listed FROM manifest_chunks WHERE count > 0 ORDER BY lo")
    while rows := cur.fetchmany(8):
        for (listed,) in rows:
            yield bytes(listed)
