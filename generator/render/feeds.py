"""Feeds and crawler files: ``sitemap.xml`` (an index past 50,000 URLs), ``feed.xml`` (Atom),
``robots.txt``, ``404.html`` that works at any depth, and an optional ``CNAME``.

Absolute URLs come only from ``--base-url``. Without it there is no sitemap (a sitemap must hold
absolute URLs) and the feed's links are relative to ``feed.xml`` at the site root.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

from generator import GENERATOR, paths
from generator.keyring import parse_time
from generator.render.records import newest_rows
from generator.render.site import OutputFile, RecordSummary, Renderer

SITEMAP_MAX_URLS = 50_000
FEED_ENTRIES = 50


def _directory(path: str) -> str:
    return path[: -len("index.html")] if path.endswith("index.html") else path


def _rfc3339(value: str | None, fallback: str) -> str:
    if value:
        try:
            return parse_time(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    return fallback


def sitemap_files(
    base_url: str, urls: Iterable[tuple[str, str | None]], max_urls: int = SITEMAP_MAX_URLS
) -> Iterator[OutputFile]:
    """``urls`` are (site path, lastmod date or None), in a stable order. One ``sitemap.xml``
    up to ``max_urls``; past that, ``sitemaps/sitemap-N.xml`` files and an index."""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'

    def urlset(chunk: list[tuple[str, str | None]]) -> bytes:
        lines = [head, f"<urlset {ns}>\n"]
        for path, lastmod in chunk:
            lines.append(f"<url><loc>{escape(base_url + _directory(path))}</loc>")
            if lastmod:
                lines.append(f"<lastmod>{escape(lastmod)}</lastmod>")
            lines.append("</url>\n")
        lines.append("</urlset>\n")
        return "".join(lines).encode()

    parts: list[str] = []
    chunk: list[tuple[str, str | None]] = []
    first: list[tuple[str, str | None]] | None = None
    for item in urls:
        chunk.append(item)
        if len(chunk) == max_urls:
            if first is None:
                first = chunk
            else:
                if not parts:
                    parts.append("sitemaps/sitemap-1.xml")
                    yield OutputFile(parts[0], urlset(first))
                parts.append(f"sitemaps/sitemap-{len(parts) + 1}.xml")
                yield OutputFile(parts[-1], urlset(chunk))
            chunk = []
    if first is None or (not parts and not chunk):
        yield OutputFile("sitemap.xml", urlset(first if first is not None else chunk))
        return
    if not parts:
        parts.append("sitemaps/sitemap-1.xml")
        yield OutputFile(parts[0], urlset(first))
    if chunk:
        parts.append(f"sitemaps/sitemap-{len(parts) + 1}.xml")
        yield OutputFile(parts[-1], urlset(chunk))
    lines = [head, f"<sitemapindex {ns}>\n"]
    for p in parts:
        lines.append(f"<sitemap><loc>{escape(base_url + p)}</loc></sitemap>\n")
    lines.append("</sitemapindex>\n")
    yield OutputFile("sitemap.xml", "".join(lines).encode())


def atom_feed(renderer: Renderer, records: Sequence[RecordSummary], build_time: str) -> OutputFile:
    cfg = renderer.config
    base = cfg.base_url or ""
    newest = list(itertools.islice(newest_rows(records), FEED_ENTRIES))
    updated = (
        build_time
        if build_time != "unknown"
        else (newest[0].submitted_at if newest else "1970-01-01T00:00:00Z")
    )
    feed_id = f"{base}feed.xml" if base else "urn:pith-mirror:feed"
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<feed xmlns="http://www.w3.org/2005/Atom">\n',
        f"<title>{escape(cfg.title)}: newest records</title>\n",
        f"<id>{escape(feed_id)}</id>\n",
        f"<updated>{escape(updated)}</updated>\n",
        f'<link rel="self" href={quoteattr(base + "feed.xml" if base else "feed.xml")}/>\n',
        f'<link rel="alternate" type="text/html" href={quoteattr(base or "./")}/>\n',
        f"<generator>{escape(GENERATOR)}</generator>\n",
    ]
    for s in newest:
        href = base + _directory(paths.record_page(s.suffix))
        title = s.title or s.pith_number
        summary = f"{s.pith_number} · arXiv {s.arxiv_id}v{s.version} · {s.primary_cat}"
        out += [
            "<entry>\n",
            f"<title>{escape(title)}</title>\n",
            f"<id>{escape(s.pith_number)}</id>\n",
            f'<link rel="alternate" type="text/html" href={quoteattr(href)}/>\n',
            f"<published>{escape(s.submitted_at)}</published>\n",
            f"<updated>{escape(_rfc3339(s.signed_at, s.submitted_at))}</updated>\n",
            f"<author><name>{escape(s.authors[:500] or 'unknown')}</name></author>\n",
            f"<category term={quoteattr(s.primary_cat)}/>\n",
            f"<summary>{escape(summary)}</summary>\n",
            "</entry>\n",
        ]
    out.append("</feed>\n")
    return OutputFile("feed.xml", "".join(out).encode())


def not_found_page(renderer: Renderer) -> OutputFile:
    """``404.html``: hosts serve it at any depth, so with a base URL every link is absolute."""
    base = renderer.config.base_url
    link_files = renderer.config.link_files

    def link(to_path: str) -> str:
        if base:
            return base + (_directory(to_path) if not link_files else to_path)
        return paths.relative_url("404.html", to_path, link_files=link_files)

    html = renderer.env.get_template("404.html").render(link=link, page_path="404.html")
    return OutputFile("404.html", html.encode())


def robots_file(base_url: str | None) -> OutputFile:
    """``robots.txt``: everything may be crawled except the index and alias shards (data for
    scripts and programs, not pages); names the sitemap when there is one. Paths carry the base
    URL's path, so they are right for a site served under a subpath too."""
    prefix = urlsplit(base_url).path if base_url else "/"
    lines = ["User-agent: *", "Allow: /"]
    lines += [f"Disallow: {prefix}{p}" for p in ("search/t/", "search/d/", "resolve/arxiv/", "resolve/pith/")]
    if base_url:
        lines.append(f"Sitemap: {base_url}sitemap.xml")
    return OutputFile("robots.txt", ("\n".join(lines) + "\n").encode())


def cname_file(cname: str | None) -> Iterator[OutputFile]:
    if cname:
        yield OutputFile("CNAME", (cname + "\n").encode())
