"""The verification report, ``verification.json`` and ``verification/index.html``, streamed from
the build's summary table a chunk of records at a time.

Every record's entry of the JSON report (column ``report``) and its rows of the HTML report's
two tables (column ``report_html``, a JSON pair) were made when the record was rendered
(``generator.columns``). This step only joins them, in SUFFIX order, into the two documents:

- ``verification.json``: the stored entries are read as UTF-8 bytes (no decoding and encoding
  again) and joined a chunk at a time, between the head and tail of the document, exactly as
  ``streamed.report_text_chunks`` prints them.
- ``verification/index.html``: each chunk's pairs are decoded by one ``json.loads`` and the
  template is handed one pair per chunk, the chunk's records rows joined and its open-graph rows
  joined. The template only concatenates them (``{{ row }}`` in a loop, open-graph rows that are
  not empty), so the page is byte for byte the page of one pair per record. The template walks
  the pairs twice (records table, then open-graph table); the second walk reuses the open-graph
  rows noted in the first instead of reading and decoding the table again (``ReportRows``).

A build without a summary table (a plain list of summaries) gets the same two documents from
the summaries themselves.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from generator.columns import report_entry, report_text
from generator.streamed import Reiterable, StreamedFile, page_chunks, report_text_chunks
from generator.summaries import SummaryStore

if TYPE_CHECKING:
    from generator.build import SiteContext

ROWS = 1024  # records per chunk: about 1.5 MB of JSON report
_PLACEHOLDER = "\x00records\x00"


def report_json_blobs(head: dict[str, Any], chunks: Iterable[list[bytes]]) -> Iterator[bytes]:
    """``streamed.report_text_chunks(head, texts)`` from the texts as UTF-8 bytes, in chunks."""
    doc = dict(head, records=_PLACEHOLDER)
    text = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    before, after = text.split(json.dumps(_PLACEHOLDER, ensure_ascii=False), 1)
    yield before.encode("utf-8")
    opening = b"[\n  "
    for chunk in chunks:
        if chunk:
            yield opening + b",\n  ".join(chunk)
            opening = b",\n  "
    yield b"[]" if opening == b"[\n  " else b"\n ]"
    yield after.encode("utf-8")


def _column_chunks(db: sqlite3.Connection, select: str) -> Iterator[list[Any]]:
    """The values of one expression over the summaries, in SUFFIX order, ``ROWS`` at a time."""
    cur = db.execute(f"SELECT {select} FROM summaries ORDER BY suffix")
    while rows := cur.fetchmany(ROWS):
        yield [value for (value,) in rows]


def html_pair_chunks(texts: Iterable[list[str]]) -> Iterator[tuple[Markup, Markup]]:
    """Per chunk of stored ``report_html`` pairs: (its records rows, its open-graph rows), joined."""
    for chunk in texts:
        if not chunk:
            continue
        pairs = json.loads("[" + ",".join(chunk) + "]")
        rows, ogs = zip(*pairs, strict=True)
        yield Markup("".join(rows)), Markup("".join(ogs))


class _ChunkRows:
    """A chunk's records rows, read again from the table only when printed (``__html__``)."""

    def __init__(self, db: sqlite3.Connection, first: str, last: str) -> None:
        self.db, self.first, self.last = db, first, last

    def __html__(self) -> str:
        cur = self.db.execute(
            "SELECT report_html FROM summaries WHERE suffix BETWEEN ? AND ? ORDER BY suffix",
            (self.first, self.last),
        )
        return next(html_pair_chunks([[text for (text,) in cur]]))[0]

    def __str__(self) -> str:
        return self.__html__()


class ReportRows:
    """``report.rows`` of the HTML report from the summary table: one (records rows, open-graph
    rows) pair per chunk of records, in SUFFIX order.

    The template walks it twice, once for the records table and once for the open-graph table,
    of which it keeps only the second element. The first complete walk notes each chunk's
    open-graph rows and SUFFIX range; a later walk hands back those noted rows, with the records
    rows as a ``_ChunkRows`` that reads its chunk again only if the template prints it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.noted: list[tuple[str, str, Markup]] | None = None

    def __iter__(self) -> Iterator[tuple[Markup | _ChunkRows, Markup]]:
        if self.noted is not None:
            for first, last, og in self.noted:
                yield _ChunkRows(self.db, first, last), og
            return
        noted = []
        cur = self.db.execute("SELECT suffix, report_html FROM summaries ORDER BY suffix")
        while chunk := cur.fetchmany(ROWS):
            suffixes, texts = zip(*chunk, strict=True)
            rows, og = next(html_pair_chunks([list(texts)]))
            noted.append((suffixes[0], suffixes[-1], og))
            yield rows, og
        self.noted = noted


def verification_pages(ctx: SiteContext) -> Iterable[StreamedFile]:
    """The verification report, JSON and HTML, streamed in SUFFIX order."""
    from generator.build import _ordered, _report_head, _report_records

    head = _report_head(ctx.config, ctx.keyring, len(ctx.records), ctx.failures, ctx.build_time)
    records = ctx.records

    Rows = Iterable[tuple[Markup | _ChunkRows, Markup]]
    if isinstance(records, SummaryStore):
        db = records.db

        def json_chunks() -> Iterable[bytes]:
            return report_json_blobs(head, _column_chunks(db, "CAST(report AS BLOB)"))

        def html_rows() -> Rows:
            return ReportRows(db)  # walked twice by the template: a fresh one per page

    else:

        def json_chunks() -> Iterable[bytes]:
            entries = _report_records(_ordered(records, "suffix"))
            return report_text_chunks(head, (report_text(e) for e in entries))

        def record_rows() -> Iterator[tuple[Markup, Markup]]:
            for s in _ordered(records, "suffix"):
                row, og = ctx.renderer.report_rows(report_entry(s))
                yield Markup(row), Markup(og)

        def html_rows() -> Rows:
            return Reiterable(record_rows)

    def html_chunks() -> Iterable[bytes]:
        report = {**head, "rows": html_rows()}
        return page_chunks(ctx.renderer, "verification.html", "verification/index.html", report=report)

    return [
        StreamedFile("verification.json", json_chunks),
        StreamedFile("verification/index.html", html_chunks),
    ]
