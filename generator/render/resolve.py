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

import functools
import hashlib
import itertools
import json
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence

from generator import paths
from generator.errors import OutputError
from generator.identifiers import NEW_ARXIV_RE, OLD_ARXIV_RE, SHORT8_RE
from generator.render.cached import CachedPage, KeptTree, marker, previous_key
from generator.render.records import rows, shared_short_numbers
from generator.render.site import OutputFile, RecordSummary, Renderer

SHARDS = "resolve/shards.js"

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


def shard_key(name: str, entries: Sequence[tuple[str | int, ...]]) -> str:
    """The cache key of a shard: SHA-256 over its name and its entries (tuples of strings and
    integers, whose ``repr`` is exact), everything the shard shows."""
    return hashlib.sha256(repr(("resolve", name, entries)).encode("utf-8", "surrogatepass")).hexdigest()


def _cached_shard(
    name: str, entries: Sequence[tuple[str | int, ...]], make: Callable[[], dict[str, object]]
) -> tuple[CachedPage, CachedPage]:
    """A shard's ``.json`` and ``.js`` files as ``CachedPage``s keyed by ``entries``; ``make``
    gives the shard's data when it is rendered."""
    key = shard_key(name, entries)
    rel = paths.safe_rel(f"resolve/{name}.json")
    return (
        CachedPage(rel, key, lambda: _shard_files(name, make())[0]),
        CachedPage(rel.removesuffix("on"), key, lambda: _shard_files(name, make())[1]),
    )


def _alias_groups(records: Sequence[RecordSummary]) -> Iterator[tuple[str, str, int, str]]:
    """(shard prefix, arXiv id, version, pith number) of every record, sorted by id, version and
    pith number (see ``SummaryStore.alias_groups``)."""
    view = getattr(records, "alias_groups", None)
    if callable(view):
        stored: Iterator[tuple[str, str, int, str]] = view()
        return stored
    return (
        (_prefix(a), a, v, p)
        for a, v, p in _sorted_aliases((s.arxiv_id, s.version, s.pith_number) for s in rows(records))
    )


def _prefix(arxiv_id: str) -> str:
    """The part of an arXiv id that names its shard (the SQL of ``SummaryStore.alias_groups``)."""
    slash = arxiv_id.find("/")
    return arxiv_id[: slash + 5] if slash >= 0 else arxiv_id[:7]


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


def _arxiv_data(name: str, group: list[tuple[str, str, int, str]]) -> dict[str, object]:
    entries: dict[str, list[list[object]]] = {}
    for _shard_prefix, arxiv_id, version, pith in group:
        if arxiv_shard(arxiv_id) != name:
            raise OutputError(f"arXiv id {arxiv_id[:60]!r} does not belong in resolve shard {name}")
        entries.setdefault(arxiv_id, []).append([version, pith])
    return dict(entries)


def _short_data(name: str, group: list[tuple[str, str]]) -> dict[str, object]:
    shorts: dict[str, list[str]] = {}
    for short8, pith in group:
        if short_shard(short8) != name:
            raise OutputError(f"short number {short8[:60]!r} does not belong in resolve shard {name}")
        shorts.setdefault(short8, []).append(pith)
    return {k: sorted(v) for k, v in shorts.items()}


def shards_digest(records: Sequence[RecordSummary]) -> str:
    """The key of ``resolve/shards.js``: SHA-256 over the layout and, in SUFFIX order, every
    record's (SHORT8, SUFFIX, pith number, arXiv id, version): everything the shards show (they
    are a function of these entries), in one read of an index for a build's records."""
    h = hashlib.sha256(repr(("resolve", LAYOUT)).encode())
    view = getattr(records, "resolver_entries", None)
    entries: Iterable[tuple[str | int, ...]] = (
        view()
        if callable(view)
        else ((s.suffix[:8], s.suffix, s.pith_number, s.arxiv_id, s.version) for s in rows(records))
    )
    for entry in entries:
        h.update(repr(tuple(entry)).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def build_resolve(
    records: Sequence[RecordSummary], *, unchanged: bool = False
) -> Iterator[OutputFile | CachedPage | KeptTree]:
    """Every shard, streamed in id order from an index (``SummaryStore.alias_groups``,
    ``short_numbers``), as ``CachedPage``s keyed by the shard's entries: a shard whose entries
    did not change is kept, neither serialised nor hashed. Ids are checked against their shard
    when the shard is rendered. When the previous build's ``resolve/shards.js`` has the digest
    of every entry (``shards_digest``), nothing changed: only ``KeptTree("resolve/")``. With
    ``unchanged`` (the build knows that every entry is the previous build's:
    ``SiteContext.unchanged``), a ``resolve/shards.js`` of the previous build is taken to
    have it, and the digest is not made."""
    previous = previous_key(records, SHARDS)
    if previous is not None and unchanged:
        yield KeptTree("resolve/")
        return
    digest = shards_digest(records) if previous is not None else None
    if digest is not None and digest == previous:
        yield KeptTree("resolve/")
        return
    yield OutputFile("resolve/index.json", (json.dumps(LAYOUT, indent=1, sort_keys=True) + "\n").encode())
    names: list[str] = []
    for _shard_prefix, alias_group in itertools.groupby(_alias_groups(records), key=operator.itemgetter(0)):
        group = list(alias_group)
        name = arxiv_shard(group[0][1])
        names.append(name)
        yield from _cached_shard(name, group, functools.partial(_arxiv_data, name, group))
    for _first2, short_group in itertools.groupby(_short_numbers(records), key=lambda r: r[0][:2]):
        shorts = list(short_group)
        name = short_shard(shorts[0][0])
        names.append(name)
        yield from _cached_shard(name, shorts, functools.partial(_short_data, name, shorts))
    if len(set(names)) != len(names):
        raise OutputError("resolve shards are not consecutive in id order")
    made = OutputFile(SHARDS, f"PithResolve.shards({_dump(sorted(names))});\n".encode())
    yield marker(records, made, lambda: digest or shards_digest(records))


def short_redirects(renderer: Renderer, records: Sequence[RecordSummary]) -> Iterator[OutputFile]:
    """``pith/{SHORT8}/index.html`` for short numbers shared by several records (a choice page);
    a short number with one record gets its redirect from the record's own render."""
    for short8, group in shared_short_numbers(records):
        targets = [(s.suffix, s.title) for s in sorted(group, key=lambda s: s.suffix)]
        yield renderer.page("paper.html", paths.short_page(short8), short8=short8, targets=targets)
