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

from generator import paths
from generator.errors import OutputError
from generator.identifiers import CATEGORY_RE
from generator.render.cached import CachedPage, page_key
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


def cached_listing_page(
    renderer: Renderer, listing: Listing, rows: list[str], n: int, total: int
) -> CachedPage:
    """A listing page shows its records' rows, its number and the listing's size: nothing else
    that can change between builds with one render fingerprint."""
    key = page_key("listing", listing.base, listing.heading, n, total, renderer.config.page_size, rows)
    return CachedPage(
        listing.page_path(n), key, lambda: render_listing_page(renderer, listing, rows, n, total)
    )


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


def _newest_items(renderer: Renderer, records: Sequence[RecordSummary]) -> Iterator[tuple[str, str, str]]:
    """Newest first: each record's (primary category, submission time, list item); the item
    is stored with the record, or made now."""
    view = getattr(records, "list_items", None)
    if callable(view):
        stored: Iterator[tuple[str, str, str]] = view()
        return stored
    return ((row.primary_cat, row.submitted_at, renderer.record_row(row)) for row in newest_rows(records))


def build_listings(
    renderer: Renderer, records: Sequence[RecordSummary], build_time: str
) -> Iterator[OutputFile | CachedPage]:
    """Two passes over the summaries: counts first, then one newest-first pass that fills a page
    buffer per listing and renders each page as soon as it is full. Memory: one page per listing."""
    listings = all_listings(records)
    by_base = {listing.base: (listing, count) for listing, count in listings}
    cats = [(lst.name, n, lst.page_path(1)) for lst, n in listings if lst.kind == "category"]
    years: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for listing, count in listings:
        if listing.kind == "month":
            year, month = listing.name.split("-")
            years[year].append((month, count, listing.page_path(1)))
    year_rows = [(y, sum(c for _, c, _ in ms), ms) for y, ms in sorted(years.items(), reverse=True)]
    recent = list(itertools.islice(_newest_items(renderer, records), RECENT))
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
    size = renderer.config.page_size
    buffers: dict[str, list[str]] = defaultdict(list)
    page_no: dict[str, int] = defaultdict(lambda: 1)
    by_cat = {lst.name: lst for lst, _n in listings if lst.kind == "category"}
    by_month = {lst.name: lst for lst, _n in listings if lst.kind == "month"}
    for cat, submitted_at, html in _newest_items(renderer, records):
        for listing in (by_cat[cat], by_month[submitted_at[:7]]):
            buf = buffers[listing.base]
            buf.append(html)
            if len(buf) == size:
                yield cached_listing_page(
                    renderer, listing, buf, page_no[listing.base], by_base[listing.base][1]
                )
                page_no[listing.base] += 1
                buffers[listing.base] = []
    for base, (listing, count) in sorted(by_base.items()):
        if buffers[base] or count == 0:
            yield cached_listing_page(renderer, listing, buffers[base], page_no[base], count)
