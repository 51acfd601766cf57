"""Pith identifiers (PROTOCOL.md §1): every one derives from the canonical hash.

Also the strict patterns that make an identifier safe to use in an output path.
"""

from __future__ import annotations

import base64
import hashlib
import re

SUFFIX_RE = re.compile(r"[A-Z2-7]{26}")
SHORT8_RE = re.compile(r"[A-Z2-7]{8}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")
# New-style arXiv ids (0704.0001 onwards): YYMM.NNNN or YYMM.NNNNN; old style: archive(.SUB)/YYMMNNN.
NEW_ARXIV_RE = re.compile(r"[0-9]{4}\.[0-9]{4,5}")
OLD_ARXIV_RE = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/[0-9]{7}")
CATEGORY_RE = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z-]+)?")
TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def is_suffix(text: str) -> bool:
    return SUFFIX_RE.fullmatch(text) is not None


def is_arxiv_id(text: str) -> bool:
    return NEW_ARXIV_RE.fullmatch(text) is not None or OLD_ARXIV_RE.fullmatch(text) is not None


def suffix_from_hash(canonical_sha256: str) -> str:
    return base64.b32encode(bytes.fromhex(canonical_sha256)).decode("ascii")[:26]


def pith_number(year: str, suffix: str) -> str:
    return f"pith:{year}:{suffix}"


def short_pith_number(suffix: str) -> str:
    return f"pith:{suffix[:8]}"


def title_canon_sha256(title: str) -> str:
    """The published title rule: lower, collapse whitespace, strip, SHA-256 of UTF-8.

    ``str.split()`` with no argument splits at runs of the characters ``str.isspace`` accepts,
    the same set as ``\\s`` in a ``re`` str pattern, and drops them at both ends: joining the
    words with one space is ``re.sub(r"\\s+", " ", text).strip()`` (tests check the two agree
    on every code point), without a regular expression."""
    return hashlib.sha256(" ".join(title.lower().split()).encode("utf-8")).hexdigest()


def derived_aliases(suffix: str, arxiv_id: str, version: int) -> dict[str, str]:
    """alias_kind -> alias_value for every alias kind with a published rule."""
    return {
        "arxiv": arxiv_id,
        "arxiv_version": f"{arxiv_id}v{version}",
        "doi": f"10.48550/arxiv.{arxiv_id}",
        "pith_short_8": suffix[:8],
        "pith_short_12": suffix[:12],
        "pith_short_16": suffix[:16],
    }


def key_fingerprint_hex(public_key: bytes) -> str:
    """First 16 bytes of SHA-256 of the raw public key, hex (pith-mirrors.json)."""
    return hashlib.sha256(public_key).digest()[:16].hex()


def key_fingerprint_b32(public_key: bytes) -> str:
    return base64.b32encode(hashlib.sha256(public_key).digest()).decode("ascii")[:26]
