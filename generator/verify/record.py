"""Verification of one Pith record (PROTOCOL.md §1-3). Each rule lives in one function here."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from generator.errors import JsonError, VerificationError
from generator.identifiers import (
    CATEGORY_RE,
    HEX64_RE,
    TIMESTAMP_RE,
    derived_aliases,
    is_arxiv_id,
    pith_number,
    short_pith_number,
    suffix_from_hash,
    title_canon_sha256,
)
from generator.keyring import Keyring, PinnedKey, parse_time
from generator.sources import RawRecord
from generator.strictjson import MAX_BYTES, canonical_json, loads_object

# status words shown on pages and in the report
VERIFIED = "verified"  # recomputed here from signed data
UNSIGNED = "unsigned"  # carried from upstream, not covered by the signature
NOT_CHECKED = "not-checked"  # no published rule, or not enough data to check
WARNING = "warning"  # upstream data disagrees with signed data; the signed value is shown


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class VerifiedRecord:
    """A record whose hash, identifiers and receipt all verified against the pinned keyring."""

    raw: bytes
    where: str
    doc: dict[str, Any]
    canonical: dict[str, Any]
    canonical_sha256: str
    suffix: str
    pith_number: str
    short_pith_number: str
    arxiv_id: str
    version: int
    key: PinnedKey
    signature_b64: str
    signed_at: str | None
    title: str | None
    checks: tuple[Check, ...] = field(default=())
    endpoints: tuple[tuple[str, bytes], ...] = ()
    notes: tuple[str, ...] = ()
    origin_url: str | None = None
    fetched_at: str | None = None

    def endpoint(self, kind: str) -> bytes | None:
        """Fetched bytes of another endpoint of this record (not verified by this class)."""
        for name, data in self.endpoints:
            if name == kind:
                return data
        return None

    @cached_property
    def raw_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.canonical["metadata"]
        return meta

    @property
    def submitted_at(self) -> str:
        value: str = self.metadata["submitted_at"]
        return value


_CANON_KEYS = {"source", "metadata", "schema_version"}
_SOURCE_KEYS = {"id", "kind", "version"}
_META_KEYS = {
    "license",
    "primary_cat",
    "submitted_at",
    "cross_cats_sorted",
    "title_canon_sha256",
    "abstract_canon_sha256",
}


def _fail(code: str, where: str, detail: str) -> VerificationError:
    return VerificationError(code, where, detail)


def _walk_for_floats(value: Any, path: str, where: str) -> None:
    """Refuse a float anywhere in ``value``; the error names the first one's path (which is
    only spelled out once a float is found)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            raise JsonError(
                "float_in_canonical", where, f"float at {_float_path(value, path)}: floats never occur"
            )


def _float_path(value: Any, path: str) -> str:
    stack = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, float):
            return at
        if isinstance(item, dict):
            stack.extend((v, f"{at}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))
    return path


def check_canonical_shape(canonical: Any, where: str) -> tuple[str, int]:
    """The published shape of ``canonical_record`` (§2). Returns (arXiv id, version)."""
    if not isinstance(canonical, dict):
        raise _fail("canonical_schema", where, "canonical_record is not an object")
    _walk_for_floats(canonical, "canonical_record", where)

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise _fail("canonical_schema", where, what)

    need(
        set(canonical) == _CANON_KEYS,
        f"canonical_record keys {sorted(canonical)} != {sorted(_CANON_KEYS)}",
    )
    need(canonical["schema_version"] == "1.0", "schema_version must be '1.0'")
    source, meta = canonical["source"], canonical["metadata"]
    need(
        isinstance(source, dict) and set(source) == _SOURCE_KEYS,
        "source must have id, kind, version",
    )
    need(source["kind"] == "arxiv", "source.kind must be 'arxiv'")
    version = source["version"]
    need(type(version) is int and 1 <= version < 10_000, "source.version must be a positive integer")
    arxiv_id = source["id"]
    if not isinstance(arxiv_id, str) or not is_arxiv_id(arxiv_id):
        raise _fail("bad_identifier", where, f"source.id {str(arxiv_id)[:80]!r} is not an arXiv id")
    need(
        isinstance(meta, dict) and set(meta) == _META_KEYS,
        f"metadata keys must be {sorted(_META_KEYS)}",
    )
    need(isinstance(meta["license"], str), "metadata.license must be a string")
    need(
        isinstance(meta["primary_cat"], str) and CATEGORY_RE.fullmatch(meta["primary_cat"]) is not None,
        "metadata.primary_cat must be an arXiv category",
    )
    need(
        isinstance(meta["submitted_at"], str) and TIMESTAMP_RE.fullmatch(meta["submitted_at"]) is not None,
        "metadata.submitted_at must be YYYY-MM-DDTHH:MM:SSZ",
    )
    cats = meta["cross_cats_sorted"]
    need(
        isinstance(cats, list) and all(isinstance(c, str) and CATEGORY_RE.fullmatch(c) for c in cats),
        "metadata.cross_cats_sorted must be a list of categories",
    )
    need(cats == sorted(cats), "metadata.cross_cats_sorted is not sorted")
    for name in ("title_canon_sha256", "abstract_canon_sha256"):
        need(
            isinstance(meta[name], str) and HEX64_RE.fullmatch(meta[name]) is not None,
            f"metadata.{name} must be 64 lower-case hex digits",
        )
    return arxiv_id, version


def check_hash(doc: dict[str, Any], where: str) -> str:
    """canonical_sha256 == sha256(canonical_json(canonical_record))."""
    claimed = doc.get("canonical_sha256")
    if claimed is None:
        raise _fail("hash_missing", where, "no canonical_sha256")
    computed = hashlib.sha256(canonical_json(doc["canonical_record"])).hexdigest()
    if claimed != computed:
        raise _fail(
            "hash_mismatch",
            where,
            f"canonical_sha256 is {str(claimed)[:64]!r}, the canonical JSON hashes to {computed}",
        )
    return computed


def check_identifiers(
    doc: dict[str, Any], h: str, arxiv_id: str, version: int, where: str, suffix: str | None = None
) -> list[Check]:
    """pith_number, short_pith_number, source and aliases all derive from the record (``suffix``:
    the SUFFIX of ``h``, when the caller has it already)."""
    suffix = suffix or suffix_from_hash(h)
    year = doc["canonical_record"]["metadata"]["submitted_at"][:4]
    checks = []
    expect = pith_number(year, suffix)
    if "pith_number" in doc:
        if doc["pith_number"] != expect:
            raise _fail(
                "pith_number_mismatch",
                where,
                f"pith_number is {str(doc['pith_number'])[:80]!r}, the hash gives {expect}",
            )
        checks.append(Check("pith_number", VERIFIED, f"{expect} derives from the hash"))
    if "short_pith_number" in doc:
        short = short_pith_number(suffix)
        if doc["short_pith_number"] != short:
            raise _fail(
                "short_number_mismatch",
                where,
                f"short_pith_number is {str(doc['short_pith_number'])[:40]!r}, expected {short}",
            )
        checks.append(Check("short_pith_number", VERIFIED, f"{short} derives from the hash"))
    if "source" in doc:
        if doc["source"] != doc["canonical_record"]["source"]:
            raise _fail("source_mismatch", where, "source differs from canonical_record.source")
        checks.append(Check("source", VERIFIED, "equals canonical_record.source"))
    aliases = doc.get("aliases")
    if aliases is not None:
        derived = derived_aliases(suffix, arxiv_id, version)
        if not isinstance(aliases, list):
            raise _fail("alias_mismatch", where, "aliases is not a list")
        unknown = []
        for i, alias in enumerate(aliases):
            if not isinstance(alias, dict) or not isinstance(alias.get("alias_kind"), str):
                raise _fail("alias_mismatch", where, f"aliases[{i}] has no alias_kind")
            kind, value = alias["alias_kind"], alias.get("alias_value")
            if kind in derived:
                if value != derived[kind]:
                    raise _fail(
                        "alias_mismatch",
                        where,
                        f"alias {kind} is {str(value)[:80]!r}, expected {derived[kind]!r}",
                    )
            else:
                unknown.append(kind)
        checks.append(Check("aliases", VERIFIED, "every alias of a published kind derives from the record"))
        if unknown:
            checks.append(
                Check(
                    "aliases",
                    NOT_CHECKED,
                    f"{len(unknown)} alias(es) of a kind with no published rule, carried as is",
                )
            )
    return checks


def check_title(doc: dict[str, Any], where: str) -> tuple[str | None, list[Check]]:
    paper = doc.get("paper")
    title = paper.get("title") if isinstance(paper, dict) else None
    if title is None:
        return None, [Check("title", NOT_CHECKED, "the record carries no title")]
    if not isinstance(title, str):
        raise _fail("title_hash_mismatch", where, "paper.title is not a string")
    expected = doc["canonical_record"]["metadata"]["title_canon_sha256"]
    if title_canon_sha256(title) != expected:
        raise _fail(
            "title_hash_mismatch",
            where,
            f"paper.title hashes to {title_canon_sha256(title)}, the signed hash is {expected}",
        )
    return title, [Check("title", VERIFIED, "paper.title hashes to the signed title_canon_sha256")]


def check_paper_fields(doc: dict[str, Any]) -> list[Check]:
    """Unsigned display fields that repeat signed ones: a disagreement is a warning, not a guess."""
    paper = doc.get("paper")
    if not isinstance(paper, dict):
        return []
    meta = doc["canonical_record"]["metadata"]
    checks = []
    pairs = [("primary_cat", "primary_cat"), ("license", "license")]
    for pfield, mfield in pairs:
        if pfield in paper and paper[pfield] != meta[mfield]:
            checks.append(
                Check(
                    f"paper.{pfield}",
                    WARNING,
                    f"differs from the signed metadata.{mfield}; the signed value is shown",
                )
            )
    if "cross_cats" in paper:
        cc = paper["cross_cats"]
        if not isinstance(cc, list) or sorted(map(str, cc)) != meta["cross_cats_sorted"]:
            checks.append(
                Check(
                    "paper.cross_cats",
                    WARNING,
                    "differs from the signed cross_cats_sorted; the signed value is shown",
                )
            )
    excerpt = paper.get("abstract_excerpt")
    if isinstance(excerpt, str) and excerpt:
        if title_canon_sha256(excerpt) == meta["abstract_canon_sha256"]:
            checks.append(
                Check(
                    "abstract",
                    VERIFIED,
                    "the excerpt is the whole abstract and hashes to the signed value",
                )
            )
        else:
            checks.append(
                Check(
                    "abstract",
                    NOT_CHECKED,
                    "only an excerpt is carried; the signed abstract hash cannot be checked",
                )
            )
    return checks


def _receipt_time(receipt: dict[str, Any]) -> tuple[str | None, datetime | None]:
    for name in ("signed_at", "last_reissued_at", "first_computed_at"):
        value = receipt.get(name)
        if isinstance(value, str):
            try:
                return value, parse_time(value)
            except ValueError:
                return value, None
    return None, None


def check_receipt(
    doc: dict[str, Any], h: str, keyring: Keyring, where: str
) -> tuple[PinnedKey, str, str | None]:
    """Ed25519 over the 32 raw bytes of H, by a pinned key matched on its fingerprint."""
    receipt = doc.get("receipt")
    if receipt is None:
        raise _fail("no_receipt", where, "the record carries no receipt: it cannot be published as verified")
    if not isinstance(receipt, dict):
        raise _fail("receipt_malformed", where, "receipt is not an object")
    expected = {
        "kind": "pith_receipt",
        "algorithm": "ed25519",
        "signed_message": "canonical_sha256_bytes",
        "signature_status": "signed_v1",
    }
    for name, value in expected.items():
        if name in receipt and receipt[name] != value:
            raise _fail(
                "receipt_malformed",
                where,
                f"receipt.{name} is {str(receipt[name])[:40]!r}, expected {value!r}",
            )
    if receipt.get("canonical_sha256", h) != h:
        raise _fail(
            "receipt_hash_mismatch",
            where,
            f"receipt.canonical_sha256 {str(receipt['canonical_sha256'])[:64]!r} != record hash {h}",
        )
    sig_b64 = receipt.get("signature_b64")
    if not isinstance(sig_b64, str):
        raise _fail("receipt_malformed", where, "receipt.signature_b64 is missing")
    try:
        signature = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        raise _fail("receipt_malformed", where, "receipt.signature_b64 is not valid base64") from None
    if len(signature) != 64:
        raise _fail(
            "receipt_malformed",
            where,
            f"signature is {len(signature)} bytes, an Ed25519 signature is 64",
        )
    fingerprint = receipt.get("public_key_fingerprint")
    hint = receipt.get("key_id")
    if fingerprint is None:
        # A receipt that names no fingerprint: every pinned key is tried and the signature decides.
        candidates = list(keyring.keys)
        fingerprint = "none given"
    elif not isinstance(fingerprint, str):
        raise _fail("receipt_malformed", where, "receipt.public_key_fingerprint is not a string")
    else:
        candidates = keyring.by_fingerprint(fingerprint)
    if not candidates:
        raise _fail(
            "unknown_key",
            where,
            f"no pinned key has fingerprint {fingerprint[:40]!r} (key_id hint {str(hint)[:40]!r})",
        )
    signed_text, signed_time = _receipt_time(receipt)
    message = bytes.fromhex(h)
    verified_by = [k for k in candidates if k.verify(signature, message)]
    if not verified_by:
        raise _fail(
            "bad_signature",
            where,
            f"signature does not verify with pinned key {candidates[0].key_id} "
            f"(fingerprint {fingerprint})"
            + (f" or {len(candidates) - 1} other pinned key(s)" if len(candidates) > 1 else ""),
        )
    for key in verified_by:
        if key.valid_at(signed_time):
            return key, sig_b64, signed_text
    raise _fail(
        "key_not_valid",
        where,
        f"key {verified_by[0].key_id} was not valid at signing time {signed_text!r}",
    )


def verify_record(raw: RawRecord, keyring: Keyring, *, max_bytes: int = MAX_BYTES) -> VerifiedRecord:
    """Parse strictly and verify every published rule; raise ``RecordError`` on the first failure."""
    where = raw.where
    doc = loads_object(raw.data, where, max_bytes=max_bytes)
    if isinstance(doc.get("pith_number"), str):
        where = f"{where} ({doc['pith_number'][:60]})"
    if "canonical_record" not in doc:
        raise _fail("canonical_schema", where, "no canonical_record")
    arxiv_id, version = check_canonical_shape(doc["canonical_record"], where)
    h = check_hash(doc, where)
    checks = [Check("canonical_sha256", VERIFIED, "recomputed from canonical_record")]
    suffix = suffix_from_hash(h)
    checks += check_identifiers(doc, h, arxiv_id, version, where, suffix)
    title, title_checks = check_title(doc, where)
    checks += title_checks
    key, sig_b64, signed_at = check_receipt(doc, h, keyring, where)
    checks.append(
        Check(
            "receipt",
            VERIFIED,
            f"Ed25519 signature over the hash verifies with pinned key {key.key_id}",
        )
    )
    checks += check_paper_fields(doc)
    return VerifiedRecord(
        raw=raw.data,
        where=raw.where,
        doc=doc,
        canonical=doc["canonical_record"],
        canonical_sha256=h,
        suffix=suffix,
        pith_number=pith_number(doc["canonical_record"]["metadata"]["submitted_at"][:4], suffix),
        short_pith_number=short_pith_number(suffix),
        arxiv_id=arxiv_id,
        version=version,
        key=key,
        signature_b64=sig_b64,
        signed_at=signed_at,
        title=title,
        checks=tuple(checks),
        endpoints=raw.endpoints,
        notes=raw.notes,
        origin_url=raw.origin_url,
        fetched_at=raw.fetched_at,
    )
