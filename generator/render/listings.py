"""Home page and listings: by primary category and by month of submission, paginated.

Every record is on exactly one page of its category and one page of its month, newest first,
and every listing page links to its first, last and nearby pages, so any record is a few
clicks from the home page. Pages are produced one at a time (a generator): at no point is more
than one page's HTML in memory.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

from generator import paths
from generator.columns import text_sha256
from generator.errors import OutputError
from generator.identifiers import CATEGORY_RE
from generator.render.cached import CachedPage, page_key
from generator.render.records import newest_rows, rows
from generator.render.site import OutputFile, RecordSummary, Renderer

T = TypeVar("T")

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

    def listing_keys(self, kind: str) -> Iterator[tuple[str, str, str, str]]: ...

    def listing_items(
        self, kind: str, name: str, start: tuple[str, str], count: int
    ) -> list[tuple[str, str]]: ...


class _PlainItems:
    """``ListingItems`` of a plain list of summaries: the items made now and held in memory."""

    def __init__(self, renderer: Renderer, records: Sequence[RecordSummary]) -> None:
        self.by_listing: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
        for row in newest_rows(records):
            html = renderer.record_row(row)
            self.by_listing["category", row.primary_cat].append((row.submitted_at, row.suffix, html))
            self.by_listing["month", row.submitted_at[:7]].append((row.submitted_at, row.suffix, html))

    def listing_keys(self, kind: str) -> Iterator[tuple[str, str, str, str]]:
        for name in sorted((name for k, name in self.by_listing if k == kind), reverse=True):
            for time, suffix, html in self.by_listing[kind, name]:
                yield name, time, suffix, text_sha256(html)

    def listing_items(
        self, kind: str, name: str, start: tuple[str, str], count: int
    ) -> list[tuple[str, str]]:
        items = self.by_listing[kind, name]
        first = next(i for i, (time, suffix, _html) in enumerate(items) if (time, suffix) == start)
        return [(suffix, html) for _time, suffix, html in items[first : first + count]]


def _items_of(renderer: Renderer, records: Sequence[RecordSummary]) -> ListingItems:
    if callable(getattr(records, "listing_keys", None)) and callable(getattr(records, "listing_items", None)):
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


def _chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def cached_listing_pages(
    renderer: Renderer, items: ListingItems, listings: list[tuple[Listing, int]]
) -> Iterator[CachedPage]:
    """Every page of every listing, as ``CachedPage``s. A page's key is made from the digests of
    its records' list items (``columns.list_sha256``), which come in listing order from an
    index; the items themselves are read only for a page that is rendered."""
    size = renderer.config.page_size
    for kind in ("category", "month"):
        of_kind = {lst.name: (lst, count) for lst, count in listings if lst.kind == kind}
        seen: set[str] = set()
        for name, group in itertools.groupby(items.listing_keys(kind), key=lambda r: r[0]):
            listing, total = of_kind[name]
            seen.add(name)
            for n, page in enumerate(_chunks(group, size), 1):
                yield cached_listing_page(renderer, items, listing, n, total, page)
        for name, (listing, _total) in sorted(of_kind.items()):
            if name not in seen:  # a listing without records still has its first page
                yield cached_listing_page(renderer, items, listing, 1, 0, [])


def cached_listing_page(
    renderer: Renderer,
    items: ListingItems,
    listing: Listing,
    n: int,
    total: int,
    page: list[tuple[str, str, str, str]],
) -> CachedPage:
    """Page ``n`` of a listing of ``total`` records; ``page`` holds its records' (listing
    name, submission time, SUFFIX, digest of the list item). The page shows its records' items,
    its number and the listing's size: nothing else that can change between builds with one
    render fingerprint."""
    digests = [digest for _name, _time, _suffix, digest in page]
    key = page_key("listing", listing.base, listing.heading, n, total, renderer.config.page_size, digests)

    def make() -> OutputFile:
        got = (
            items.listing_items(listing.kind, listing.name, (page[0][1], page[0][2]), len(page))
            if page
            else []
        )
        if [suffix for suffix, _html in got] != [suffix for _n, _t, suffix, _d in page] or [
            text_sha256(html) for _suffix, html in got
        ] != digests:
            raise OutputError(f"{listing.page_path(n)}: the listing's records changed while it was written")
        return render_listing_page(renderer, listing, [html for _suffix, html in got], n, total)

    return CachedPage(listing.page_path(n), key, make)


def build_listings(
    renderer: Renderer, records: Sequence[RecordSummary], build_time: str
) -> Iterator[OutputFile | CachedPage]:
    """The home page, ``browse/`` and every listing page (as ``CachedPage``s, keyed from an
    index: see ``cached_listing_pages``). Memory: one page per listing."""
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
    yield from cached_listing_pages(renderer, _items_of(renderer, records), listings)
