"""LOAD: where records come from. Every source yields ``RawRecord``: exact bytes + where from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawRecord:
    """Bytes as read, unparsed and unverified. ``where`` names the origin (file, file:line, URL)."""

    data: bytes
    where: str
