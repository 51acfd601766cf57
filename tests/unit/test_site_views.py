"""The SQL views that listings and the resolver read (``SummaryStore.alias_groups``,
``short_numbers``, ``listing_keys``, ``list_items_of``): the same rows, in the same order, as the
summaries give when sorted in Python, read from indexes alone; and the cached pages made from
them have the same keys and bytes as those made from a plain list."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Iterator, Sequence

import pytest

from generator.columns import text_sha256
from generator.config import Config
from generator.errors import OutputError
from generator.keyring import load_keyring
from generator.render import listings, resolve, search
from generator.render.cached import CachedPage, KeptTree
from generator.render.site import OutputFile, RecordSummary, Renderer
from generator.summaries import SummaryStore, add_pending, connect, settle

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
RENDERER = Renderer(Config(page_size=3), load_keyring(()))
IDS = ["2301.01234", "2301.01299", "2301.1", "2312.99999", "cs/0004010", "math.AG/0101001", "math/0101999"]


def _summary(i: int, rng: random.Random, short8: str | None = None) -> RecordSummary:
    suffix = (short8 or "".join(rng.choice(B32) for _ in range(8))) + "".join(
        rng.choice(B32) for _ in range(18)
    )
    arxiv_id = rng.choice(IDS)
    if arxiv_id == "2301.1":
        arxiv_id = f"2301.{rng.randrange(10000, 99999)}"
    return RecordSummary(
        suffix=suffix,
        pith_number=f"pith:2026:{suffix}",
        arxiv_id=arxiv_id,
        version=rng.choice([1, 2, 10, 11]),
        title=f"Title {i} <b>",
        authors="A. Müller",
        # few distinct times, so that ties (broken by SUFFIX) occur
        submitted_at=f"2025-{rng.choice(['01', '02', '11'])}-0{rng.randrange(1, 3)}T00:00:00Z",
        primary_cat=rng.choice(["cs.LG", "hep-th", "math.AG"]),
        canonical_sha256=f"{i:064x}",
        raw_sha256=f"{i + 1:064x}",
        key_id="k",
        key_fingerprint="f" * 32,
        signed_at=None,
        where=f"in/{i}.json",
        checks=(("receipt", "verified", "ok"),),
        outputs=(f"pith/{suffix}.json", f"pith/{suffix}/index.html"),
    )


def _store(summaries: Iterable[RecordSummary]) -> SummaryStore:
    db = connect(None)
    for seq, s in enumerate(summaries):
        add_pending(db, seq, s, f"key{seq}", data_of=lambda rel: b"{}", renderer=RENDERER)
    assert settle(db, strict=False).failures == []
    return SummaryStore(db)


def _records(n: int, seed: int) -> list[RecordSummary]:
    rng = random.Random(seed)
    out = [_summary(i, rng) for i in range(n)]
    out += [_summary(n + i, rng, short8="AAAAAAAA") for i in range(3)]  # a shared short number
    return out


@pytest.fixture(scope="module")
def records() -> list[RecordSummary]:
    return _records(60, 5)


@pytest.fixture(scope="module")
def store(records: list[RecordSummary]) -> SummaryStore:
    return _store(records)


def test_alias_views_are_sorted_like_the_summaries(records: list[RecordSummary], store: SummaryStore) -> None:
    expected = sorted((s.arxiv_id, s.version, s.pith_number) for s in records)
    assert any(v == 10 for _a, v, _p in expected)  # versions order as numbers: 2 before 10
    groups = list(store.alias_groups())
    assert [row[1:] for row in groups] == expected
    assert [row[0] for row in groups] == [resolve._prefix(a) for a, _v, _p in expected]
    assert {row[0] for row in groups} >= {"cs/0004", "math.AG/0101", "math/0101", "2301.01"}
    shorts = sorted((s.suffix[:8], s.suffix, s.pith_number) for s in records)
    assert list(store.short_numbers()) == [(short8, pith) for short8, _suffix, pith in shorts]


def test_listing_views_are_sorted_like_the_summaries(
    records: list[RecordSummary], store: SummaryStore
) -> None:
    newest = sorted(records, key=lambda s: (s.submitted_at, s.suffix), reverse=True)
    digest = {s.suffix: text_sha256(RENDERER.record_row(s)) for s in records}
    assert list(store.listing_keys()) == [
        (s.primary_cat, s.submitted_at, s.suffix, digest[s.suffix]) for s in newest
    ]
    assert len({s.submitted_at for s in records}) < len(records)  # ties occur
    some = [s.suffix for s in records[5:9]] + ["A" * 26]
    assert store.list_items_of(some) == {s.suffix: RENDERER.record_row(s) for s in records[5:9]}


@pytest.mark.parametrize(
    "view", ["alias_groups", "short_numbers", "listing_keys", "resolver_entries", "search documents"]
)
def test_views_read_an_index_alone(store: SummaryStore, view: str) -> None:
    """A view that visits every record reads a covering index, never the wide summary rows."""
    import re

    captured: list[str] = []
    store.db.set_trace_callback(captured.append)
    try:
        if view == "search documents":
            list(search._with_terms(store))
        else:
            list(getattr(store, view)())
    finally:
        store.db.set_trace_callback(None)
    (sql,) = captured
    plan = " ".join(str(row[3]) for row in store.db.execute("EXPLAIN QUERY PLAN " + sql))
    assert re.fullmatch(r"SCAN summaries USING COVERING INDEX \w+( USE TEMP B-TREE FOR ORDER BY)?", plan), (
        plan
    )


def _made(files: Iterable[OutputFile | CachedPage | KeptTree]) -> dict[str, tuple[str | None, bytes]]:
    out: dict[str, tuple[str | None, bytes]] = {}
    for f in files:
        if isinstance(f, CachedPage):
            out[f.dest_path] = (f.key, f.render().data)
        else:
            assert isinstance(f, OutputFile), f  # nothing here keeps a previous build's tree
            out[f.dest_path] = (None, f.data)
    return out


def test_cached_pages_from_store_equal_those_from_a_list(
    records: list[RecordSummary], store: SummaryStore
) -> None:
    def listed(r: Sequence[RecordSummary]) -> Iterator[OutputFile | CachedPage | KeptTree]:
        return listings.build_listings(RENDERER, r, "2026-01-01T00:00:00Z")

    for build in (resolve.build_resolve, listed):
        from_store, from_list = _made(build(store)), _made(build(list(store)))
        # the resolver's marker is a cached page (keyed by the digest of every entry) only when
        # built from a build's database, which can tell whether the previous build wrote it
        marker = from_store.pop(resolve.SHARDS, None)
        if marker is not None:
            assert marker == (resolve.shards_digest(store), from_list.pop(resolve.SHARDS)[1])
            assert resolve.shards_digest(store) == resolve.shards_digest(list(store))
        assert from_store == from_list
        assert sum(key is not None for key, _data in from_store.values()) > 10


def test_keys_change_with_what_a_page_shows(records: list[RecordSummary], store: SummaryStore) -> None:
    """A new version of one paper changes the keys of its shards and of the listing pages it
    joins or shifts, and of nothing else; the other keys stay."""
    before = _made(resolve.build_resolve(store))
    old = records[7]
    new = dataclasses.replace(old, version=old.version + 1)
    after = _made(resolve.build_resolve(_store([*records[:7], new, *records[8:]])))
    changed = {rel for rel in after if after[rel] != before.get(rel)}
    shard = resolve.arxiv_shard(old.arxiv_id)
    assert changed == {f"resolve/{shard}.json", f"resolve/{shard}.js", resolve.SHARDS}
    assert after[resolve.SHARDS][1] == before[resolve.SHARDS][1]  # its key digests every entry
    assert {rel for rel in after if after[rel][0] != before[rel][0]} == changed

    pages = _made(listings.build_listings(RENDERER, store, "t"))
    title = dataclasses.replace(old, title="Another title")
    again = _made(listings.build_listings(RENDERER, _store([*records[:7], title, *records[8:]]), "t"))
    changed = {rel for rel in again if again[rel] != pages[rel]}
    keyed = {rel for rel in again if again[rel][0] != pages[rel][0]}
    assert keyed == changed - {"index.html"} and len(keyed) == 2  # its category and its month page


def test_a_page_whose_records_changed_under_it_is_refused(store: SummaryStore) -> None:
    listing = listings.category_listing("hep-th")
    page = [(suffix, digest) for cat, _t, suffix, digest in store.listing_keys() if cat == "hep-th"][:3]
    reader = listings._ItemReader(store, cap=10)
    for wrong in ([*page[:2], (page[2][0], "0" * 64)], [*page[:2], ("A" * 26, page[2][1])]):
        made = listings.cached_listing_page(RENDERER, reader, listing, 1, 10, wrong)
        with pytest.raises(OutputError, match="changed"):
            made.render()
    assert listings.cached_listing_page(RENDERER, reader, listing, 1, 10, page).render().data


def test_item_reader_keeps_an_item_until_its_second_page() -> None:
    class Counting:
        def __init__(self) -> None:
            self.read: list[str] = []

        def listing_keys(self) -> Iterator[tuple[str, str, str, str]]:
            return iter(())

        def list_items_of(self, suffixes: Sequence[str]) -> dict[str, str]:
            self.read.extend(suffixes)
            return {s: f"<li>{s}</li>" for s in suffixes if s != "gone"}

    def page(*suffixes: str) -> list[tuple[str, str]]:
        return [(s, text_sha256(f"<li>{s}</li>")) for s in suffixes]

    items = Counting()
    reader = listings._ItemReader(items, cap=3)
    assert reader.rows(page("a", "b")) == ["<li>a</li>", "<li>b</li>"]
    assert reader.rows(page("b", "c")) == ["<li>b</li>", "<li>c</li>"]  # b is kept from the first read
    assert items.read == ["a", "b", "c"] and {s for s, _d in reader.kept} == {"a", "c"}
    reader.rows(page("d", "e"))  # over the cap: the oldest kept item goes
    assert {s for s, _d in reader.kept} == {"c", "d", "e"}
    assert reader.rows(page("a")) == ["<li>a</li>"] and items.read[-1] == "a"
    # an item that is not there, or not the item of its digest, fails the page
    assert reader.rows(page("f", "gone")) is None
    assert reader.rows([("g", text_sha256("<li>other</li>"))]) is None
    assert reader.rows([("c", text_sha256("<li>other</li>"))]) is None  # kept, another digest
