"""Home page and listings: by primary category and by month of submission, paginated.

Every record is on exactly one page of its category and one page of its month, newest first,
and every listing page links to its first, last and nearby pages, so any record is a few
clicks from the home page. Pages are produced one at a time (a generator): at no point is more
than one page's HTML in memory.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from generator import paths
from generator.columns import text_sha256
from generator.errors import OutputError
from generator.identifiers import CATEGORY_RE
from generator.render.cached import CachedPage, KeptTree, page_key
from generator.render.records import newest_rows, rows
from generator.render.site import OutputFile, RecordSummary, Renderer

RECENT = 20
PAGER_WINDOW = 2


@dataclass(frozen=True)
class Listing:
    """One paginated listing: ``base`` is its folder (``browse/cat/cs.LG``)."""

    base: str
    heading: str
    kind: str
    name: str

    def page_path(self, n: int) -> str:
        return paths.safe_rel(f"{self.base}/index.html" if n == 1 else f"{self.base}/page/{n}/index.html")


def category_listing(cat: str) -> Listing:
    if CATEGORY_RE.fullmatch(cat) is None:
        raise OutputError(f"refusing listing for invalid category {cat[:60]!r}")
    return Listing(f"browse/cat/{cat}", f"Category {cat}", "category", cat)


def month_listing(year_month: str) -> Listing:
    year, month = year_month[:4], year_month[5:7]
    if not (year.isdigit() and month.isdigit() and len(year_month) == 7):
        raise OutputError(f"refusing listing for invalid month {year_month[:60]!r}")
    return Listing(f"browse/date/{year}/{month}", f"Submitted in {year}-{month}", "month", year_month)


def pager(n: int, pages: int) -> list[int | None]:
    """Page numbers to show: first, last, and a window around ``n``; None marks a gap."""
    shown = sorted({1, pages, *range(max(1, n - PAGER_WINDOW), min(pages, n + PAGER_WINDOW) + 1)})
    out: list[int | None] = []
    for i, p in enumerate(shown):
        if i and p - shown[i - 1] > 1:
            out.append(None)
        out.append(p)
    return out


def _pages(count: int, size: int) -> int:
    return max(1, -(-count // size))


def render_listing_page(
    renderer: Renderer, listing: Listing, rows: list[str], n: int, total: int
) -> OutputFile:
    """``rows`` are the page's records as made by ``Renderer.record_row``."""
    size = renderer.config.page_size
    pages = _pages(total, size)
    path = listing.page_path(n)
    return renderer.page(
        "listing.html",
        path,
        listing=listing,
        rows=renderer.placed_rows(path, rows),
        page_no=n,
        pages=pages,
        total=total,
        first_no=(n - 1) * size + 1,
        pager=[(p, listing.page_path(p) if p else "") for p in pager(n, pages)],
        prev_path=listing.page_path(n - 1) if n > 1 else None,
        next_path=listing.page_path(n + 1) if n < pages else None,
    )


def all_listings(records: Sequence[RecordSummary]) -> list[tuple[Listing, int]]:
    """Every category and month listing with its number of records, in a stable order."""
    view = getattr(records, "listing_counts", None)
    if callable(view):
        cats, months = view()
    else:
        cats, months = Counter(), Counter()
        for s in rows(records):
            cats[s.primary_cat] += 1
            months[s.submitted_at[:7]] += 1
    return [(category_listing(c), n) for c, n in sorted(cats.items())] + [
        (month_listing(m), n) for m, n in sorted(months.items())
    ]


class ListingItems(Protocol):
    """What listing pages need of the records (``SummaryStore`` has these views)."""

    def listing_keys(self) -> Iterator[tuple[str, str, str, str]]: ...

    def list_items_of(self, suffixes: Sequence[str]) -> dict[str, str]: ...


class _PlainItems:
    """``ListingItems`` of a plain list of summaries: the items made now and held in memory."""

    def __init__(self, renderer: Renderer, records: Sequence[RecordSummary]) -> None:
        self.newest = [(row, renderer.record_row(row)) for row in newest_rows(records)]
        self.items = {row.suffix: html for row, html in self.newest}

    def listing_keys(self) -> Iterator[tuple[str, str, str, str]]:
        for row, html in self.newest:
            yield row.primary_cat, row.submitted_at, row.suffix, text_sha256(html)

    def list_items_of(self, suffixes: Sequence[str]) -> dict[str, str]:
        return {s: self.items[s] for s in suffixes if s in self.items}


def _items_of(renderer: Renderer, records: Sequence[RecordSummary]) -> ListingItems:
    if callable(getattr(records, "listing_keys", None)) and callable(getattr(records, "list_items_of", None)):
        return cast(ListingItems, records)
    return _PlainItems(renderer, records)


def _newest_items(
    renderer: Renderer, records: Sequence[RecordSummary], limit: int
) -> list[tuple[str, str, str]]:
    """The ``limit`` newest records' (primary category, submission time, list item); the item
    is stored with the record, or made now."""
    view = getattr(records, "list_items", None)
    if callable(view):
        return list(view(limit))
    newest = itertools.islice(newest_rows(records), limit)
    return [(row.primary_cat, row.submitted_at, renderer.record_row(row)) for row in newest]


class _ItemReader:
    """Reads the list items of pages being rendered. Every record is on two pages (its category
    and its month), which a newest-first pass yields close together when both are rendered (a
    clean build): an item read for one page is kept until the other has used it, up to ``cap``
    items (the oldest go first; a later page then reads it again). An item is checked against its
    digest when it is read."""

    def __init__(self, items: ListingItems, cap: int) -> None:
        self.items = items
        self.cap = cap
        self.kept: dict[tuple[str, str], str] = {}

    def rows(self, page: Sequence[tuple[str, str]]) -> list[str] | None:
        """The items of ``page`` ((SUFFIX, digest of the item) each), or None when one is
        missing or is not the item of that digest."""
        missing = [s for s, digest in page if (s, digest) not in self.kept]
        found: dict[str, str] = {}
        for start in range(0, len(missing), 400):
            found.update(self.items.list_items_of(missing[start : start + 400]))
        fresh = {(s, digest): found[s] for s, digest in page if s in found}
        if any(text_sha256(html) != digest for (_s, digest), html in fresh.items()):
            return None
        rows: list[str] = []
        for entry in page:
            row = self.kept.pop(entry) if entry in self.kept else fresh.get(entry)
            if row is None:
                return None
            rows.append(row)
        self.kept.update(fresh)
        while len(self.kept) > self.cap:
            del self.kept[next(iter(self.kept))]
        return rows


def cached_listing_pages(
    renderer: Renderer, items: ListingItems, listings: list[tuple[Listing, int]]
) -> Iterator[CachedPage]:
    """Every page of every listing, as ``CachedPage``s, from one newest-first pass that fills a
    buffer per listing and yields a page as soon as its buffer is full (memory: one page per
    listing). A page's key is made from the digests of its records' list items
    (``columns.list_sha256``), read from an index; the items themselves are read only for a
    page that is rendered."""
    size = renderer.config.page_size
    by_cat = {lst.name: (lst, n) for lst, n in listings if lst.kind == "category"}
    by_month = {lst.name: (lst, n) for lst, n in listings if lst.kind == "month"}
    buffers: dict[str, list[tuple[str, str]]] = defaultdict(list)
    page_no: dict[str, int] = defaultdict(lambda: 1)
    reader = _ItemReader(items, cap=max(20_000, 2 * size * len(listings)))
    for cat, submitted_at, suffix, digest in items.listing_keys():
        for listing, total in (by_cat[cat], by_month[submitted_at[:7]]):
            buf = buffers[listing.base]
            buf.append((suffix, digest))
            if len(buf) == size:
                yield cached_listing_page(renderer, reader, listing, page_no[listing.base], total, buf)
                page_no[listing.base] += 1
                buffers[listing.base] = []
    for listing, total in sorted(listings, key=lambda lt: lt[0].base):
        if buffers[listing.base] or total == 0:
            yield cached_listing_page(
                renderer, reader, listing, page_no[listing.base], total, buffers[listing.base]
            )


def cached_listing_page(
    renderer: Renderer, reader: _ItemReader, listing: Listing, n: int, total: int, page: list[tuple[str, str]]
) -> CachedPage:
    """Page ``n`` of a listing of ``total`` records; ``page`` holds its records' (SUFFIX, digest
    of the list item), newest first. The page shows its records' items, its number and the
    listing's size: nothing else that can change between builds with one render fingerprint."""
    digests = [digest for _suffix, digest in page]
    key = page_key("listing", listing.base, listing.heading, n, total, renderer.config.page_size, digests)

    def make() -> OutputFile:
        rows = reader.rows(page)
        if rows is None:
            raise OutputError(f"{listing.page_path(n)}: the listing's records changed while it was written")
        return render_listing_page(renderer, listing, rows, n, total)

    return CachedPage(listing.page_path(n), key, make)


def build_listings(
    renderer: Renderer, records: Sequence[RecordSummary], build_time: str, *, unchanged: bool = False
) -> Iterator[OutputFile | CachedPage | KeptTree]:
    """The home page, ``browse/`` and every listing page (as ``CachedPage``s, keyed from an
    index: see ``cached_listing_pages``). Memory: one page per listing. With ``unchanged`` (every
    record's category, time and list item are the previous build's, so is every listing page:
    ``SiteContext.unchanged``), the listing pages are a ``KeptTree("browse/")`` and no key is
    made."""
    listings = all_listings(records)
    cats = [(lst.name, n, lst.page_path(1)) for lst, n in listings if lst.kind == "category"]
    years: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for listing, count in listings:
        if listing.kind == "month":
            year, month = listing.name.split("-")
            years[year].append((month, count, listing.page_path(1)))
    year_rows = [(y, sum(c for _, c, _ in ms), ms) for y, ms in sorted(years.items(), reverse=True)]
    recent = _newest_items(renderer, records, RECENT)
    oldest = next(rows(records, "submitted_at"), None)
    yield renderer.page(
        "index.html",
        paths.index_page(1),
        total=len(records),
        recent=renderer.placed_rows(paths.index_page(1), [html for _cat, _time, html in recent]),
        build_time=build_time,
        categories=sorted(cats, key=lambda c: (-c[1], c[0]))[:12],
        category_count=len(cats),
        newest=recent[0][1][:10] if recent else None,
        oldest=oldest.submitted_at[:10] if oldest else None,
    )
    yield renderer.page(
        "browse.html", "browse/index.html", total=len(records), categories=cats, years=year_rows
    )
    if unchanged:
        yield KeptTree("browse/")
        return
    yield from cached_listing_pages(renderer, _items_of(renderer, records), listings)
