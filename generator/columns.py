"""What site-wide steps need of each record, computed once, where the record is rendered.

A site-wide step (listings, search, resolver, report, mirror index) visits every record. Decoding
a full ``RecordSummary`` and re-deriving the same text for each record on every build made those
steps the slowest part of a large build and of every incremental rebuild. Instead the worker that
renders a record also prepares its *columns*, which the build keeps beside the summary (and an
incremental build carries unchanged with the record):

``row``
    the record's display fields as compact JSON (``Row``): listings, feeds, resolver, search
    documents and the sitemap read these instead of whole summaries.
``report``
    its entry of ``verification.json``, already serialised exactly as the report prints it.
``mindex``
    its entry of the mirror index (``generator.mirror_index``), serialised.
``terms``
    its search terms (``generator.render.search.doc_terms``), space-separated.
``report_html``
    its rows of the HTML report's tables (``Renderer.report_rows``).
``list_html``
    its item in the home page's and the listings' lists of records (``Renderer.record_row``).
``search_doc``
    its document in the search index's document shards, serialised.
``list_sha256``, ``report_sha256``, ``mindex_sha256``
    the SHA-256 of ``list_html``, of ``report`` and of ``mindex``: the cache keys of listing
    pages, of the report's shards and of the mirror index's shards are made from these, so an
    unchanged page is recognised from an index without reading its items.
``primary_cat``, ``arxiv_id``, ``short8``, ``version``, ``pith_number``
    plain values, so that listings and the resolver can group and order records in SQL (from
    indexes that hold them: ``generator.summaries.SCHEMA``).

Each column is produced by the same function a step would otherwise call, so a build from
columns and a build from summaries give the same bytes (tests compare them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from generator.render.site import RecordSummary
from generator.streamed import dumps_indented


class Row(NamedTuple):
    """A record's display fields: the same names as ``RecordSummary``'s."""

    suffix: str
    pith_number: str
    arxiv_id: str
    version: int
    title: str
    authors: str
    submitted_at: str
    primary_cat: str
    signed_at: str | None
    cross_cats: tuple[str, ...]


class Columns(NamedTuple):
    data: bytes  # the summary itself (summaries.summary_to_json)
    row: str
    report: str
    mindex: str
    terms: str
    report_html: str  # JSON: [its row of the report's table, its row of the open-graph table]
    list_html: str  # its item in lists of records (Renderer.record_row)
    search_doc: str  # its document in the search index (search.doc_text)
    primary_cat: str  # these are plain SQL columns, for grouping and ordering in SQL
    arxiv_id: str
    short8: str
    version: int
    pith_number: str
    list_sha256: str  # SHA-256 of list_html (listing pages' cache keys)
    report_sha256: str  # SHA-256 of report (report shards' cache keys)
    mindex_sha256: str  # SHA-256 of mindex (mirror-index shards' cache keys)


# the stored columns, in table order (summaries.SCHEMA, incremental.carry_records)
COLUMN_NAMES = Columns._fields
TEXT_COLUMNS = frozenset(COLUMN_NAMES) - {"data", "version"}
# SQL types of the columns that are not TEXT
COLUMN_TYPES = {"data": "BLOB", "version": "INTEGER"}


def row_of(s: RecordSummary | Row) -> Row:
    """The display fields of a summary (``Row`` names a subset of ``RecordSummary``'s fields)."""
    if isinstance(s, Row):
        return s
    values = {name: getattr(s, name) for name in Row._fields}
    return Row(**{**values, "cross_cats": tuple(s.cross_cats)})


def row_text(row: Row) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def row_from_text(text: str) -> Row:
    v = json.loads(text)
    return Row(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], tuple(v[9]))


def report_entry(s: RecordSummary) -> dict[str, Any]:
    """A record's entry in the verification report."""
    return {
        "suffix": s.suffix,
        "pith_number": s.pith_number,
        "arxiv_id": s.arxiv_id,
        "canonical_sha256": s.canonical_sha256,
        "record_copy_sha256": s.raw_sha256,
        "key_id": s.key_id,
        "key_fingerprint": s.key_fingerprint,
        "signed_at": s.signed_at,
        "checks": [{"name": n, "status": st, "detail": d} for n, st, d in s.checks],
        "open_graph": [
            {"document": kind, "status": status, "codes": list(codes)} for kind, status, codes in s.open_graph
        ],
        **({"notes": list(s.notes)} if s.notes else {}),
    }


def report_text(entry: Mapping[str, Any]) -> str:
    """An entry as ``verification.json`` prints it (indented as a member of ``records``)."""
    return dumps_indented(dict(entry), 1, 2)


def compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def columns(
    s: RecordSummary,
    data_of: Callable[[str], bytes],
    *,
    encode: Callable[[RecordSummary], bytes],
    report_rows: Callable[[dict[str, Any]], tuple[str, str]],
    record_row: Callable[[Row], str],
) -> Columns:
    """Every column of one record; ``data_of(rel)`` gives the bytes of one of its outputs."""
    from generator.mirror_index import record_entry
    from generator.render.search import doc_text, terms_text

    row = row_of(s)
    report = report_entry(s)
    report_json = report_text(report)
    list_html = record_row(row)
    entry = record_entry(s.suffix, s.pith_number, s.arxiv_id, s.canonical_sha256, s.outputs, data_of)
    mindex = compact(entry)
    return Columns(
        data=encode(s),
        row=row_text(row),
        report=report_json,
        mindex=mindex,
        terms=terms_text(row),
        report_html=json.dumps(report_rows(report), ensure_ascii=False),
        list_html=list_html,
        search_doc=doc_text(row),
        primary_cat=s.primary_cat,
        arxiv_id=s.arxiv_id,
        short8=s.suffix[:8],
        version=s.version,
        pith_number=s.pith_number,
        list_sha256=text_sha256(list_html),
        report_sha256=text_sha256(report_json),
        mindex_sha256=text_sha256(mindex),
    )


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def data_reader(files: Iterable[tuple[str, bytes]]) -> Callable[[str], bytes]:
    by_path = dict(files)
    return by_path.__getitem__
