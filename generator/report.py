"""The verification report: ``verification.json`` and ``verification/index.html``, with the
per-record entries in shards by the first two characters of the SUFFIX.

``verification.json`` (report version 2) holds what the build checked against (generator, build
time, upstream, pinned keys), the number of published records, the skipped inputs and the list
of record shards; each shard is ``verification/{PP}.json`` (its records' entries, in SUFFIX
order) with a page ``verification/{PP}.html`` (the records table and the open-graph table of
those records). ``verification/index.html`` shows the head and links every shard page.

At 100,000 records one document with every entry was 220 MB rewritten for any change; a shard
holds about a thousandth of that (up to 1,024 shards), depends only on its own records, and is a
``CachedPage`` keyed by the SHA-256 of its records' stored entries (column ``report_sha256``,
read from an index): an incremental build renders only the shards whose records changed.

Every record's entry (column ``report``) and its rows of the two HTML tables (column
``report_html``, a JSON pair) were made when the record was rendered (``generator.columns``).
A build without a summary table (a plain list of summaries) makes them here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from generator import GENERATOR
from generator.columns import report_entry, report_text, text_sha256
from generator.render.cached import CachedPage, page_key, suffix_shard_keys
from generator.render.site import OutputFile, RecordSummary
from generator.summaries import SummaryStore

if TYPE_CHECKING:
    from generator.build import SiteContext

REPORT_VERSION = "2"
SHARD_LEN = 2
_PLACEHOLDER = "\x00records\x00"


def shard_of(suffix: str) -> str:
    return suffix[:SHARD_LEN]


def shard_json(prefix: str) -> str:
    return f"verification/{prefix}.json"


def shard_html(prefix: str) -> str:
    return f"verification/{prefix}.html"


def report_json_blobs(head: dict[str, Any], texts: Iterable[bytes]) -> Iterator[bytes]:
    """``head`` with ``records`` set to the entries ``texts`` (each as ``report_text`` prints it,
    as UTF-8 bytes): keys sorted, one-space indent, a final newline."""
    doc = dict(head, records=_PLACEHOLDER)
    text = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    before, after = text.split(json.dumps(_PLACEHOLDER, ensure_ascii=False), 1)
    yield before.encode("utf-8")
    items = list(texts)
    yield (b"[\n  " + b",\n  ".join(items) + b"\n ]") if items else b"[]"
    yield after.encode("utf-8")


def shard_head(prefix: str) -> dict[str, Any]:
    return {
        "report_type": "pith_mirror_verification_records",
        "report_version": REPORT_VERSION,
        "generator": GENERATOR,
        "prefix": prefix,
    }


class _Shards:
    """The records of the report by shard: keys, and each shard's entries and HTML rows."""

    def __init__(self, ctx: SiteContext) -> None:
        self.ctx = ctx
        records = ctx.records
        self.db: sqlite3.Connection | None = records.db if isinstance(records, SummaryStore) else None
        self.plain: dict[str, list[tuple[str, tuple[str, str]]]] = {}
        if self.db is None:
            for s in _sorted(records):
                entry = report_entry(s)
                rows = ctx.renderer.report_rows(entry)
                self.plain.setdefault(shard_of(s.suffix), []).append((report_text(entry), rows))

    def shard_keys(self) -> Iterator[tuple[str, int, str]]:
        """(prefix, records, key) of every shard, in prefix order."""
        if self.db is not None:
            yield from suffix_shard_keys(
                self.db, "report", "report_sha256", SHARD_LEN, shard_json, self.ctx.touched
            )
            return
        for prefix, items in sorted(self.plain.items()):
            yield prefix, len(items), page_key("report", prefix, [text_sha256(t) for t, _r in items])

    def items(self, prefix: str) -> list[tuple[str, tuple[str, str]]]:
        """(entry text, (records row, open-graph row)) of the shard's records, in SUFFIX order."""
        if self.db is None:
            return self.plain.get(prefix, [])
        cur = self.db.execute(
            "SELECT suffix, report, report_html FROM summaries WHERE suffix >= ? AND suffix < ? "
            "ORDER BY suffix",
            (prefix, prefix + "~"),
        )
        out = []
        for suffix, text, pair in cur:
            if shard_of(suffix) != prefix:
                raise ValueError(f"{suffix}: not in report shard {prefix}")
            row, og = json.loads(pair)
            out.append((str(text), (str(row), str(og))))
        return out

    def json_file(self, prefix: str) -> OutputFile:
        texts = (text.encode("utf-8") for text, _rows in self.items(prefix))
        return OutputFile(shard_json(prefix), b"".join(report_json_blobs(shard_head(prefix), texts)))

    def html_file(self, prefix: str) -> OutputFile:
        rows = [(Markup(row), Markup(og)) for _text, (row, og) in self.items(prefix)]
        report = {"prefix": prefix, "rows": rows, "json": shard_json(prefix)}
        return self.ctx.renderer.page("verification_shard.html", shard_html(prefix), report=report)


def _sorted(records: Sequence[RecordSummary]) -> list[RecordSummary]:
    return sorted(records, key=lambda s: s.suffix)


def verification_pages(ctx: SiteContext) -> Iterator[OutputFile | CachedPage]:
    """The report's shards (cached pages) and then its head, JSON and HTML."""
    from generator.build import _report_head

    head = _report_head(ctx.config, ctx.keyring, len(ctx.records), ctx.failures, ctx.build_time)
    shards = _Shards(ctx)
    listed = []
    for prefix, count, key in shards.shard_keys():
        yield CachedPage(shard_json(prefix), key, partial(shards.json_file, prefix))
        yield CachedPage(shard_html(prefix), key, partial(shards.html_file, prefix))
        listed.append(
            {"prefix": prefix, "records": count, "json": shard_json(prefix), "html": shard_html(prefix)}
        )
    doc = {**head, "record_shards": listed}
    text = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    yield OutputFile("verification.json", text.encode("utf-8"))
    yield ctx.renderer.page("verification.html", "verification/index.html", report=doc)


def read_report(site: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A built site's report: its head (``verification.json``) and every record's entry, from
    the shards, in SUFFIX order. For programs and tests that want the whole list."""
    head = json.loads((site / "verification.json").read_bytes())
    records: list[dict[str, Any]] = []
    for shard in head["record_shards"]:
        records.extend(json.loads((site / shard["json"]).read_bytes())["records"])
    return head, records
