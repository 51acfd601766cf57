"""Resolve without a server: static alias shards, the ``/resolve/`` page and short-number redirects.

Shards (each as ``.json`` for programs and as ``.js`` for the resolver page, which must also work
from ``file://``):

``resolve/arxiv/{YYMM}/{NN}.json``
    new-style arXiv ids ``YYMM.NNNN[N]``: ``NN`` is the first two digits of the number, so one
    shard holds at most 1,000 papers. ``{"2301.01234": [[version, pith_number], ...]}``, versions
    ascending. The DOI ``10.48550/arxiv.{id}`` and ``{id}v{N}`` resolve through the same entry.
``resolve/arxiv/{archive}/{YYMM}.json``
    old-style ids ``archive/YYMMNNN`` (``cs/0004010``); the archive keeps its case and subject class.
``resolve/pith/{XX}.json``
    short numbers: ``XX`` is the first two characters of the SHORT8; ``{"SHORT8": [pith_number, ...]}``
    (more than one when records share a short number).
``resolve/index.json``
    the layout above, machine-readable.

A long Pith number ``pith:YYYY:SUFFIX`` needs no lookup: the record is at ``pith/{SUFFIX}/``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

from generator import paths
from generator.errors import OutputError
from generator.identifiers import NEW_ARXIV_RE, OLD_ARXIV_RE, SHORT8_RE
from generator.render.records import rows, shared_short_numbers
from generator.render.site import OutputFile, RecordSummary, Renderer

LAYOUT = {
    "layout": "pith-mirror-resolve",
    "version": 1,
    "arxiv_new": "resolve/arxiv/{yymm}/{nn}.json",
    "arxiv_old": "resolve/arxiv/{archive}/{yymm}.json",
    "short_number": "resolve/pith/{short8_first2}.json",
    "record_page": "pith/{suffix}/",
    "record_json": "pith/{suffix}.json",
    "notes": (
        "arxiv shards map an arXiv id without version to [[version, pith_number], ...]; "
        "pith shards map SHORT8 to [pith_number, ...]; the SUFFIX is the part after the last ':'. "
        "Each .json shard has a .js twin for browsers (PithResolve.add(shard, data))."
    ),
}


def arxiv_shard(arxiv_id: str) -> str:
    """The shard name (path under ``resolve/`` without extension) for an arXiv id."""
    if NEW_ARXIV_RE.fullmatch(arxiv_id):
        yymm, number = arxiv_id.split(".")
        return f"arxiv/{yymm}/{number[:2]}"
    if OLD_ARXIV_RE.fullmatch(arxiv_id):
        archive, number = arxiv_id.split("/")
        return f"arxiv/{archive}/{number[:4]}"
    raise OutputError(f"refusing resolve shard for invalid arXiv id {arxiv_id[:60]!r}")


def short_shard(short8: str) -> str:
    if SHORT8_RE.fullmatch(short8) is None:
        raise OutputError(f"refusing resolve shard for invalid short number {short8[:60]!r}")
    return f"pith/{short8[:2]}"


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def _shard_files(name: str, data: dict[str, object]) -> list[OutputFile]:
    body = _dump(data)
    return [
        OutputFile(paths.safe_rel(f"resolve/{name}.json"), (body + "\n").encode()),
        OutputFile(
            paths.safe_rel(f"resolve/{name}.js"), f"PithResolve.add({_dump(name)},{body});\n".encode()
        ),
    ]


def _aliases(records: Sequence[RecordSummary]) -> Iterator[tuple[str, int, str]]:
    """(arXiv id, version, pith number) of every record, sorted. A shard's ids share a prefix
    (``2301.01``, ``cs/0004``), so each shard's ids are consecutive in this order."""
    view = getattr(records, "aliases", None)
    if callable(view):
        stored: Iterator[tuple[str, int, str]] = view()
        return stored
    return _sorted_aliases((s.arxiv_id, s.version, s.pith_number) for s in rows(records))


def _sorted_aliases(aliases: Iterable[tuple[str, int, str]]) -> Iterator[tuple[str, int, str]]:
    """Sorted through a private temporary SQLite table (memory stays flat)."""
    db = sqlite3.connect("")
    try:
        db.execute("CREATE TABLE alias (id TEXT, version INTEGER, pith TEXT)")
        db.executemany("INSERT INTO alias VALUES (?, ?, ?)", aliases)
        yield from db.execute("SELECT id, version, pith FROM alias ORDER BY id, version, pith")
    finally:
        db.close()


def _short_numbers(records: Sequence[RecordSummary]) -> Iterator[tuple[str, str]]:
    """(SHORT8, pith number) of every record, in SHORT8 order."""
    view = getattr(records, "short_numbers", None)
    if callable(view):
        stored: Iterator[tuple[str, str]] = view()
        return stored
    return ((s.suffix[:8], s.pith_number) for s in rows(records, "short8"))


def build_resolve(records: Sequence[RecordSummary]) -> Iterator[OutputFile]:
    """Every shard, streamed: short-number shards from one pass in SHORT8 order; arXiv shards
    through a private temporary SQLite table sorted by shard (memory stays flat)."""
    yield OutputFile("resolve/index.json", (json.dumps(LAYOUT, indent=1, sort_keys=True) + "\n").encode())
    names: list[str] = []
    for name, group in itertools.groupby(_aliases(records), key=lambda r: arxiv_shard(r[0])):
        entries: dict[str, list[list[object]]] = {}
        for arxiv_id, version, pith in group:
            entries.setdefault(arxiv_id, []).append([version, pith])
        names.append(name)
        yield from _shard_files(name, dict(entries))
    short_rows = ((short_shard(short8), short8, pith) for short8, pith in _short_numbers(records))
    for name, short_group in itertools.groupby(short_rows, key=lambda r: r[0]):
        shorts: dict[str, list[str]] = {}
        for _shard, short8, pith in short_group:
            shorts.setdefault(short8, []).append(pith)
        names.append(name)
        yield from _shard_files(name, {k: sorted(v) for k, v in shorts.items()})
    yield OutputFile("resolve/shards.js", f"PithResolve.shards({_dump(sorted(names))});\n".encode())


def short_redirects(renderer: Renderer, records: Sequence[RecordSummary]) -> Iterator[OutputFile]:
    """``pith/{SHORT8}/index.html`` for short numbers shared by several records (a choice page);
    a short number with one record gets its redirect from the record's own render."""
    for short8, group in shared_short_numbers(records):
        targets = [(s.suffix, s.title) for s in sorted(group, key=lambda s: s.suffix)]
        yield renderer.page("paper.html", paths.short_page(short8), short8=short8, targets=targets)
