"""The mirror index: a machine-readable list of what a site holds, for mirrors of mirrors.

Every site publishes::

    mirror-index/index.json     the top: format, record count, one entry per shard
    mirror-index/{AB}.json      one shard per 2-character SUFFIX prefix (at most 32*32 = 1,024)

A shard lists, for each record whose SUFFIX starts with its prefix (sorted by SUFFIX), the
SUFFIX, pith number, arXiv id, canonical hash, and the path, size and SHA-256 of every byte copy
the site publishes for it (the record itself, and each fetched endpoint copy). Files this
mirror derives itself are not listed: another mirror derives them the same way.

At 2.5 million records a shard holds about 2,400 records (~1.5 MB) and the top file ~1,024
entries (~150 KB). The index is deterministic: no build time, sorted throughout.

Nothing in an index is trusted by a reader: ``fetch --from`` re-verifies every record against
the keyring and checks every copy's bytes against the size and hash listed here.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from typing import Any

from generator import GENERATOR
from generator.columns import compact
from generator.errors import JsonError, MirrorIndexError, OutputError
from generator.identifiers import HEX64_RE, SUFFIX_RE, is_arxiv_id
from generator.paths import safe_rel
from generator.render.cached import CachedPage, suffix_shard_keys
from generator.render.site import OutputFile
from generator.sources.remote import DEFAULT_KINDS, RECORD, site_path
from generator.strictjson import loads_strict
from generator.summaries import SummaryStore

INDEX_DIR = "mirror-index"
TOP = f"{INDEX_DIR}/index.json"
PREFIX_LEN = 2
INDEX_TYPE = "pith_mirror_index"
SHARD_TYPE = "pith_mirror_index_shard"
INDEX_VERSION = "1"
MAX_INDEX_BYTES = 64 * 1024 * 1024
KINDS = (RECORD, *DEFAULT_KINDS)


def shard_path(prefix: str) -> str:
    return f"{INDEX_DIR}/{prefix}.json"


def _dump(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class IndexFile:
    kind: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class IndexEntry:
    suffix: str
    pith_number: str
    arxiv_id: str
    canonical_sha256: str
    files: tuple[IndexFile, ...]

    def file(self, kind: str) -> IndexFile | None:
        for f in self.files:
            if f.kind == kind:
                return f
        return None


@dataclass(frozen=True)
class ShardRef:
    prefix: str
    path: str
    records: int
    size: int
    sha256: str


# -- writing (a site step) ------------------------------------------------------------------
def _is_derived(data: bytes) -> bool:
    if b"pith_mirror_derived" not in data:
        return False
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("pith_mirror_derived") is True


def record_entry(
    suffix: str, pith_number: str, arxiv_id: str, canonical_sha256: str, outputs: Iterable[str], read: Any
) -> dict[str, Any]:
    """One index entry: every byte copy among a record's published ``outputs``."""
    published = set(outputs)
    files = []
    for kind in KINDS:
        try:
            rel = site_path(kind, suffix, arxiv_id)
        except OutputError:
            continue
        if rel not in published:
            continue
        data: bytes = read(rel)
        if kind != RECORD and _is_derived(data):
            continue
        files.append(
            {"kind": kind, "path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    return {
        "suffix": suffix,
        "pith_number": pith_number,
        "arxiv_id": arxiv_id,
        "canonical_sha256": canonical_sha256,
        "files": files,
    }


def _shard_bytes(prefix: str, entry_texts: list[str]) -> bytes:
    """A shard from its entries, each already serialised by ``columns.compact`` (the same
    bytes as ``_dump`` of the whole shard)."""
    head = {"index_type": SHARD_TYPE, "index_version": INDEX_VERSION, "prefix": prefix, "records": []}
    before, after = _dump(head).decode().rsplit("[]", 1)
    return (before + "[" + ",".join(entry_texts) + "]" + after).encode()


def mirror_index_files(ctx: Any) -> Iterator[OutputFile | CachedPage]:
    """Site step (``build.SITE_STEPS``): the index of the records in ``ctx.records``.

    From a summary table, each shard is a ``CachedPage`` keyed by its records' stored entries'
    SHA-256s (column ``mindex_sha256``, read from an index). The top lists every shard's size and
    SHA-256: for a shard the previous build wrote under the same key (the writer keeps it) they
    are that file's, from the build's file table; other shards are made here."""
    if isinstance(ctx.records, SummaryStore):
        yield from _from_table(ctx.records.db, ctx.touched)
        return
    staging = ctx.staging

    def read(rel: str) -> bytes:
        return bytes((staging / safe_rel(rel)).read_bytes())

    shards = []
    total = 0
    entries = (
        (
            s.suffix,
            compact(record_entry(s.suffix, s.pith_number, s.arxiv_id, s.canonical_sha256, s.outputs, read)),
        )
        for s in ctx.records
    )
    for prefix, group in groupby(entries, key=lambda e: e[0][:PREFIX_LEN]):
        texts = [text for _suffix, text in group]
        data = _shard_bytes(prefix, texts)
        total += len(texts)
        shards.append(_shard_ref(prefix, len(texts), len(data), hashlib.sha256(data).hexdigest()))
        yield OutputFile(shard_path(prefix), data)
    yield _top(total, shards)


def _from_table(db: sqlite3.Connection, touched: frozenset[str] | None) -> Iterator[OutputFile | CachedPage]:
    shards = []
    total = 0
    held_shards = _held_shards(db)
    for prefix, count, key in suffix_shard_keys(
        db, "mirror-index", "mindex_sha256", PREFIX_LEN, shard_path, touched
    ):
        path = shard_path(prefix)
        total += count
        held = held_shards.get((path, key))
        if held is not None:
            sha, size = held
            made = partial(_shard_file, db, prefix)
        else:
            out = _shard_file(db, prefix)
            sha, size = hashlib.sha256(out.data).hexdigest(), len(out.data)
            made = partial(lambda f: f, out)
        shards.append(_shard_ref(prefix, count, size, sha))
        yield CachedPage(path, key, made)
    yield _top(total, shards)


def _held_shards(db: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, int]]:
    """(path, key) -> (SHA-256, size) of each shard the previous build wrote under a key and
    still lists (at most 1,024), in one query. A shard's row changes only when the writer takes
    that shard, after ``_from_table`` looked it up: read first, the rows are as read one by one."""
    cur = db.execute(
        "SELECT k.rel, k.key, f.sha256, f.size FROM page_keys k JOIN files f USING (rel) "
        "WHERE k.rel >= ? AND k.rel < ?",
        (f"{INDEX_DIR}/", f"{INDEX_DIR}0"),  # "0" follows "/"
    )
    return {(str(rel), str(key)): (str(sha), int(size)) for rel, key, sha, size in cur}


def _shard_file(db: sqlite3.Connection, prefix: str) -> OutputFile:
    cur = db.execute(
        "SELECT suffix, mindex FROM summaries WHERE suffix >= ? AND suffix < ? ORDER BY suffix",
        (prefix, prefix + "~"),
    )
    texts = []
    for suffix, text in cur:
        if str(suffix)[:PREFIX_LEN] != prefix:
            raise OutputError(f"{suffix}: not in mirror-index shard {prefix}")
        texts.append(str(text))
    return OutputFile(shard_path(prefix), _shard_bytes(prefix, texts))


def _shard_ref(prefix: str, records: int, size: int, sha256: str) -> dict[str, Any]:
    return {"prefix": prefix, "path": shard_path(prefix), "records": records, "size": size, "sha256": sha256}


def _top(total: int, shards: list[dict[str, Any]]) -> OutputFile:
    return OutputFile(
        TOP,
        _dump(
            {
                "index_type": INDEX_TYPE,
                "index_version": INDEX_VERSION,
                "generator": GENERATOR,
                "shard_key": "suffix_prefix",
                "prefix_length": PREFIX_LEN,
                "records": total,
                "shards": shards,
            }
        ),
    )


# -- reading (fetch --from) -----------------------------------------------------------------
def _bad(url: str, detail: str) -> MirrorIndexError:
    return MirrorIndexError("index_malformed", url, detail)


def _load(data: bytes, url: str, index_type: str) -> dict[str, Any]:
    try:
        doc = loads_strict(data, url, max_bytes=MAX_INDEX_BYTES)
    except JsonError as exc:
        raise _bad(url, f"{exc.code}: {exc.detail}") from None
    if not isinstance(doc, dict) or doc.get("index_type") != index_type:
        raise _bad(url, f"not a {index_type} document")
    if doc.get("index_version") != INDEX_VERSION:
        raise _bad(url, f"index_version {str(doc.get('index_version'))[:20]!r}, expected {INDEX_VERSION!r}")
    return doc


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_top(data: bytes, url: str) -> list[ShardRef]:
    doc = _load(data, url, INDEX_TYPE)
    shards = doc.get("shards")
    if not isinstance(shards, list):
        raise _bad(url, "no shards list")
    out = []
    seen = set()
    for n, item in enumerate(shards):
        if not isinstance(item, dict):
            raise _bad(url, f"shard {n} is not an object")
        prefix, path = item.get("prefix"), item.get("path")
        if (
            not isinstance(prefix, str)
            or SUFFIX_RE.fullmatch(prefix + "A" * (26 - len(prefix))) is None
            or len(prefix) != PREFIX_LEN
            or path != shard_path(prefix)
            or prefix in seen
            or not _int(item.get("records"))
            or not _int(item.get("size"))
            or not isinstance(item.get("sha256"), str)
            or HEX64_RE.fullmatch(item["sha256"]) is None
        ):
            raise _bad(url, f"shard {n} is malformed: {json.dumps(item)[:200]}")
        seen.add(prefix)
        out.append(ShardRef(prefix, path, item["records"], item["size"], item["sha256"]))
    return out


def parse_shard(data: bytes, url: str, ref: ShardRef) -> list[IndexEntry]:
    if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
        raise MirrorIndexError(
            "index_mismatch", url, "shard does not have the size and SHA-256 the top index gives"
        )
    doc = _load(data, url, SHARD_TYPE)
    if doc.get("prefix") != ref.prefix or not isinstance(doc.get("records"), list):
        raise _bad(url, "shard prefix or records list malformed")
    entries = [_entry(item, url, ref.prefix) for item in doc["records"]]
    if len(entries) != ref.records:
        raise _bad(url, f"{len(entries)} records, top index says {ref.records}")
    return entries


def _entry(item: Any, url: str, prefix: str) -> IndexEntry:
    if not isinstance(item, dict):
        raise _bad(url, "a record entry is not an object")
    suffix, arxiv_id = item.get("suffix"), item.get("arxiv_id")
    h, pn = item.get("canonical_sha256"), item.get("pith_number")
    where = json.dumps(item)[:160]
    if (
        not isinstance(suffix, str)
        or SUFFIX_RE.fullmatch(suffix) is None
        or not suffix.startswith(prefix)
        or not isinstance(arxiv_id, str)
        or not is_arxiv_id(arxiv_id)
        or not isinstance(h, str)
        or HEX64_RE.fullmatch(h) is None
        or not isinstance(pn, str)
        or not isinstance(item.get("files"), list)
    ):
        raise _bad(url, f"record entry malformed: {where}")
    files = []
    kinds = set()
    for f in item["files"]:
        if not isinstance(f, dict) or f.get("kind") not in KINDS or f["kind"] in kinds:
            raise _bad(url, f"file entry malformed in {where}")
        kind = f["kind"]
        if (
            f.get("path") != site_path(kind, suffix, arxiv_id)
            or not _int(f.get("size"))
            or not isinstance(f.get("sha256"), str)
            or HEX64_RE.fullmatch(f["sha256"]) is None
        ):
            raise _bad(url, f"file entry for {kind} of {suffix} malformed (path must be the published one)")
        kinds.add(kind)
        files.append(IndexFile(kind, f["path"], f["size"], f["sha256"]))
    if RECORD not in kinds:
        raise _bad(url, f"entry for {suffix} lists no record copy")
    return IndexEntry(suffix, pn, arxiv_id, h, tuple(files))
