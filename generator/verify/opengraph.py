"""The open graph of one verified record: bundle, state and integrity, each checked. No IO.

``verify_open_graph`` takes the documents a source attached to the record (``endpoints``) and
returns what each check found. It never rejects the record: the record was verified on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.keyring import Keyring
from generator.verify.bundle import BundleResult, verify_bundle
from generator.verify.integrity import IntegrityResult, verify_integrity
from generator.verify.outcome import DocResult
from generator.verify.state import verify_state

if TYPE_CHECKING:
    from generator.verify.record import VerifiedRecord


@dataclass(frozen=True)
class OpenGraph:
    bundle: BundleResult | None
    state: DocResult | None
    integrity: IntegrityResult | None

    @property
    def results(self) -> tuple[DocResult, ...]:
        out: list[DocResult] = []
        if self.bundle is not None:
            out.append(self.bundle.result)
        if self.state is not None:
            out.append(self.state)
        if self.integrity is not None:
            out.append(self.integrity.result)
        return tuple(out)

    def summary(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """(document, status, failed codes) for each document present: small, for reports."""
        return tuple((r.kind, r.status, r.codes) for r in self.results)


def verify_open_graph(rec: VerifiedRecord, keyring: Keyring) -> OpenGraph:
    bundle_bytes = rec.endpoint("bundle")
    state_bytes = rec.endpoint("state")
    integrity_bytes = rec.endpoint("integrity")
    bundle = verify_bundle(bundle_bytes, rec, keyring) if bundle_bytes is not None else None
    state = verify_state(state_bytes, rec, bundle) if state_bytes is not None else None
    integrity = verify_integrity(integrity_bytes, rec, keyring) if integrity_bytes is not None else None
    return OpenGraph(bundle, state, integrity)


__all__ = ["OpenGraph", "verify_open_graph"]
