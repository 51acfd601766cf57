"""What to fetch, and from which URLs (PROTOCOL.md §4).

Records are named by pith number (``pith:YYYY:SUFFIX``), SUFFIX, short number (``pith:SHORT8``
or a SUFFIX prefix of 8 to 25 characters), or arXiv id (``2604.20237``, ``cs/0004010``, with an
optional ``arXiv:`` prefix and ``vN`` version), on the command line or in a list file (one per
line, ``#`` starts a comment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from generator import paths
from generator.errors import JsonError, ResponseError, SourceError, UsageError
from generator.identifiers import SUFFIX_RE, is_arxiv_id
from generator.sources import ENDPOINT_KINDS
from generator.strictjson import loads_strict

DEFAULT_UPSTREAM = "https://pith.science"
RECORD = "record"
DEFAULT_KINDS: tuple[str, ...] = ENDPOINT_KINDS  # graph, events, bundle, state, integrity

_PITH_NUMBER = re.compile(r"pith:([0-9]{4}):([A-Z2-7]{26})")
_SHORT = re.compile(r"(?:pith:)?([A-Z2-7]{8,25})")
_ARXIV = re.compile(r"(?:arxiv:)?(.+?)(?:v([1-9][0-9]{0,3}))?", re.IGNORECASE)
_RECORD_PATH = re.compile(r"/pith/([A-Z2-7]{26})(?:\.json|/.*)?")


@dataclass(frozen=True)
class Wanted:
    """One record the user asked for. ``kind`` is ``suffix``, ``short`` or ``arxiv``."""

    text: str
    kind: str
    value: str
    version: int | None = None
    where: str = "command line"

    def describe(self) -> str:
        return f"{self.text!r} ({self.where})"


def parse_wanted(text: str, where: str = "command line") -> Wanted:
    """Parse one record name; raises ``UsageError`` naming it and ``where``."""
    item = text.strip()
    if m := _PITH_NUMBER.fullmatch(item):
        return Wanted(item, "suffix", m.group(2), where=where)
    if SUFFIX_RE.fullmatch(item):
        return Wanted(item, "suffix", item, where=where)
    if m := _SHORT.fullmatch(item):
        return Wanted(item, "short", m.group(1), where=where)
    m = _ARXIV.fullmatch(item)
    if m and is_arxiv_id(m.group(1)):
        version = int(m.group(2)) if m.group(2) else None
        return Wanted(item, "arxiv", m.group(1), version, where=where)
    raise UsageError(f"{where}: {item[:100]!r} is not a pith number, SUFFIX, short number or arXiv id")


def read_list(path: Path) -> list[Wanted]:
    """Record names from a list file: one per line, ``#`` comments, blank lines ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the list: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 (byte {exc.start})") from None
    out = []
    problems = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            out.append(parse_wanted(item, f"{path}:{lineno}"))
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        raise UsageError("\n".join(problems))
    return out


def normalise_base(url: str, what: str = "upstream") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} must be an absolute http(s) URL, got {url[:200]!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"{what} must not carry a query or fragment: {url[:200]!r}")
    return url.rstrip("/")


def site_path(kind: str, suffix: str, arxiv_id: str) -> str:
    """The path of an endpoint, the same on pith.science and in every mirror."""
    if kind == RECORD:
        return paths.record_json(suffix)
    if kind == "graph":
        return paths.graph_json(suffix)
    if kind == "events":
        return paths.events_json(suffix)
    if kind == "bundle":
        return paths.bundle_json(suffix)
    if kind == "state":
        return paths.state_json(suffix)
    if kind == "integrity":
        return paths.integrity_json(arxiv_id)
    raise ValueError(f"unknown endpoint kind {kind!r}")


def endpoint_url(base: str, kind: str, suffix: str, arxiv_id: str) -> str:
    return f"{base}/{site_path(kind, suffix, arxiv_id)}"


def short_url(base: str, short: str) -> str:
    return f"{base}/pith/{short}.json"


def resolve_url(base: str, arxiv_id: str) -> str:
    return f"{base}/api/pith-number/resolve?arxiv={quote(arxiv_id, safe='')}&json=true"


def parse_kinds(text: str) -> tuple[str, ...]:
    """``graph,events`` -> ('events', 'graph') in canonical order; ``none`` -> ()."""
    items = [k.strip() for k in text.split(",") if k.strip()]
    if items in (["none"], []):
        return ()
    if items == ["all"]:
        return DEFAULT_KINDS
    unknown = [k for k in items if k not in DEFAULT_KINDS]
    if unknown:
        raise UsageError(
            f"unknown endpoint(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_KINDS)}, all, none"
        )
    return tuple(k for k in DEFAULT_KINDS if k in items)


def suffix_from_resolve(body: bytes, url: str) -> str:
    """The SUFFIX a resolve answer plainly names: a ``pith_number``, a SUFFIX, or a record URL,
    at the top level or one level down. Anything else is a ``ResponseError`` (resolve_failed)
    that quotes what came back. The record it names is verified afterwards by the caller."""
    try:
        doc = loads_strict(body, url, max_bytes=1024 * 1024)
    except JsonError as exc:
        raise ResponseError("resolve_failed", url, f"answer is not strict JSON: {exc.detail}") from None
    found: set[str] = set()
    _collect(doc, found, depth=0)
    snippet = body[:200].decode("utf-8", "replace")
    if not found:
        raise ResponseError("resolve_failed", url, f"answer names no record: {snippet!r}")
    if len(found) > 1:
        raise ResponseError(
            "resolve_failed", url, f"answer names {len(found)} different records: {sorted(found)}"
        )
    return found.pop()


def _collect(value: Any, found: set[str], depth: int) -> None:
    if isinstance(value, str):
        if m := _PITH_NUMBER.fullmatch(value):
            found.add(m.group(2))
        elif SUFFIX_RE.fullmatch(value):
            found.add(value)
        elif value.startswith(("http://", "https://", "/")):
            m2 = _RECORD_PATH.fullmatch(urlsplit(value).path)
            if m2:
                found.add(m2.group(1))
        return
    if depth >= 2:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("canonical_sha256", "canonical_record", "receipt", "aliases", "events"):
                continue
            _collect(item, found, depth + 1)
