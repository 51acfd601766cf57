"""A link checker over a built output tree: every internal href/src must reach a file."""

from __future__ import annotations

import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRS = {"a": "href", "link": "href", "script": "src", "img": "src", "form": "action"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if d.get("id"):
            self.ids.add(d["id"] or "")
        attr = LINK_ATTRS.get(tag)
        if attr and d.get(attr) is not None:
            self.links.append((tag, d[attr] or ""))
        if tag == "meta" and (d.get("http-equiv") or "").lower() == "refresh":
            content = d.get("content") or ""
            if "url=" in content:
                self.links.append(("meta", content.split("url=", 1)[1]))


def page_links(page: Path) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.links


def check_tree(root: Path, *, link_files: bool, base_url: str | None = None) -> list[str]:
    """Problems: links to missing files, and (for file-style sites) links to bare folders."""
    problems: list[str] = []
    for page in sorted(root.rglob("*.html")):
        rel_page = page.relative_to(root).as_posix()
        for tag, url in page_links(page):
            parts = urlsplit(url)
            relative = not parts.scheme
            if parts.scheme in ("http", "https"):
                if base_url and url.startswith(base_url):
                    target_path = parts.path[len(urlsplit(base_url).path) :]
                elif tag in ("script", "link", "img"):
                    problems.append(f"{rel_page}: {tag} loads from another site: {url}")
                    continue
                else:
                    continue
            elif parts.scheme or url.startswith("//"):
                if parts.scheme not in ("mailto",):
                    problems.append(f"{rel_page}: unexpected link scheme: {url[:80]}")
                continue
            elif url.startswith("/"):
                problems.append(f"{rel_page}: root-relative link breaks under a subpath: {url}")
                continue
            else:
                if not parts.path:
                    continue  # same-page fragment or query
                target_path = posixpath.normpath(
                    posixpath.join(posixpath.dirname(rel_page), unquote(parts.path))
                )
                if parts.path.endswith("/"):
                    target_path += "/"
            if target_path.startswith(".."):
                problems.append(f"{rel_page}: link leaves the site: {url}")
                continue
            target = root / target_path if target_path not in ("", ".", "./") else root
            if target.is_dir() or target_path.endswith("/") or target_path in ("", ".", "./"):
                if link_files and relative and tag in ("a", "link", "meta", "form"):
                    problems.append(f"{rel_page}: links to a folder (breaks from disk): {url}")
                elif not (target / "index.html").is_file():
                    problems.append(f"{rel_page}: folder without index.html: {url}")
            elif not target.is_file():
                problems.append(f"{rel_page}: broken link: {url}")
    return problems
