"""Site-wide steps for readers: home and listings, search, resolver, feeds, content pages.

Each step takes the build's ``SiteContext`` (small record summaries, settings, renderer) and
yields ``OutputFile``s one at a time; ``build.SITE_STEPS`` registers them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from markupsafe import Markup

from generator import paths
from generator.render import feeds, listings, resolve, search
from generator.render.cached import CachedPage, KeptTree
from generator.render.records import rows
from generator.render.site import OutputFile, Renderer

if TYPE_CHECKING:
    from generator.build import SiteContext

log = logging.getLogger(__name__)


def root_of(dest_path: str) -> str:
    """Relative link from a page to the site root (for scripts that build URLs)."""
    return "../" * dest_path.count("/") or "./"


def listing_pages(ctx: SiteContext) -> Iterable[OutputFile | CachedPage | KeptTree]:
    """The home page (``index.html``), ``browse/`` and every category and month listing."""
    same = ctx.unchanged("primary_cat", "submitted_at", "list_sha256")
    return listings.build_listings(ctx.renderer, ctx.records, ctx.build_time, unchanged=same)


def search_files(ctx: SiteContext) -> Iterator[OutputFile | CachedPage | KeptTree]:
    dest = "search/index.html"
    yield _tool_page(ctx.renderer, "search.html", dest, total=len(ctx.records), query_value="")
    same = ctx.unchanged("submitted_at", "search_doc", "terms")
    yield from search.build_search(ctx.records, unchanged=same)


def resolve_files(ctx: SiteContext) -> Iterator[OutputFile | CachedPage | KeptTree]:
    yield _tool_page(ctx.renderer, "resolve.html", "resolve/index.html")
    yield from resolve.build_resolve(
        ctx.records, unchanged=ctx.unchanged("short8", "pith_number", "arxiv_id", "version")
    )
    yield from resolve.short_redirects(ctx.renderer, ctx.records)


def _tool_page(renderer: Renderer, template: str, dest: str, **context: object) -> OutputFile:
    return renderer.page(template, dest, root=root_of(dest), link_files=renderer.config.link_files, **context)


def content_pages(ctx: SiteContext) -> Iterator[OutputFile]:
    for page in ctx.renderer.content_pages:
        # body_html comes from our own content/ files through MarkdownIt("js-default"): raw HTML off
        yield ctx.renderer.page("page.html", page.dest_path, page=page, body=Markup(page.body_html))


def _sitemap_urls(ctx: SiteContext) -> Iterator[tuple[str, str | None]]:
    day = ctx.build_time[:10] if ctx.build_time != "unknown" else None
    fixed = ["index.html", "browse/index.html", "search/index.html", "resolve/index.html"]
    fixed += ["verification/index.html", *(p.dest_path for p in ctx.renderer.content_pages)]
    for path in fixed:
        yield path, day
    for listing, count in listings.all_listings(ctx.records):
        pages = max(1, -(-count // ctx.config.page_size))
        for n in range(1, pages + 1):
            yield listing.page_path(n), day
    for s in rows(ctx.records, "suffix"):
        yield paths.record_page(s.suffix), (s.signed_at or s.submitted_at)[:10]


def feed_files(ctx: SiteContext) -> Iterator[OutputFile]:
    yield feeds.atom_feed(ctx.renderer, ctx.records, ctx.build_time)
    yield feeds.not_found_page(ctx.renderer)
    yield feeds.robots_file(ctx.config.base_url)
    yield from feeds.cname_file(ctx.config.cname)
    if ctx.config.base_url:
        yield from feeds.sitemap_files(ctx.config.base_url, _sitemap_urls(ctx))
    else:
        log.info("no --base-url: sitemap.xml not written (a sitemap needs absolute URLs)")


READER_STEPS = [listing_pages, search_files, resolve_files, content_pages, feed_files]
