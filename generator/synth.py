"""Synthetic Pith records signed by a test key: for tests, benchmarks and demos.

Follows PROTOCOL.md §1-3 exactly, so a keyring that pins the test key verifies them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from generator.identifiers import (
    derived_aliases,
    key_fingerprint_hex,
    pith_number,
    short_pith_number,
    suffix_from_hash,
    title_canon_sha256,
)
from generator.strictjson import canonical_json

_WORDS = (
    "quantum lattice neural sparse flat minima activation graph spectral boson entropy "
    "gauge Rényi Schrödinger Ångström naïve über café déjà-vu "
    "Transformers convex manifold stochastic Bayesian galaxy dark-matter proton Hilbert"
).split()
# Inline formulas as arXiv abstracts and titles carry them: short, varied, each one atomic (a
# formula is one token, never split on its spaces). ``@G`` is a Greek letter, ``@V``/``@W`` a
# Latin one, ``@I`` an index, ``@N``/``@K`` small numbers and ``@D`` two digits; each is drawn
# afresh, so the same template gives many distinct formulas.
_FORMULAS = (
    r"\mathcal{N}=@N",
    r"O(n^{@N/@K})",
    r"O(n\log n)",
    r"\@G_s",
    r"\@G^\prime",
    r"d=@N",
    r"@V^{2}+@W^{2}",
    r"\@G_{@I}",
    r"\sqrt{@V}",
    r"\frac{@N}{@K}",
    r"@V_{@I}^{@N}",
    r"\sum_{@I=1}^{@V} @W_@I",
    r"\mathbb{R}^{@N}",
    r"SU(@N)",
    r"\mathcal{O}(@V^{@N})",
    r"\@G \approx 0.@D",
    r"\langle @V @W \rangle",
    r"T_c \sim @D\,\mathrm{K}",
    r"\ell_@N",
    r"@V \to \infty",
    r"\|@V\|_@N",
    r"k=@N",
    r"@N\times@K",
    r"\hat{@V}",
    r"\tilde{O}(\sqrt{n})",
    r"p < 0.0@N",
    r"\Lambda\mathrm{CDM}",
    r"z \sim @N",
    r"\partial_\mu \@G",
    r"e^{-\@G t}",
    r"H_0",
    r"\mathbb{Z}_@N",
    r"N_f=@N",
    r"\@G(@V)=@N",
    r"n^{-1/@N}",
    r"\int_0^@N @V\,d@W",
    r"@V \in [0,@N]",
    r"\@G \geq @N",
)
_GREEK = tuple(
    "alpha beta gamma delta epsilon eta theta kappa lambda mu nu xi rho sigma tau phi chi psi omega".split()
)
_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "G": lambda rng: rng.choice(_GREEK),
    "V": lambda rng: rng.choice("abcdfghkmnpqrstuvwxyzABCDFGHLMNPQRSTUVXYZ"),
    "W": lambda rng: rng.choice("abcdfghkmnpqrstuvwxyz"),
    "I": lambda rng: rng.choice("ijkmn"),
    "N": lambda rng: str(rng.randint(1, 9)),
    "K": lambda rng: str(rng.randint(2, 12)),
    "D": lambda rng: f"{rng.randint(0, 99):02d}",
}
_SLOT = re.compile(r"@([GVWINKD])")


def random_formula(rng: random.Random) -> str:
    """One inline formula, ``$...$``, from a template with random symbols and numbers."""
    return "$" + _SLOT.sub(lambda m: _SLOTS[m.group(1)](rng), rng.choice(_FORMULAS)) + "$"


def _random_text(rng: random.Random, words: int, formulas: int) -> str:
    tokens = [rng.choice(_WORDS) for _ in range(words)]
    for _ in range(formulas):
        tokens.insert(rng.randint(0, len(tokens)), random_formula(rng))
    return " ".join(tokens)


_NAMES = (
    "Zhang Müller Dvořák Ren\\'e Nguyễn O'Brien Søren García-López Kowalczyk Ibrahim Tanaka Ólafsdóttir"
).split()
_CATS = ["cs.LG", "cs.AI", "math.AG", "hep-th", "astro-ph.CO", "quant-ph", "cs.CL", "stat.ML"]


@dataclass(frozen=True)
class TestKey:
    __test__ = False  # not a pytest test class

    key_id: str
    private: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, seed: bytes, key_id: str = "test-key-1") -> TestKey:
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest()))

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        return key_fingerprint_hex(self.public_bytes)

    def keyring_json(self, **window: str | None) -> bytes:
        entry: dict[str, Any] = {"key_id": self.key_id, "public_key_hex": self.public_bytes.hex()}
        entry.update(window)
        return json.dumps({"keys": [entry]}, indent=1).encode()

    def sign_hash(self, h: str) -> str:
        return base64.b64encode(self.private.sign(bytes.fromhex(h))).decode()


def make_record(
    key: TestKey,
    *,
    arxiv_id: str = "2601.00001",
    version: int = 1,
    title: str = "A synthetic paper",
    authors: str = "A. Author, B. Author",
    submitted_at: str = "2026-01-02T03:04:05Z",
    primary_cat: str = "cs.LG",
    cross_cats: list[str] | None = None,
    license: str = "http://creativecommons.org/licenses/by/4.0/",
    abstract: str = "An abstract.",
    signed_at: str = "2026-05-26T02:04:46.467688Z",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A full record in upstream key order, with a valid receipt by ``key``."""
    canonical = {
        "source": {"id": arxiv_id, "kind": "arxiv", "version": version},
        "metadata": {
            "license": license,
            "primary_cat": primary_cat,
            "submitted_at": submitted_at,
            "cross_cats_sorted": sorted(cross_cats or []),
            "title_canon_sha256": title_canon_sha256(title),
            "abstract_canon_sha256": title_canon_sha256(abstract),
        },
        "schema_version": "1.0",
    }
    h = hashlib.sha256(canonical_json(canonical)).hexdigest()
    suffix = suffix_from_hash(h)
    record: dict[str, Any] = {
        "record_type": "pith_number_record",
        "schema_url": "https://pith.science/schemas/pith-number/v1.json",
        "pith_number": pith_number(submitted_at[:4], suffix),
        "short_pith_number": short_pith_number(suffix),
        "schema_version": "1.0",
        "canonical_sha256": h,
        "source": {"kind": "arxiv", "id": arxiv_id, "version": version},
        "attestation_state": "computed",
        "paper": {
            "title": title,
            "license": license,
            "cross_cats": sorted(cross_cats or []),
            "primary_cat": primary_cat,
            "authors_text": authors,
            "submitted_at": submitted_at,
            "abstract_excerpt": abstract[:600],
        },
        "canonical_record": canonical,
        "receipt": {
            "kind": "pith_receipt",
            "key_id": key.key_id,
            "algorithm": "ed25519",
            "signed_at": signed_at,
            "signature_b64": key.sign_hash(h),
            "signed_message": "canonical_sha256_bytes",
            "builder_version": "synthetic",
            "receipt_version": "0.3",
            "canonical_sha256": h,
            "signature_status": "signed_v1",
            "public_key_fingerprint": key.fingerprint,
        },
        "aliases": [
            {"alias_kind": k, "alias_value": v, "created_at": signed_at}
            for k, v in derived_aliases(suffix, arxiv_id, version).items()
        ],
        "links": {
            "html": f"https://pith.science/pith/{suffix}",
            "json": f"https://pith.science/pith/{suffix}.json",
        },
    }
    if extra:
        record.update(extra)
    return record


def resign(record: dict[str, Any], key: TestKey) -> dict[str, Any]:
    """Recompute hash, identifiers and receipt after ``canonical_record`` was edited."""
    h = hashlib.sha256(canonical_json(record["canonical_record"])).hexdigest()
    suffix = suffix_from_hash(h)
    src = record["canonical_record"]["source"]
    record["canonical_sha256"] = h
    record["pith_number"] = pith_number(record["canonical_record"]["metadata"]["submitted_at"][:4], suffix)
    record["short_pith_number"] = short_pith_number(suffix)
    record["receipt"]["canonical_sha256"] = h
    record["receipt"]["signature_b64"] = key.sign_hash(h)
    record["aliases"] = [
        {"alias_kind": k, "alias_value": v}
        for k, v in derived_aliases(suffix, src["id"], src["version"]).items()
    ]
    return record


def random_record(key: TestKey, rng: random.Random, n: int) -> dict[str, Any]:
    """A varied record (non-ASCII, LaTeX) for benchmarks; deterministic in ``rng``."""
    year = rng.randint(2008, 2026)
    month = rng.randint(1, 12)
    title = _random_text(rng, rng.randint(4, 12), 1 if rng.random() < 0.15 else 0)
    authors = ", ".join(
        sorted(f"{rng.choice('ABCDEFGHJKLM')}. {rng.choice(_NAMES)}" for _ in range(rng.randint(1, 6)))
    )
    primary = rng.choice(_CATS)
    cross = sorted({rng.choice(_CATS) for _ in range(rng.randint(0, 2))} - {primary})
    abstract = _random_text(rng, rng.randint(40, 110), rng.randint(1, 4) if rng.random() < 0.4 else 0)
    return make_record(
        key,
        arxiv_id=f"{year % 100:02d}{month:02d}.{n % 100000:05d}",
        version=rng.randint(1, 3),
        title=title,
        authors=authors,
        submitted_at=f"{year}-{month:02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
        primary_cat=primary,
        cross_cats=cross,
        abstract=abstract,
    )


def dump_record(record: dict[str, Any]) -> bytes:
    """Upstream style: one line, key order kept, non-ASCII as is."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- open graph: bundles, states, integrity files (PROTOCOL.md §6-7) ----------------------------
# Event ids and event signatures below follow no published rule (there is none): they only give
# synthetic events the shape seen on real ones. The mirror never treats them as verified.


def _signer(key: TestKey) -> dict[str, str]:
    return {
        "key_id": key.key_id,
        "public_key_fingerprint": key.fingerprint,
        "signer_id": "pith.science",
        "signer_type": "pith_registry",
    }


def make_event(
    key: TestKey,
    record: dict[str, Any],
    event_type: str,
    target: str,
    payload: dict[str, Any],
    created_at: str,
) -> dict[str, Any]:
    """A bundle event with a synthetic id and signature (neither follows a published rule)."""
    body: dict[str, Any] = {
        "event_type": event_type,
        "subject_pith_number": record["pith_number"],
        "target": target,
        "payload": payload,
        "created_at": created_at,
        "signer": _signer(key),
    }
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    return {
        "event_id": f"sha256:{digest}",
        **body,
        "signature_b64": key.sign_hash(digest),
    }


def make_bundle(
    key: TestKey,
    record: dict[str, Any],
    *,
    graph_snapshots: int = 1,
    created_at: str = "2026-05-18T01:16:39Z",
) -> dict[str, Any]:
    """A bundle for ``record``: a record_created event, then ``graph_snapshots`` graph events."""
    record = copy.deepcopy(record)
    created: dict[str, Any] = copy.deepcopy(
        {
            "canonical_record": record["canonical_record"],
            "canonical_sha256": record["canonical_sha256"],
            "receipt": record["receipt"],
        }
    )
    events = [make_event(key, record, "record_created", "record", created, created_at)]
    for n in range(graph_snapshots):
        snapshot = {
            "graph_snapshot": {
                "builder_version": "synthetic",
                "claims": {"count": n, "items": []},
                "references": {"count": 10 + n, "resolved_work": n},
            }
        }
        events.append(
            make_event(key, record, "graph_snapshot", "graph", snapshot, f"2026-05-19T00:00:{n:02d}Z")
        )
    return {
        "bundle_type": "pith_open_graph_bundle",
        "bundle_version": "1.0",
        "pith_number": record["pith_number"],
        "short_pith_number": record["short_pith_number"],
        "canonical_record": record["canonical_record"],
        "canonical_sha256": record["canonical_sha256"],
        "source": record["source"],
        "source_aliases": [
            {"alias_kind": a["alias_kind"], "alias_value": a["alias_value"], "created_at": created_at}
            for a in record["aliases"]
        ],
        "events": events,
    }


def make_state(bundle: dict[str, Any]) -> dict[str, Any]:
    """The state Pith would publish for a bundle whose events are all valid."""
    bundle = copy.deepcopy(bundle)
    snapshots = [
        {k: e[k] for k in ("event_id", "target", "created_at", "signer", "payload")}
        for e in bundle["events"]
        if e.get("target") == "graph"
    ]
    return {
        "state_type": "pith_open_graph_state",
        "state_version": "1.0",
        "pith_number": bundle["pith_number"],
        "merge_version": "pith-open-graph-merge-v1",
        "event_count": len(bundle["events"]),
        "valid_event_count": len(bundle["events"]),
        "invalid_event_count": 0,
        "equivocation_count": 0,
        "current": {
            "canonical_record": bundle["canonical_record"],
            "source_aliases": bundle["source_aliases"],
            "graph_snapshots": snapshots,
        },
    }


def make_finding(
    arxiv_id: str,
    *,
    detector: str = "doi_compliance",
    finding_type: str = "unresolvable_identifier",
    severity: str = "advisory",
    note: str = "A DOI could not be resolved.",
    ref_index: int = 1,
    audited_at: str = "2026-05-20T02:09:54.095816Z",
) -> dict[str, Any]:
    return {
        "event_type": "pith.integrity.v1",
        "detector": detector,
        "detector_version": "1.0.0",
        "finding_type": finding_type,
        "verdict_class": "incontrovertible",
        "severity": severity,
        "arxiv_id": arxiv_id,
        "evidence_hash": hashlib.sha256(f"{detector}:{ref_index}".encode()).hexdigest(),
        "evidence": {"ref_index": ref_index},
        "note": note,
        "ref_index": ref_index,
        "audited_at": audited_at,
    }


def sign_integrity_event(
    key: TestKey, payload: dict[str, Any], event_id: int, created_at: str = "2026-05-20T02:12:39.541617+00:00"
) -> dict[str, Any]:
    """An integrity event: Ed25519 over the 32 raw bytes of sha256(canonical_json(payload))."""
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    return {
        "event_id": event_id,
        "event_type": "pith.integrity.v1",
        "payload_sha256": digest,
        "signature_b64": key.sign_hash(digest),
        "signing_key_id": key.key_id,
        "created_at": created_at,
        "payload": payload,
    }


def make_integrity(key: TestKey, arxiv_id: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """An integrity.json for ``arxiv_id`` whose events sign ``findings``."""
    counts = {
        s: sum(1 for f in findings if f["severity"] == s) for s in ("critical", "advisory", "informational")
    }
    return {
        "schema": "https://pith.science/schemas/pith-integrity/v1.json",
        "pith_number": arxiv_id,
        "arxiv_id": arxiv_id,
        "integrity": {
            "available": True,
            "endpoint": f"/pith/{arxiv_id}/integrity.json",
            "summary": {**counts, "by_detector": {}},
            "clean": not findings,
            "detectors_run": [
                {
                    "name": "doi_compliance",
                    "version": "1.0.0",
                    "status": "completed",
                    "ran_at": "2026-05-20T02:09:54.095816Z",
                    "findings_count": len(findings),
                }
            ],
            "findings": [
                {
                    k: f[k]
                    for k in ("detector", "finding_type", "severity", "verdict_class", "note", "audited_at")
                }
                for f in findings
            ],
            "snapshot_sha256": hashlib.sha256(canonical_json(findings)).hexdigest(),
        },
        "events": [sign_integrity_event(key, f, 100 + i) for i, f in enumerate(findings)],
    }


def dump_doc(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def mirror_files(
    key: TestKey,
    record: dict[str, Any],
    *,
    bundle: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    integrity: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """relative path -> bytes of one record laid out like a mirror (see sources/local.py).

    ``bundle``/``state``/``integrity`` default to valid documents; pass ``{}`` to leave one out.
    """
    suffix = suffix_from_hash(record["canonical_sha256"])
    arxiv_id = record["canonical_record"]["source"]["id"]
    if bundle is None:
        bundle = make_bundle(key, record)
    if state is None:
        state = make_state(bundle) if bundle else {}
    if integrity is None:
        integrity = make_integrity(key, arxiv_id, [make_finding(arxiv_id)])
    files = {f"pith/{suffix}.json": dump_record(record)}
    if bundle:
        files[f"pith/{suffix}/bundle.json"] = dump_doc(bundle)
    if state:
        files[f"pith/{suffix}/state.json"] = dump_doc(state)
    if integrity:
        files[f"pith/{arxiv_id}/integrity.json"] = dump_doc(integrity)
    return files
