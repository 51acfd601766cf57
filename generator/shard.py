"""Sharding a mirror by SUFFIX prefix: one site per prefix set, each under a host's size limit.

A shard build publishes only the records whose SUFFIX starts with one of its prefixes. Which
shard a record belongs to is read cheaply from the hash it claims (``canonical_sha256``), before
verification, so a shard does not pay for verifying the records of every other shard. A record
whose claim is false is still verified, and refused, by the one shard its claim points to; a
record whose claim cannot be read is verified by every shard (and refused by all but its own).
"""

from __future__ import annotations

import re

from generator.identifiers import suffix_from_hash

PREFIX_RE = re.compile(r"[A-Z2-7]{1,26}")
_CLAIM = re.compile(rb'"canonical_sha256"\s*:\s*"([0-9a-f]{64})"')


def claimed_suffix(data: bytes) -> str | None:
    """The SUFFIX every ``canonical_sha256`` in the bytes agrees on, or None."""
    claims = set(_CLAIM.findall(data))
    if len(claims) != 1:
        return None
    return suffix_from_hash(claims.pop().decode("ascii"))


def outside_shard(data: bytes, prefixes: tuple[str, ...]) -> bool:
    """True when the record clearly belongs to another shard (never for unreadable claims)."""
    if not prefixes:
        return False
    suffix = claimed_suffix(data)
    return suffix is not None and not suffix.startswith(prefixes)


def check_prefixes(prefixes: tuple[str, ...]) -> str | None:
    """A problem with the prefixes, or None."""
    for p in prefixes:
        if PREFIX_RE.fullmatch(p) is None:
            return f"suffix prefix {p[:40]!r} is not 1-26 characters of A-Z and 2-7"
    return None
