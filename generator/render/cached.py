"""Site-wide pages that an incremental build may keep instead of rendering again.

A listing page shows a few dozen records; rendering every one of them on every build is most
of the cost of a rebuild after one record changed. A step therefore yields a ``CachedPage``: the
page's path, a *key* (SHA-256 over everything the page shows that can change between builds:
its records' display rows, its page number, the listing's size) and a function that renders it.
An incremental build whose previous build wrote the same path under the same key keeps that
file; otherwise it renders the page. Everything else a page depends on (templates, code,
settings, keys) is in the render fingerprint, and a build with another fingerprint keeps
nothing. A clean build renders every page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from generator.render.site import OutputFile


@dataclass(frozen=True)
class CachedPage:
    dest_path: str
    key: str
    make: Callable[[], OutputFile]

    def render(self) -> OutputFile:
        out = self.make()
        if out.dest_path != self.dest_path:
            raise ValueError(f"{self.dest_path}: rendered as {out.dest_path}")
        return out


def page_key(*parts: object) -> str:
    """SHA-256 over ``parts`` (strings, numbers, None and lists or tuples of them)."""
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
