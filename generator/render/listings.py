"""Home page and listings: by primary category and by month of submission, paginated.

Every record is on exactly one page of its category and one page of its month, newest first,
and every listing page links to its first, last and nearby pages, so any record is a few
clicks from the home page. Pages are produced one at a time (a generator): at no point is more
than one page's HTML in memory.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from generator import paths
from generator.errors import OutputError
from generator.identifiers import CATEGORY_RE
from generator.render.site import OutputFile, RecordSummary, Renderer

RECENT = 20
PAGER_WINDOW = 2


@dataclass(frozen=True)
class Listing:
    """One paginated listing: ``base`` is its folder (``browse/cat/cs.LG``)."""

    base: str
    heading: str
    kind: str

    def page_path(self, n: int) -> str:
        return paths.safe_rel(f"{self.base}/index.html" if n == 1 else f"{self.base}/page/{n}/index.html")


def category_listing(cat: str) -> Listing:
    if CATEGORY_RE.fullmatch(cat) is None:
        raise OutputError(f"refusing listing for invalid category {cat[:60]!r}")
    return Listing(f"browse/cat/{cat}", f"Category {cat}", "category")


def month_listing(year_month: str) -> Listing:
    year, month = year_month[:4], year_month[5:7]
    if not (year.isdigit() and month.isdigit() and len(year_month) == 7):
        raise OutputError(f"refusing listing for invalid month {year_month[:60]!r}")
    return Listing(f"browse/date/{year}/{month}", f"Submitted in {year}-{month}", "month")


def newest_first(records: Sequence[RecordSummary]) -> list[RecordSummary]:
    return sorted(records, key=lambda s: (s.submitted_at, s.suffix), reverse=True)


def pager(n: int, pages: int) -> list[int | None]:
    """Page numbers to show: first, last, and a window around ``n``; None marks a gap."""
    shown = sorted({1, pages, *range(max(1, n - PAGER_WINDOW), min(pages, n + PAGER_WINDOW) + 1)})
    out: list[int | None] = []
    for i, p in enumerate(shown):
        if i and p - shown[i - 1] > 1:
            out.append(None)
        out.append(p)
    return out


def render_listing(
    renderer: Renderer, listing: Listing, records: Sequence[RecordSummary]
) -> Iterator[OutputFile]:
    size = renderer.config.page_size
    ordered = newest_first(records)
    pages = max(1, -(-len(ordered) // size))
    for n in range(1, pages + 1):
        chunk = ordered[(n - 1) * size : n * size]
        yield renderer.page(
            "listing.html",
            listing.page_path(n),
            listing=listing,
            records=chunk,
            page_no=n,
            pages=pages,
            total=len(ordered),
            first_no=(n - 1) * size + 1,
            pager=[(p, listing.page_path(p) if p else "") for p in pager(n, pages)],
            prev_path=listing.page_path(n - 1) if n > 1 else None,
            next_path=listing.page_path(n + 1) if n < pages else None,
        )


def all_listings(records: Sequence[RecordSummary]) -> list[tuple[Listing, int]]:
    """Every category and month listing with its number of records, in a stable order."""
    cats = Counter(s.primary_cat for s in records)
    months = Counter(s.submitted_at[:7] for s in records)
    return [(category_listing(c), n) for c, n in sorted(cats.items())] + [
        (month_listing(m), n) for m, n in sorted(months.items())
    ]


def build_listings(
    renderer: Renderer, records: Sequence[RecordSummary], build_time: str
) -> Iterator[OutputFile]:
    by_cat: dict[str, list[RecordSummary]] = defaultdict(list)
    by_month: dict[str, list[RecordSummary]] = defaultdict(list)
    for s in records:
        by_cat[s.primary_cat].append(s)
        by_month[s.submitted_at[:7]].append(s)
    cats = [(c, len(v), category_listing(c).page_path(1)) for c, v in sorted(by_cat.items())]
    years: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for ym, v in sorted(by_month.items()):
        years[ym[:4]].append((ym[5:7], len(v), month_listing(ym).page_path(1)))
    year_rows = [(y, sum(c for _, c, _ in ms), ms) for y, ms in sorted(years.items(), reverse=True)]
    recent = newest_first(records)[:RECENT]
    yield renderer.page(
        "index.html",
        paths.index_page(1),
        total=len(records),
        recent=recent,
        build_time=build_time,
        categories=sorted(cats, key=lambda c: (-c[1], c[0]))[:12],
        category_count=len(cats),
        years=year_rows[:6],
        newest=recent[0].submitted_at[:10] if recent else None,
        oldest=min(s.submitted_at for s in records)[:10] if records else None,
        key_counts=Counter(s.key_id for s in records).most_common(),
    )
    yield renderer.page(
        "browse.html",
        "browse/index.html",
        total=len(records),
        categories=cats,
        years=year_rows,
    )
    for cat, group in sorted(by_cat.items()):
        yield from render_listing(renderer, category_listing(cat), group)
    for ym, group in sorted(by_month.items()):
        yield from render_listing(renderer, month_listing(ym), group)
