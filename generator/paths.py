"""Output paths. Every path is built from a validated identifier, then checked for containment."""

from __future__ import annotations

import re

from generator.errors import OutputError
from generator.identifiers import SHORT8_RE, is_arxiv_id, is_suffix

_SAFE_REL = re.compile(r"[A-Za-z0-9._/-]+")


def safe_rel(rel: str) -> str:
    """Raise ``OutputError`` unless ``rel`` is a plain relative path inside the site."""
    parts = rel.split("/")
    if (
        not rel
        or _SAFE_REL.fullmatch(rel) is None
        or rel.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or rel.endswith("/")
    ):
        raise OutputError(f"refusing unsafe output path {rel[:200]!r}")
    return rel


def _suffix(suffix: str) -> str:
    if not is_suffix(suffix):
        raise OutputError(f"refusing path for invalid SUFFIX {suffix[:60]!r}")
    return suffix


def record_page(suffix: str) -> str:
    return f"pith/{_suffix(suffix)}/index.html"


def record_json(suffix: str) -> str:
    return f"pith/{_suffix(suffix)}.json"


def graph_json(suffix: str) -> str:
    return f"api/pith-number/{_suffix(suffix)}/graph.json"


def events_json(suffix: str) -> str:
    return f"api/pith-number/{_suffix(suffix)}/events.json"


def bundle_json(suffix: str) -> str:
    return f"pith/{_suffix(suffix)}/bundle.json"


def state_json(suffix: str) -> str:
    return f"pith/{_suffix(suffix)}/state.json"


def well_known_bundle_json(suffix: str) -> str:
    return f".well-known/pith/{_suffix(suffix)}/bundle.json"


def integrity_json(arxiv_id: str) -> str:
    """``/pith/{arxiv_id}/integrity.json``; old-style ids (``cs/0004010``) nest one level."""
    if not is_arxiv_id(arxiv_id):
        raise OutputError(f"refusing path for invalid arXiv id {arxiv_id[:60]!r}")
    return safe_rel(f"pith/{arxiv_id}/integrity.json")


def paper_page(short8: str) -> str:
    if SHORT8_RE.fullmatch(short8) is None:
        raise OutputError(f"refusing path for invalid short number {short8[:60]!r}")
    return f"paper/{short8}/index.html"


def short_page(short8: str) -> str:
    """``pith/{SHORT8}/index.html``: redirect (or choice) page for a short Pith number."""
    if SHORT8_RE.fullmatch(short8) is None:
        raise OutputError(f"refusing path for invalid short number {short8[:60]!r}")
    return f"pith/{short8}/index.html"


def index_page(page: int) -> str:
    return "index.html" if page == 1 else f"page/{page}/index.html"


def relative_url(from_page: str, to_path: str, *, link_files: bool) -> str:
    """A relative link from the page at ``from_page`` to the site path ``to_path``.

    ``to_path`` ending in ``index.html`` is linked as its directory unless ``link_files``
    (for browsing from disk, where a directory link does not open its ``index.html``).
    """
    depth = from_page.count("/")
    prefix = "../" * depth
    if to_path.endswith("index.html") and not link_files:
        to_path = to_path[: -len("index.html")]
        if not to_path:
            return prefix or "./"
    return prefix + to_path
