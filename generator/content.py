"""Content pages: Markdown files in ``content/pages/*.md`` with a small front matter.

    ---
    title: About this mirror
    order: 10
    slug: about        (optional; default: the file name)
    ---
    Markdown text...

Rendered with markdown-it-py's ``js-default`` preset (raw HTML off, link schemes checked). Each
page is published at ``{slug}/index.html`` (the slug is the file name unless the front matter
sets one), and listed in the
site navigation in ``order``. ``content/records/`` holds records, not pages, and is never read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from generator.errors import SourceError

PAGES_DIR = "pages"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
RESERVED = frozenset(
    {"pith", "paper", "api", "static", "search", "resolve", "browse", "page", "verification"}
)
MAX_PAGE_BYTES = 512 * 1024


@dataclass(frozen=True)
class ContentPage:
    slug: str
    title: str
    order: int
    body_html: str
    src_path: str

    @property
    def dest_path(self) -> str:
        return f"{self.slug}/index.html"


def _front_matter(text: str, where: str) -> tuple[dict[str, str], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---\n", 4)
    if end < 0:
        raise SourceError(f"{where}: front matter opened with '---' is never closed")
    meta: dict[str, str] = {}
    for n, line in enumerate(text[4:end].splitlines(), start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip().isidentifier():
            raise SourceError(f"{where}:{n}: front matter line is not 'key: value': {line[:80]!r}")
        meta[key.strip()] = value.strip().strip('"')
    return meta, text[end + 5 :]


def markdown() -> MarkdownIt:
    return MarkdownIt("js-default")


def parse_page(src: Path) -> ContentPage:
    where = str(src)
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise SourceError(f"{where}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_PAGE_BYTES:
        raise SourceError(f"{where}: larger than {MAX_PAGE_BYTES} bytes")
    try:
        text = data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise SourceError(f"{where}: not UTF-8") from None
    meta, body = _front_matter(text, where)
    unknown = sorted(set(meta) - {"title", "order", "slug"})
    if unknown:
        raise SourceError(f"{where}: unknown front matter key(s): {', '.join(unknown)}")
    slug = meta.get("slug") or src.stem
    if _SLUG.fullmatch(slug) is None or slug in RESERVED:
        raise SourceError(
            f"{where}: slug {slug[:60]!r} must be lower-case letters, digits and '-', "
            f"and not one of the site's own folders ({', '.join(sorted(RESERVED))})"
        )
    order_text = meta.get("order", "100")
    if not re.fullmatch(r"-?[0-9]{1,6}", order_text):
        raise SourceError(f"{where}: order must be an integer, got {order_text!r}")
    title = meta.get("title") or slug.replace("-", " ").capitalize()
    return ContentPage(slug, title, int(order_text), markdown().render(body), where)


def load_pages(content_dir: Path) -> list[ContentPage]:
    """Every page in ``content_dir/pages``, in navigation order (order, then slug)."""
    folder = content_dir / PAGES_DIR
    if not folder.is_dir():
        return []
    pages = [parse_page(p) for p in sorted(folder.glob("*.md")) if p.is_file()]
    return sorted(pages, key=lambda p: (p.order, p.slug))


def nav_entries(pages: Iterable[ContentPage]) -> list[dict[str, str]]:
    return [{"title": p.title, "path": p.dest_path} for p in pages]
