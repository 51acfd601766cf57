"""Results of checking an open-graph document (bundle, state, integrity). No IO here.

A document is never a reason to refuse its record: the record was verified on its own. Each
document ends in one status:

    verified  every check with a published rule passed (parts without one are carried, and say so)
    failed    at least one check failed; the byte copy is published and the page says what failed
    refused   not strict JSON, or it claims to be about a different record: not published at all

Each check carries a stable code from ``errors.CODES`` when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.errors import CODES, RecordError
from generator.strictjson import loads_object
from generator.verify.record import NOT_CHECKED, VERIFIED, WARNING

FAILED = "failed"  # a published rule does not hold
CARRIED = "carried"  # kept verbatim; no published rule to check it by

DOC_VERIFIED = "verified"
DOC_FAILED = "failed"
DOC_REFUSED = "refused"

__all__ = [
    "CARRIED",
    "DOC_FAILED",
    "DOC_REFUSED",
    "DOC_VERIFIED",
    "FAILED",
    "NOT_CHECKED",
    "VERIFIED",
    "WARNING",
    "DocCheck",
    "DocResult",
    "Refused",
    "parse_document",
    "settle",
]


@dataclass(frozen=True)
class DocCheck:
    name: str
    status: str
    detail: str
    code: str | None = None  # set when status is FAILED

    def __post_init__(self) -> None:
        if self.code is not None and self.code not in CODES:
            raise ValueError(f"unregistered code {self.code!r}")


@dataclass(frozen=True)
class DocResult:
    kind: str  # bundle | state | integrity
    status: str  # DOC_VERIFIED | DOC_FAILED | DOC_REFUSED
    checks: tuple[DocCheck, ...]

    @property
    def publish(self) -> bool:
        return self.status != DOC_REFUSED

    @property
    def codes(self) -> tuple[str, ...]:
        """The stable codes of every failed check, sorted and without repeats."""
        return tuple(sorted({c.code for c in self.checks if c.code is not None}))


class Refused(Exception):
    """Raised inside a document check: the document is not published at all."""

    def __init__(self, check: DocCheck) -> None:
        self.check = check
        super().__init__(check.detail)


def parse_document(data: bytes, kind: str, where: str) -> dict[str, Any]:
    """Strict JSON object, or ``Refused`` with ``{kind}_invalid_json`` naming the failed check."""
    try:
        return loads_object(data, where)
    except RecordError as exc:
        raise Refused(
            DocCheck("strict JSON", FAILED, f"{exc.code}: {exc.detail}", f"{kind}_invalid_json")
        ) from None


def settle(kind: str, checks: list[DocCheck]) -> DocResult:
    status = DOC_FAILED if any(c.status == FAILED for c in checks) else DOC_VERIFIED
    return DocResult(kind, status, tuple(checks))


def refused(kind: str, checks: list[DocCheck], exc: Refused) -> DocResult:
    return DocResult(kind, DOC_REFUSED, (*checks, exc.check))
