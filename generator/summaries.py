"""Record summaries and output files, kept in SQLite instead of memory.

A build of N records needs, after the per-record stage, one small ``RecordSummary`` per record
(for listings and the report) and the path and SHA-256 of every file it wrote. Held in Python
objects that is O(N) memory (several GB at 2.5 million records); here it is a SQLite database
whose page cache is bounded, so memory stays flat and ordered views come from indexes.

``SummaryStore`` is a read-only ``Sequence[RecordSummary]`` in SUFFIX order (``len``, iteration,
indexing), plus ``ordered()`` for other orders and ``by_short8()`` for groups. ``FileHashes`` is
a ``Mapping[str, str]`` from output path to SHA-256 for every file written so far.

The database is either a private temporary file (deleted when closed) or, for incremental builds,
the build-state file beside the output (see ``generator.incremental``).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from generator import paths
from generator.columns import COLUMN_NAMES, COLUMN_TYPES, TEXT_COLUMNS, Columns, Row, columns, row_from_text
from generator.errors import RecordError, VerificationError
from generator.keyring import parse_time
from generator.render.site import RecordSummary, Renderer
from generator.verify.record import WARNING

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS pending (
  seq INTEGER PRIMARY KEY, suffix TEXT NOT NULL, raw_sha256 TEXT NOT NULL, input_key TEXT NOT NULL,
  where_ TEXT NOT NULL, submitted_at TEXT NOT NULL, signed_key TEXT, {columns});
CREATE INDEX IF NOT EXISTS temp.pending_suffix ON pending (suffix, seq, arxiv_id);
{carried};
CREATE TABLE IF NOT EXISTS summaries (
  suffix TEXT PRIMARY KEY, submitted_at TEXT NOT NULL, input_key TEXT NOT NULL,
  raw_sha256 TEXT NOT NULL, signed_key TEXT, {columns}) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS places (suffix TEXT PRIMARY KEY, where_ TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS summaries_time ON summaries (submitted_at, suffix, primary_cat, list_sha256);
{search_index};
CREATE INDEX IF NOT EXISTS summaries_short8 ON summaries (short8, suffix, pith_number, arxiv_id, version);
CREATE INDEX IF NOT EXISTS summaries_key ON summaries (input_key);
CREATE INDEX IF NOT EXISTS summaries_signed ON summaries (signed_key);
CREATE INDEX IF NOT EXISTS summaries_report ON summaries (suffix, report_sha256);
CREATE INDEX IF NOT EXISTS summaries_mindex ON summaries (suffix, mindex_sha256);
CREATE TABLE IF NOT EXISTS files (
  rel TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS owners (input_key TEXT NOT NULL, rel TEXT NOT NULL, PRIMARY KEY (input_key, rel))
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS page_keys (rel TEXT PRIMARY KEY, key TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS site_files (rel TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delta_files (rel TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifest_chunks (
  lo TEXT PRIMARY KEY, count INTEGER NOT NULL, total INTEGER NOT NULL, hashed BLOB NOT NULL,
  listed BLOB NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS noted (rel TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS site_noted (rel TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS stale (rel TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS gone (input_key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS held (
  input_key TEXT NOT NULL, rel TEXT NOT NULL, PRIMARY KEY (input_key, rel)) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS overwritten (
  rel TEXT PRIMARY KEY, writer TEXT NOT NULL, pith TEXT NOT NULL) WITHOUT ROWID;
"""

# read by the search step (documents and terms, oldest first) without touching the wide rows
SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS summaries_search ON summaries (submitted_at, suffix, search_doc, terms)"
)
# the inputs of an incremental build that the previous build has, the first of each key: noted
# by the input scan (appended, the index made after) or by the build's feed (through the index)
CARRIED_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS carried "
    "(input_key TEXT NOT NULL, seq INTEGER NOT NULL, where_ TEXT NOT NULL)"
)
CARRIED_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS temp.carried_key ON carried (input_key)"
SCHEMA = (
    _SCHEMA.replace("{carried}", f"{CARRIED_TABLE};\n{CARRIED_INDEX}")
    .replace("{columns}", ", ".join(f"{c} {COLUMN_TYPES.get(c, 'TEXT')} NOT NULL" for c in COLUMN_NAMES))
    .replace("{search_index}", SEARCH_INDEX)
)

# columns a caller may order by; values are SQL expressions over the summaries table
ORDER_KEYS = {"suffix": "suffix", "submitted_at": "submitted_at", "short8": "short8"}


def summary_to_json(s: RecordSummary) -> bytes:
    """A summary as compact JSON, zlib-compressed (it is stored once per record)."""
    text = json.dumps(
        [
            s.suffix,
            s.pith_number,
            s.arxiv_id,
            s.version,
            s.title,
            s.authors,
            s.submitted_at,
            s.primary_cat,
            s.canonical_sha256,
            s.raw_sha256,
            s.key_id,
            s.key_fingerprint,
            s.signed_at,
            s.where,
            [list(c) for c in s.checks],
            list(s.outputs),
            [[kind, status, list(codes)] for kind, status, codes in s.open_graph],
            list(s.notes),
            list(s.cross_cats),
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return zlib.compress(text.encode("utf-8"), 1)


def summary_from_json(data: bytes, where: str | None = None) -> RecordSummary:
    v = json.loads(zlib.decompress(data))
    if where is not None:
        v[13] = where
    return RecordSummary(
        suffix=v[0],
        pith_number=v[1],
        arxiv_id=v[2],
        version=v[3],
        title=v[4],
        authors=v[5],
        submitted_at=v[6],
        primary_cat=v[7],
        canonical_sha256=v[8],
        raw_sha256=v[9],
        key_id=v[10],
        key_fingerprint=v[11],
        signed_at=v[12],
        where=v[13],
        checks=tuple((c[0], c[1], c[2]) for c in v[14]),
        outputs=tuple(v[15]),
        open_graph=tuple((k, st, tuple(codes)) for k, st, codes in v[16]),
        notes=tuple(v[17]) if len(v) > 17 else (),
        cross_cats=tuple(v[18]) if len(v) > 18 else (),
    )


def connect(path: Path | None) -> sqlite3.Connection:
    """A database for one build: ``path`` or, when None, a private temporary file."""
    db = sqlite3.connect("" if path is None else str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF" if path is None else "PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=OFF")
    tune(db)
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    return db


def tune(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA cache_size=-16384")  # 16 MiB page cache: the memory bound
    db.execute("PRAGMA temp_store=FILE")


def resume(db: sqlite3.Connection, extra_schema: str = "") -> None:
    """Open a build's transaction on the previous build's state, in place (``db`` is in
    write-ahead-log mode: ``share_database``): the temporary tables of ``SCHEMA`` and
    ``extra_schema`` are made inside it, so nothing of it is written until the build commits.
    ``synchronous=NORMAL``: in that mode a commit survives the process dying at once and the
    file stays whole after a power cut (losing at most the last commits)."""
    db.execute("PRAGMA synchronous=NORMAL")
    tune(db)
    db.executescript("BEGIN;\n" + SCHEMA + extra_schema)  # executescript commits, then BEGINs


def share_database(db: sqlite3.Connection) -> None:
    """Let other processes read a build database (its own file) while ``db`` goes on writing:
    commit, and switch to a write-ahead log (readers see the last commit; the writer is never
    blocked by them). Leaves ``db`` outside a transaction, holding no lock (fork now, then
    ``BEGIN``). ``unshare_database`` switches back before the file is published."""
    if db.in_transaction:
        db.execute("COMMIT")
    mode = db.execute("PRAGMA main.journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"the build database cannot use a write-ahead log (mode {mode})")


def unshare_database(db: sqlite3.Connection) -> None:
    """After ``share_database`` and a ``COMMIT``, once the readers are gone (no other
    connection may be open): one file again, the log written into it."""
    if str(db.execute("PRAGMA main.journal_mode").fetchone()[0]).lower() == "wal":
        db.execute("PRAGMA main.journal_mode=DELETE")


class SummaryStore(Sequence[RecordSummary]):
    """The accepted records' summaries, in SUFFIX order."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._len: int | None = None

    def invalidate(self) -> None:
        self._len = None

    def __len__(self) -> int:
        if self._len is None:
            self._len = int(self.db.execute("SELECT count(*) FROM summaries").fetchone()[0])
        return self._len

    def __iter__(self) -> Iterator[RecordSummary]:
        return self.ordered("suffix")

    def ordered(self, *keys: str, reverse: bool = False) -> Iterator[RecordSummary]:
        """Summaries sorted by the named keys (``suffix``, ``submitted_at``, ``short8``); ties
        are broken by SUFFIX, so the order is total and deterministic."""
        cols = [ORDER_KEYS[k] for k in keys] + ["suffix"]
        direction = " DESC" if reverse else ""
        order = ", ".join(c + direction for c in cols)
        cur = self.db.execute(
            f"SELECT data, where_ FROM summaries JOIN places USING (suffix) ORDER BY {order}"
        )
        for data, where in cur:
            yield summary_from_json(data, where)

    def rows(self, *keys: str, reverse: bool = False) -> Iterator[Row]:
        """Display rows (``generator.columns.Row``) in the order of ``ordered``."""
        for (text,) in self._column("row", keys, reverse):
            yield row_from_text(text)

    def texts(self, column: str, *keys: str, reverse: bool = False) -> Iterator[tuple[str, str]]:
        """(SUFFIX, text of a stored column: ``row``, ``report``, ``mindex`` or ``terms``)."""
        if column not in TEXT_COLUMNS:
            raise ValueError(f"no column {column!r}")
        yield from self._column(f"suffix, {column}", keys, reverse)

    def pairs(self, first: str, second: str, *keys: str, reverse: bool = False) -> Iterator[tuple[str, str]]:
        """(text of one stored column, text of another) in the order of ``ordered``."""
        if first not in TEXT_COLUMNS or second not in TEXT_COLUMNS:
            raise ValueError(f"no columns {first!r}, {second!r}")
        yield from self._column(f"{first}, {second}", keys, reverse)

    def alias_groups(self) -> Iterator[tuple[str, str, int, str]]:
        """(shard prefix, arXiv id, version, pith number) of every record, by id, version and
        pith number. The prefix names the id's resolver shard: the id up to its number's second
        digit (``2301.01``), or an old-style id up to its month (``cs/0004``); a prefix's ids are
        consecutive. Read from the ``summaries_short8`` index alone and sorted (cheaper on every
        build than keeping another index in this order)."""
        yield from self._query(
            "SELECT CASE WHEN instr(arxiv_id, '/') THEN substr(arxiv_id, 1, instr(arxiv_id, '/') + 4) "
            "ELSE substr(arxiv_id, 1, 7) END, arxiv_id, version, pith_number "
            "FROM summaries ORDER BY arxiv_id, version, pith_number"
        )

    def resolver_entries(self) -> Iterator[tuple[str, str, str, str, int]]:
        """(SHORT8, SUFFIX, pith number, arXiv id, version) of every record in SUFFIX order,
        read from the ``summaries_short8`` index alone: everything the resolver shows."""
        yield from self._query(
            "SELECT short8, suffix, pith_number, arxiv_id, version FROM summaries ORDER BY short8, suffix"
        )

    def short_numbers(self) -> Iterator[tuple[str, str]]:
        """(SHORT8, pith number) of every record, in SHORT8 (then SUFFIX) order."""
        yield from self._query("SELECT short8, pith_number FROM summaries ORDER BY short8, suffix")

    def listing_counts(self) -> tuple[Counter[str], Counter[str]]:
        """Records per primary category and per month of submission (``YYYY-MM``)."""
        cats: Counter[str] = Counter(
            dict(self.db.execute("SELECT primary_cat, count(*) FROM summaries GROUP BY 1"))
        )
        months: Counter[str] = Counter(
            dict(self.db.execute("SELECT substr(submitted_at, 1, 7), count(*) FROM summaries GROUP BY 1"))
        )
        return cats, months

    def list_items(self, limit: int = -1) -> Iterator[tuple[str, str, str]]:
        """Newest first: (primary category, submission time, list item) of every record (of
        the first ``limit``)."""
        yield from self._query(
            "SELECT primary_cat, submitted_at, list_html FROM summaries "
            f"ORDER BY submitted_at DESC, suffix DESC LIMIT {int(limit)}"
        )

    def listing_keys(self) -> Iterator[tuple[str, str, str, str]]:
        """Newest first: (primary category, submission time, SUFFIX, SHA-256 of the list item) of
        every record, read from the ``summaries_time`` index alone."""
        return self._query(
            "SELECT primary_cat, submitted_at, suffix, list_sha256 FROM summaries "
            "ORDER BY submitted_at DESC, suffix DESC"
        )

    def list_items_of(self, suffixes: Sequence[str]) -> dict[str, str]:
        """SUFFIX -> list item of those of ``suffixes`` (at most 500) that are stored."""
        marks = ",".join("?" * len(suffixes))
        cur = self.db.execute(
            f"SELECT suffix, list_html FROM summaries WHERE suffix IN ({marks})", list(suffixes)
        )
        return {str(suffix): str(html) for suffix, html in cur}

    def _query(self, sql: str) -> Iterator[Any]:
        cur = self.db.execute(sql)
        while rows := cur.fetchmany(512):
            yield from rows

    def _column(self, select: str, keys: tuple[str, ...], reverse: bool) -> Iterator[Any]:
        cols = [ORDER_KEYS[k] for k in keys] + ["suffix"]
        direction = " DESC" if reverse else ""
        order = ", ".join(c + direction for c in cols)
        cur = self.db.execute(f"SELECT {select} FROM summaries ORDER BY {order}")
        while rows := cur.fetchmany(512):
            yield from rows

    def touched_rows(self, suffixes: Iterable[str]) -> frozenset[tuple[Any, ...]]:
        """The ``TOUCHED_COLUMNS`` of the stored rows of ``suffixes``."""
        wanted = sorted(suffixes)
        found: set[tuple[Any, ...]] = set()
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            found.update(
                self.db.execute(
                    f"SELECT {', '.join(TOUCHED_COLUMNS)} FROM summaries "
                    f"WHERE suffix IN ({','.join('?' * len(part))})",
                    part,
                )
            )
        return frozenset(found)

    def by_short8(self) -> Iterator[tuple[str, list[RecordSummary]]]:
        """(short number, records sharing it) for every short number held by more than one record."""
        cur = self.db.execute(
            "SELECT s.short8, s.data, w.where_ FROM summaries s JOIN places w USING (suffix) JOIN "
            "(SELECT short8 FROM summaries GROUP BY short8 HAVING count(*) > 1) d USING (short8) "
            "ORDER BY s.short8, s.suffix"
        )
        group: list[RecordSummary] = []
        current: str | None = None
        for short8, data, where in cur:
            if short8 != current and group:
                assert current is not None
                yield current, group
                group = []
            current = short8
            group.append(summary_from_json(data, where))
        if group and current is not None:
            yield current, group

    def get(self, suffix: str) -> RecordSummary | None:
        row = self.db.execute(
            "SELECT data, where_ FROM summaries JOIN places USING (suffix) WHERE suffix = ?", (suffix,)
        ).fetchone()
        return summary_from_json(row[0], row[1]) if row else None

    @overload
    def __getitem__(self, index: int) -> RecordSummary: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordSummary]: ...

    def __getitem__(self, index: int | slice) -> RecordSummary | list[RecordSummary]:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            cur = self.db.execute(
                "SELECT data, where_ FROM summaries JOIN places USING (suffix) "
                "ORDER BY suffix LIMIT ? OFFSET ?",
                (max(0, stop - start), start),
            )
            return [summary_from_json(d, w) for d, w in cur]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("summary index out of range")
        row = self.db.execute(
            "SELECT data, where_ FROM summaries JOIN places USING (suffix) ORDER BY suffix LIMIT 1 OFFSET ?",
            (index,),
        ).fetchone()
        return summary_from_json(row[0], row[1])

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, RecordSummary):
            return False
        return self.get(item.suffix) == item

    def __repr__(self) -> str:
        return f"<SummaryStore of {len(self)} record(s)>"


def signed_key(summary: RecordSummary) -> str | None:
    """The receipt's signing time as fixed-width UTC text (sorts as time), or None."""
    if not summary.signed_at:
        return None
    try:
        t = parse_time(summary.signed_at)
    except ValueError:
        return None
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_columns(summary: RecordSummary, data_of: Callable[[str], bytes], renderer: Renderer) -> Columns:
    """The columns of a freshly rendered record (see ``generator.columns``)."""
    return columns(
        summary,
        data_of,
        encode=summary_to_json,
        report_rows=renderer.report_rows,
        record_row=renderer.record_row,
    )


def add_pending(
    db: sqlite3.Connection,
    seq: int,
    summary: RecordSummary,
    input_key: str,
    cols: Columns | None = None,
    data_of: Callable[[str], bytes] | None = None,
    renderer: Renderer | None = None,
) -> None:
    """A verified input, before duplicates and conflicts are settled. ``cols`` come from the
    worker that rendered it; without them they are made here (``data_of`` reads its outputs)."""
    if cols is None:
        if data_of is None or renderer is None:
            raise ValueError(
                f"{summary.pith_number}: add_pending needs its columns, or its outputs and a renderer"
            )
        cols = record_columns(summary, data_of, renderer)
    add_pending_rows(db, [pending_row(seq, summary, input_key, cols)])


def pending_row(seq: int, summary: RecordSummary, input_key: str, cols: Columns) -> tuple[Any, ...]:
    """A verified input's row of ``pending`` (``add_pending_rows``)."""
    return (
        seq,
        summary.suffix,
        summary.raw_sha256,
        input_key,
        summary.where,
        summary.submitted_at,
        signed_key(summary),
        *cols,
    )


_INSERT_PENDING = f"INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?, {', '.join('?' * len(COLUMN_NAMES))})"


def add_pending_rows(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Verified inputs (rows made by ``pending_row``), in one statement."""
    db.executemany(_INSERT_PENDING, rows)


# the columns of a record's row that ``Settled.before`` keeps of the rows a build replaced
# (SUFFIX first): what the resolver, the search index and the listings show of a record
TOUCHED_COLUMNS = (
    "suffix",
    "short8",
    "pith_number",
    "arxiv_id",
    "version",
    "submitted_at",
    "search_doc",
    "terms",
    "primary_cat",
    "list_sha256",
)


# at most this many rows are kept in ``Settled.before`` or compared with it (a few KB each)
TOUCHED_IN_MEMORY = 4096


class Settled:
    """The outcome of settling: failures, and the files and input keys of refused records."""

    def __init__(self) -> None:
        self.failures: list[RecordError] = []
        self.refused_files: list[str] = []
        self.refused_keys: list[str] = []  # of records verified by this build
        self.newest: datetime | None = None
        # SUFFIXes whose row in ``summaries`` this build added, replaced or removed; None when
        # every row is new (a fresh state, or nothing carried). Site steps whose shards follow
        # SUFFIX ranges keep the previous key of a shard none of these fall in.
        self.touched: frozenset[str] | None = None
        # the ``TOUCHED_COLUMNS`` of the previous build's rows that this build removed or
        # replaced (with ``touched``): a step compares them with the rows of ``touched`` now
        self.before: frozenset[tuple[Any, ...]] | None = None


_ROWS = "SELECT seq, raw_sha256, where_, data, NULL FROM pending WHERE suffix = ?"


def settle(
    db: sqlite3.Connection,
    strict: bool,
    based: bool = False,
    gone: Sequence[str] | None = None,
    moved: Sequence[tuple[str, str]] | None = None,
    published: Callable[[str], bool] | None = None,
) -> Settled:
    """One summary per record; different bytes for one record are a conflict.

    Moves the ``pending`` rows (the inputs this build verified) into ``summaries``: of several
    inputs with the same bytes the first is kept; inputs with different bytes for one SUFFIX
    are all refused (``conflicting_copies``); with ``strict``, newly verified records with
    warnings are refused.

    With ``based``, ``summaries`` starts as the previous build's, and the ``carried`` table holds
    the inputs it already has: a record whose input is not there any more goes (its input key
    into the ``gone`` table, its files into ``stale`` as candidates for removal), and a carried
    record takes part in the checks above with its input position. Carried records were settled
    under the same settings before and are not checked again under ``strict``. ``gone``, when
    the input scan found them, are the previous input keys that no input has now (else they
    are found here, from ``carried``); ``moved``, when it found them, are (place, input key) of
    the carried inputs whose place changed (else they are found here, from ``carried`` and
    ``places``).

    With ``published`` (site path -> whether the live site publishes a file there; None when
    there is no live site), a paper whose integrity findings the live site publishes and that
    this build would publish without them is refused, every accepted version of it
    (``rollback``: ``integrity_rollbacks``)."""
    out = Settled()
    if based:
        if gone is not None:  # the input keys no input has now, as the scan found them
            db.executemany("INSERT OR IGNORE INTO temp.gone VALUES (?)", [(k,) for k in gone])
        else:
            db.execute(
                "INSERT OR IGNORE INTO temp.gone SELECT input_key FROM summaries "
                "WHERE input_key NOT IN (SELECT input_key FROM carried)"
            )
        contested = "UNION SELECT p.suffix FROM pending p JOIN summaries s USING (suffix) " + (
            "WHERE s.input_key NOT IN (SELECT input_key FROM temp.gone)"
        )
    else:
        contested = ""
    suffixes = [
        str(suffix)
        for (suffix,) in db.execute(
            f"SELECT suffix FROM pending GROUP BY suffix HAVING count(*) > 1 {contested} ORDER BY 1"
        ).fetchall()
    ]
    for suffix in suffixes:
        rows: list[tuple[int, str, str, bytes, str | None]] = db.execute(_ROWS, (suffix,)).fetchall()
        kept = (
            db.execute(
                "SELECT c.seq, s.raw_sha256, c.where_, s.data, s.input_key FROM summaries s "
                "JOIN carried c USING (input_key) WHERE s.suffix = ?",
                (suffix,),
            ).fetchone()
            if based
            else None
        )
        if kept is not None:
            rows.append(kept)
        rows.sort(key=lambda r: r[0])
        if len({raw for _s, raw, _w, _d, _k in rows}) > 1:
            first = summary_from_json(rows[0][3])
            wheres = ", ".join(sorted(w for _s, _r, w, _d, _k in rows))
            out.failures.append(
                RecordError(
                    "conflicting_copies",
                    first.pith_number,
                    f"different bytes for the same record in: {wheres}",
                )
            )
            out.refused_files.extend(first.outputs)
            out.refused_keys.extend(
                str(k) for (k,) in db.execute("SELECT input_key FROM pending WHERE suffix = ?", (suffix,))
            )
            db.execute("DELETE FROM pending WHERE suffix = ?", (suffix,))
            if kept is not None:
                db.execute("INSERT OR IGNORE INTO temp.gone VALUES (?)", (kept[4],))
        elif rows[0][4] is None:  # a copy verified now comes first
            db.execute("DELETE FROM pending WHERE suffix = ? AND seq > ?", (suffix, rows[0][0]))
            if kept is not None:
                db.execute("INSERT OR IGNORE INTO temp.gone VALUES (?)", (kept[4],))
        else:  # the carried copy comes first
            db.execute("DELETE FROM pending WHERE suffix = ?", (suffix,))
    if strict:
        for seq, key, data in db.execute("SELECT seq, input_key, data FROM pending").fetchall():
            summary = summary_from_json(data)
            warnings = [f"{n}: {d}" for n, st, d in summary.checks if st == WARNING]
            og_failed = [(kind, codes) for kind, _status, codes in summary.open_graph if codes]
            if warnings:
                out.failures.append(
                    VerificationError(
                        "unsigned_field_mismatch", summary.pith_number, "--strict: " + "; ".join(warnings)
                    )
                )
            elif og_failed:
                out.failures.append(
                    VerificationError(
                        og_failed[0][1][0],
                        summary.pith_number,
                        "--strict: open graph: "
                        + "; ".join(f"{kind}.json {', '.join(codes)}" for kind, codes in og_failed),
                    )
                )
            if warnings or og_failed:
                out.refused_files.extend(summary.outputs)
                out.refused_keys.append(str(key))
                db.execute("DELETE FROM pending WHERE seq = ?", (seq,))
    if published is not None:
        integrity_rollbacks(db, based, out, published)
    if based:
        # records that left, lost a conflict or were replaced: their rows go, their files may
        # the files of records that left; a record verified now under an input key that left
        # too (every record rebuilt, same input) keeps the owners rows this build gave it
        # (IncrementalSite.begin cleared the previous build's then)
        left = (
            "input_key IN (SELECT input_key FROM temp.gone) "
            "AND input_key NOT IN (SELECT input_key FROM pending)"
        )
        db.execute(f"INSERT OR IGNORE INTO temp.stale SELECT rel FROM owners WHERE {left}")
        db.execute(f"DELETE FROM owners WHERE {left}")
        removed: set[str] | None = None
        if db.execute("SELECT 1 FROM carried LIMIT 1").fetchone() is None:
            # nothing carried (every record rebuilt: a template or code change): every previous
            # row goes, the tables emptied whole instead of row by row
            db.execute("DELETE FROM places")
            db.execute("DELETE FROM summaries")
        else:
            gone_rows = "FROM summaries WHERE input_key IN (SELECT input_key FROM temp.gone)"
            removed = {str(suffix) for (suffix,) in db.execute(f"SELECT suffix {gone_rows}")}
            if len(removed) <= TOUCHED_IN_MEMORY:  # else not kept: memory stays flat
                out.before = frozenset(db.execute(f"SELECT {', '.join(TOUCHED_COLUMNS)} {gone_rows}"))
            db.execute(f"DELETE FROM places WHERE suffix IN (SELECT suffix {gone_rows})")
            db.execute(f"DELETE {gone_rows}")
        # where each carried record is now (input files and line numbers may change)
        if moved is None:
            moved = db.execute(
                "SELECT c.where_, c.input_key FROM carried c JOIN summaries s ON s.input_key = c.input_key "
                "JOIN places w ON w.suffix = s.suffix WHERE w.where_ != c.where_"
            ).fetchall()
        db.executemany(
            "UPDATE places SET where_ = ? WHERE suffix = (SELECT suffix FROM summaries WHERE input_key = ?)",
            moved,
        )
        if removed is not None:
            removed.update(str(suffix) for (suffix,) in db.execute("SELECT suffix FROM pending"))
            out.touched = frozenset(removed)
    # Into an empty table (a fresh state), the wide search index is made after the rows, in
    # one sort, instead of entry by entry in time order: 2-2.5 s against 3.5 s or more of CPU
    # at 100,000 records.
    empty = db.execute("SELECT 1 FROM summaries LIMIT 1").fetchone() is None
    if empty:
        db.execute("DROP INDEX IF EXISTS summaries_search")
    db.execute(
        "INSERT INTO summaries SELECT suffix, submitted_at, input_key, raw_sha256, signed_key, "
        f"{', '.join(COLUMN_NAMES)} FROM pending ORDER BY suffix"
    )
    if empty:
        db.execute(SEARCH_INDEX)
    db.execute("INSERT INTO places SELECT suffix, where_ FROM pending ORDER BY suffix")
    newest = db.execute("SELECT max(signed_key) FROM summaries").fetchone()[0]
    if newest is not None:
        out.newest = parse_time(str(newest))
    return out


INTEGRITY_TAIL = "/integrity.json"


def integrity_rollbacks(
    db: sqlite3.Connection, based: bool, out: Settled, published: Callable[[str], bool]
) -> None:
    """Refuse (``rollback``) every accepted version of a paper whose integrity findings
    (``pith/{arxiv_id}/integrity.json``, which the versions of a paper share) the live site
    publishes (``published(path)``) and this build would not: no accepted record has a copy
    that verified. Called by ``settle`` once the records refused for other reasons are known
    (``out``), before the accepted ones go into ``summaries``. A paper none of whose records
    is accepted any more (it left the input) loses its findings without error.

    Cheap where nothing can have changed. Only the papers whose file this build may not
    produce are looked at: of the records verified now, those whose file no record wrote (or
    a refused one did); based on the previous build, also those whose file a record that left
    or was replaced had. Based on the previous build, a file its list does not hold is not
    live (that list is the live tree's) and costs nothing more; every other candidate costs
    one ``published`` call (an ``lstat``). The accepted records of a paper are looked up only
    for candidates that another of its records may still provide, and for a rollback."""
    refused = {rel for rel in out.refused_files if rel.endswith(INTEGRITY_TAIL)}
    candidates = {str(a) for (a,) in db.execute("SELECT DISTINCT arxiv_id FROM pending")}
    candidates.update(_paper_of(rel) for rel in refused)
    if based:  # files of records that left, lost a conflict or were replaced
        candidates.update(
            _paper_of(str(rel))
            for (rel,) in db.execute(
                "SELECT DISTINCT rel FROM owners WHERE input_key IN (SELECT input_key FROM temp.gone) "
                f"AND rel LIKE '%{INTEGRITY_TAIL}'"
            )
        )
    rel_of = {a: paths.integrity_json(a) for a in sorted(candidates)}  # ids verify_record checked
    # based: what this build wrote (temp.noted) and what the previous build listed (files)
    written = present_rels(db, "temp.noted" if based else "files", list(rel_of.values()))
    listed = present_rels(db, "files", list(rel_of.values())) if based else written
    missing: list[str] = []  # no accepted record provides the file, if the live site has it
    unsure: list[str] = []  # an accepted record may provide it: look
    for arxiv_id, rel in rel_of.items():
        if rel in written and rel not in refused:
            continue  # a record verified now wrote it, and was not refused
        if based and rel not in listed:
            continue  # not in the live tree
        if not based and rel not in written:
            missing.append(arxiv_id)  # no record wrote it, and none is carried
        else:
            unsure.append(arxiv_id)
    accepted = _accepted_of(db, based, unsure) if unsure else {}
    missing.extend(a for a in unsure if not any(rel_of[a] in outputs for *_r, outputs in accepted[a]))
    gone = sorted(a for a in missing if published(rel_of[a]))
    if not gone:
        return
    for arxiv_id, records in sorted(_accepted_of(db, based, gone).items()):
        detail = (
            f"{rel_of[arxiv_id]}: the live site publishes it and no input of this paper has a copy "
            "that could replace it"
        )
        for seq, key, where, pith, carried, outputs in records:
            out.failures.append(VerificationError("rollback", f"{where} ({pith})", detail))
            if carried:  # goes like a record that left the input
                db.execute("INSERT OR IGNORE INTO temp.gone VALUES (?)", (key,))
            else:
                out.refused_files.extend(outputs)
                out.refused_keys.append(key)
                db.execute("DELETE FROM pending WHERE seq = ?", (seq,))


def _paper_of(rel: str) -> str:
    """The arXiv id of a ``paths.integrity_json`` path."""
    return rel[len("pith/") : -len(INTEGRITY_TAIL)]


def present_rels(db: sqlite3.Connection, table: str, rels: Sequence[str]) -> set[str]:
    """Those of ``rels`` that ``table`` (a table keyed by ``rel``) holds."""
    found: set[str] = set()
    for i in range(0, len(rels), 500):
        part = rels[i : i + 500]
        cur = db.execute(f"SELECT rel FROM {table} WHERE rel IN ({','.join('?' * len(part))})", part)
        found.update(str(r) for (r,) in cur)
    return found


# an accepted record: (input position, input key, where, Pith number, carried?, its outputs)
_Accepted = tuple[int, str, str, str, bool, tuple[str, ...]]


def _accepted_of(db: sqlite3.Connection, based: bool, arxiv_ids: Sequence[str]) -> dict[str, list[_Accepted]]:
    """arXiv id -> its accepted records, in input order: the records verified now that
    ``pending`` still holds and, based on the previous build, the carried records that stay.
    One pass over ``pending``, and one over an index of ``summaries`` (arXiv ids are not
    indexed: this runs for few papers, and rarely)."""
    found: dict[str, list[_Accepted]] = {a: [] for a in arxiv_ids}
    db.execute("CREATE TEMP TABLE IF NOT EXISTS papers (arxiv_id TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute("DELETE FROM temp.papers")
    db.executemany("INSERT OR IGNORE INTO temp.papers VALUES (?)", [(a,) for a in arxiv_ids])
    try:
        for seq, key, where, pith, arxiv_id, data in db.execute(
            "SELECT seq, input_key, where_, pith_number, arxiv_id, data FROM pending "
            "WHERE arxiv_id IN (SELECT arxiv_id FROM temp.papers)"
        ).fetchall():
            outputs = summary_from_json(data).outputs
            found[str(arxiv_id)].append((int(seq), str(key), str(where), str(pith), False, outputs))
        if based:
            # the carried records of those papers: their SUFFIXes from a narrow index first
            suffixes = [
                str(s)
                for (s,) in db.execute(
                    "SELECT suffix FROM summaries WHERE arxiv_id IN (SELECT arxiv_id FROM temp.papers)"
                ).fetchall()
            ]
            for suffix in suffixes:
                row = db.execute(
                    "SELECT c.seq, s.input_key, c.where_, s.pith_number, s.arxiv_id, s.data FROM summaries s "
                    "JOIN carried c USING (input_key) WHERE s.suffix = ? "
                    "AND s.input_key NOT IN (SELECT input_key FROM temp.gone)",
                    (suffix,),
                ).fetchone()
                if row is not None:
                    seq, key, where, pith, arxiv_id, data = row
                    outputs = summary_from_json(data).outputs
                    found[str(arxiv_id)].append((int(seq), str(key), str(where), str(pith), True, outputs))
    finally:
        db.execute("DELETE FROM temp.papers")
    for records in found.values():
        records.sort()
    return found


def held_files(db: sqlite3.Connection, input_keys: Sequence[str]) -> dict[str, dict[str, tuple[str, int]]]:
    """input key -> {rel: (SHA-256, size)} of the files the build's file list has for the records
    with those input keys, as the previous build wrote them (its owners, kept in ``temp.held`` by
    ``IncrementalSite.begin`` when every record is rebuilt)."""
    found: dict[str, dict[str, tuple[str, int]]] = {}
    for i in range(0, len(input_keys), 400):
        part = list(input_keys[i : i + 400])
        cur = db.execute(
            "SELECT o.input_key, f.rel, f.sha256, f.size FROM temp.held o JOIN files f USING (rel) "
            f"WHERE o.input_key IN ({','.join('?' * len(part))})",
            part,
        )
        for key, rel, sha, size in cur:
            found.setdefault(str(key), {})[str(rel)] = (str(sha), int(size))
    return found


def new_record_copies(db: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    """(SUFFIX, SHA-256 of the record bytes) of every accepted record written by this build."""
    cur = db.execute("SELECT suffix, raw_sha256 FROM pending ORDER BY suffix")
    while True:
        rows = cur.fetchmany(1024)
        if not rows:
            return
        for suffix, raw in rows:
            yield str(suffix), str(raw)


# the listed files whose path is in [?, ?)
FILES_IN_RANGE = "FROM files WHERE rel >= ? AND rel < ?"

_UPSERT = (
    "INSERT INTO files VALUES (?, ?, ?) ON CONFLICT (rel) DO UPDATE SET sha256 = excluded.sha256, "
    "size = excluded.size WHERE sha256 != excluded.sha256 OR size != excluded.size"
)


class FileHashes(Mapping[str, str]):
    """Output path -> SHA-256 of every file in the staging tree.

    A final step (for example a manifest) reads hashes from here instead of re-reading files.
    With ``based`` the table starts as the previous build's file list (the staging tree holds
    those files); the files this build writes are also noted in the ``noted`` table, and a row
    is only changed when its bytes change (so ``delta_files`` lists real changes).
    """

    def __init__(self, db: sqlite3.Connection, *, based: bool = False, keep_chunks: bool = False) -> None:
        self.db = db
        self.based = based
        # the manifest's file list is kept in chunks for the next build (an incremental build),
        # and with ``based`` the kept chunks of the previous build are reused where no file in
        # their range changed (``filelist.kept_list_chunks``)
        self.keep_chunks = keep_chunks

    def record(self, rel: str, sha256: str, size: int) -> None:
        """Note a file as part of the staging tree (replacing an earlier note of it)."""
        self.record_many([(rel, sha256, size)])

    def record_many(self, rows: Iterable[tuple[str, str, int]]) -> None:
        if not self.based:
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", rows)
            return
        rows = list(rows)
        self.db.executemany("INSERT OR IGNORE INTO temp.noted VALUES (?)", [(r[0],) for r in rows])
        self.db.executemany(_UPSERT, rows)

    def keep(self, rels: Sequence[str]) -> None:
        """Note files the staging tree holds already, as listed (``based`` only)."""
        self.db.executemany("INSERT OR IGNORE INTO temp.noted VALUES (?)", [(r,) for r in rels])

    def keep_range(self, lo: str, hi: str) -> list[str] | None:
        """``keep`` every listed file whose path is in [lo, hi), in one statement; returns None
        (a subclass that notes elsewhere returns the paths it noted)."""
        self.db.execute(f"INSERT OR IGNORE INTO temp.noted SELECT rel {FILES_IN_RANGE}", (lo, hi))
        return None

    def add(self, rel: str, sha256: str, size: int, writer: str = "", pith: str = "") -> str | None:
        """Note a file unless this build noted it already; returns the SHA-256 noted before, if
        any. With ``based``, replacing a previous build's file with other bytes is noted in
        ``overwritten`` with the writer's input key and Pith number."""
        if not self.based:
            if self.db.execute("INSERT OR IGNORE INTO files VALUES (?, ?, ?)", (rel, sha256, size)).rowcount:
                return None
            return self[rel]
        if not self.db.execute("INSERT OR IGNORE INTO temp.noted VALUES (?)", (rel,)).rowcount:
            return self[rel]
        row = self.db.execute("SELECT sha256 FROM files WHERE rel = ?", (rel,)).fetchone()
        if row is not None and row[0] != sha256:
            self.db.execute("INSERT OR REPLACE INTO temp.overwritten VALUES (?, ?, ?)", (rel, writer, pith))
        self.db.execute(_UPSERT, (rel, sha256, size))
        return None

    def add_many(self, rows: Sequence[tuple[str, str, int, str, str]]) -> list[tuple[str, str]]:
        """``add`` for each of ``rows`` (rel, sha256, size, writer, pith) in order; returns
        (rel, pith) of the rows whose path was noted before with other bytes.

        Without ``based`` the rows go in with one statement. Its count of rows inserted tells
        whether any path was noted already (a file records share: rare); only then is each
        path's noted SHA-256 read back. ``INSERT OR IGNORE`` keeps the first note of a path, so
        the note read back is the one ``add`` would have returned for an ignored row."""
        if self.based:
            return [(r[0], r[4]) for r in rows if (noted := self.add(*r)) is not None and noted != r[1]]
        inserted = self.db.executemany(
            "INSERT OR IGNORE INTO files VALUES (?, ?, ?)", [r[:3] for r in rows]
        ).rowcount
        if inserted == len(rows):
            return []
        return [(r[0], r[4]) for r in rows if self[r[0]] != r[1]]

    def own(self, input_key: str, rel: str) -> None:
        """Note that the record with this input key has this file (several records may)."""
        self.own_many([(input_key, rel)])

    def own_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """``own`` for each (input key, rel) pair."""
        self.db.executemany("INSERT OR IGNORE INTO owners VALUES (?, ?)", pairs)

    def among(self, rels: Sequence[str]) -> dict[str, str]:
        """rel -> SHA-256 of those of ``rels`` (at most 500) that are noted."""
        marks = ",".join("?" * len(rels))
        cur = self.db.execute(f"SELECT rel, sha256 FROM files WHERE rel IN ({marks})", list(rels))
        return {str(r): str(h) for r, h in cur}

    def forget(self, rel: str) -> None:
        self.db.execute("DELETE FROM files WHERE rel = ?", (rel,))
        if self.based:
            self.db.execute("DELETE FROM temp.noted WHERE rel = ?", (rel,))

    def get_sha(self, rel: str) -> str | None:
        row = self.db.execute("SELECT sha256 FROM files WHERE rel = ?", (rel,)).fetchone()
        return None if row is None else str(row[0])

    def __getitem__(self, rel: str) -> str:
        row = self.db.execute("SELECT sha256 FROM files WHERE rel = ?", (rel,)).fetchone()
        if row is None:
            raise KeyError(rel)
        return str(row[0])

    @property
    def sized(self) -> Mapping[str, tuple[str, int]]:
        """The same files as path -> (sha256, size)."""
        return _Sized(self.db)

    def size(self, rel: str) -> int | None:
        row = self.db.execute("SELECT size FROM files WHERE rel = ?", (rel,)).fetchone()
        return None if row is None else int(row[0])

    def __iter__(self) -> Iterator[str]:
        for (rel,) in self.db.execute("SELECT rel FROM files ORDER BY rel"):
            yield rel

    def items_sized(self) -> Iterator[tuple[str, str, int]]:
        yield from self.db.execute("SELECT rel, sha256, size FROM files ORDER BY rel")

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM files").fetchone()[0])

    def __contains__(self, rel: object) -> bool:
        return (
            isinstance(rel, str)
            and self.db.execute("SELECT 1 FROM files WHERE rel = ?", (rel,)).fetchone() is not None
        )


def meta_get(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def meta_set(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))


class _Sized(Mapping[str, tuple[str, int]]):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __getitem__(self, rel: str) -> tuple[str, int]:
        row = self.db.execute("SELECT sha256, size FROM files WHERE rel = ?", (rel,)).fetchone()
        if row is None:
            raise KeyError(rel)
        return str(row[0]), int(row[1])

    def __iter__(self) -> Iterator[str]:
        for (rel,) in self.db.execute("SELECT rel FROM files ORDER BY rel"):
            yield rel

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM files").fetchone()[0])
