"""The site manifest: every file's path, size and SHA-256, a root hash, and an optional signature.

Published at ``/.well-known/pith-mirror/``:

    manifest.json    this document (UTF-8 JSON: keys sorted and one-space indent, except that
                     ``files`` comes last with one compact object per line; final newline)
    manifest.sig     64 raw bytes: Ed25519 over the exact bytes of manifest.json (when signed)
    signing-key.pem  the operator's public key, SubjectPublicKeyInfo PEM (when signed)

The manifest lists every other file of the site and never these three. The root hash is
SHA-256 over the file list sorted by the UTF-8 bytes of each path, one line per file::

    <sha256 hex> SP <size in decimal> SP <path> LF

Everything in it derives from the built tree and the build's inputs, so two builds of the same
input give the same manifest (and, Ed25519 being deterministic, the same signature).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from generator import GENERATOR
from generator.errors import JsonError, OutputError
from generator.filelist import ROWS, entry_line, hash_line, kept_list_chunks, kept_lists, list_chunks
from generator.render.site import OutputFile
from generator.signing import PublicKey, load_signing_key
from generator.streamed import StreamedFile
from generator.strictjson import loads_object
from generator.summaries import FileHashes

if TYPE_CHECKING:
    from generator.build import SiteContext

WELL_KNOWN_DIR = ".well-known/pith-mirror"
MANIFEST_PATH = f"{WELL_KNOWN_DIR}/manifest.json"
SIGNATURE_PATH = f"{WELL_KNOWN_DIR}/manifest.sig"
PUBLIC_KEY_PATH = f"{WELL_KNOWN_DIR}/signing-key.pem"
UNLISTED = (MANIFEST_PATH, SIGNATURE_PATH, PUBLIC_KEY_PATH)
MANIFEST_TYPE = "pith_mirror_site_manifest"
MANIFEST_VERSION = "1"
ROOT_HASH_RULE = "sha256 over the files sorted by UTF-8 path, one line each: '<sha256> <size> <path>\\n'"
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


def path_key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def root_hash(entries: Iterable[FileEntry]) -> str:
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: path_key(e.path)):
        h.update(hash_line(e.path, e.sha256, e.size))
    return h.hexdigest()


def hash_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            h.update(chunk)
    return size, h.hexdigest()


def walk_tree(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every entry under ``root`` that is not a directory, as (relative POSIX path, path, lstat),
    sorted. Symlinks and special files are yielded too (callers decide what they mean)."""
    stack = [root]
    found: list[tuple[str, Path, os.stat_result]] = []
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                p = Path(entry.path)
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(p)
                else:
                    found.append((p.relative_to(root).as_posix(), p, st))
    found.sort(key=lambda t: path_key(t[0]))
    yield from found


def scan_site(root: Path, known: Mapping[str, tuple[str, int]] | None = None) -> list[FileEntry]:
    """The manifest's file list for a built tree: every regular file except the unlisted three.

    ``known`` maps paths to (sha256, size) that the build recorded as it wrote each file; such a
    file of the recorded size is not read again (the build's own hashes, not a cache)."""
    entries: list[FileEntry] = []
    for rel, p, st in walk_tree(root):
        if rel in UNLISTED:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{p}: not a regular file; a site holds only regular files")
        hit = known.get(rel) if known is not None else None
        if hit is not None and hit[1] == st.st_size:
            entries.append(FileEntry(rel, st.st_size, hit[0]))
            continue
        size, digest = hash_file(p)
        entries.append(FileEntry(rel, size, digest))
    return entries


def make_manifest(
    entries: list[FileEntry],
    *,
    build_time: str,
    build_time_basis: str,
    upstream: str,
    base_url: str | None,
    record_count: int,
    keyring: list[dict[str, str | None]],
    operator_key: PublicKey | None,
) -> bytes:
    doc = _manifest_doc(
        root_hash(entries),
        len(entries),
        sum(e.size for e in entries),
        build_time=build_time,
        build_time_basis=build_time_basis,
        upstream=upstream,
        base_url=base_url,
        record_count=record_count,
        keyring=keyring,
        operator_key=operator_key,
    )
    return dump_manifest(doc, entries)


def _manifest_doc(
    root: str,
    file_count: int,
    total_bytes: int,
    *,
    build_time: str,
    build_time_basis: str,
    upstream: str,
    base_url: str | None,
    record_count: int,
    keyring: list[dict[str, str | None]],
    operator_key: PublicKey | None,
) -> dict[str, Any]:
    return {
        "manifest_type": MANIFEST_TYPE,
        "manifest_version": MANIFEST_VERSION,
        "generator": GENERATOR,
        "build_time": build_time,
        "build_time_basis": build_time_basis,
        "upstream": upstream,
        "base_url": base_url,
        "record_count": record_count,
        "keyring": [
            {
                "key_id": k["key_id"],
                "algorithm": "ed25519",
                "public_key_hex": k["public_key_hex"],
                "fingerprint_sha256_hex": k["fingerprint_sha256_hex"],
            }
            for k in keyring
        ],
        "operator_key": (
            None
            if operator_key is None
            else {
                "algorithm": "ed25519",
                "public_key_hex": operator_key.hex,
                "fingerprint_sha256_hex": operator_key.fingerprint_hex,
                "signature_path": "/" + SIGNATURE_PATH,
                "public_key_path": "/" + PUBLIC_KEY_PATH,
                "signed_message": "the exact bytes of manifest.json",
            }
        ),
        "unlisted": ["/" + p for p in UNLISTED],
        "root_hash": {"algorithm": "sha256", "rule": ROOT_HASH_RULE, "value": root},
        "file_count": file_count,
        "total_bytes": total_bytes,
    }


def _entry_line(e: FileEntry) -> str:
    return entry_line(e.path, e.sha256, e.size)


def manifest_chunks(entries: Callable[[], Iterable[FileEntry]], **fields: Any) -> Iterator[bytes]:
    """``make_manifest``'s bytes as a stream, in constant memory. ``entries()`` is called twice
    and must yield the same entries, sorted by ``path_key``, each time."""
    h = hashlib.sha256()
    count = total = 0
    for e in entries():
        h.update(hash_line(e.path, e.sha256, e.size))
        count += 1
        total += e.size
    yield _head(h.hexdigest(), count, total, fields)
    if count == 0:
        return
    buf: list[str] = []
    sep = ""
    for e in entries():
        buf.append(sep + _entry_line(e))
        sep = ",\n"
        if len(buf) >= 4096:
            yield "".join(buf).encode("utf-8", "surrogateescape")
            buf = []
    buf.append("\n ]\n}\n")
    yield "".join(buf).encode("utf-8", "surrogateescape")


def _head(root: str, count: int, total: int, fields: dict[str, Any]) -> bytes:
    """The manifest up to its file list (the whole manifest when there are no files)."""
    head = json.dumps(
        _manifest_doc(root, count, total, **fields), sort_keys=True, indent=1, ensure_ascii=False
    )
    if count == 0:
        return f'{head[:-2]},\n "files": []\n}}\n'.encode()
    return f'{head[:-2]},\n "files": [\n'.encode()


def table_manifest_chunks(
    db: sqlite3.Connection,
    spool_dir: Path,
    *,
    rows: int = ROWS,
    keep: bool = False,
    based: bool = False,
    **fields: Any,
) -> Iterator[bytes]:
    """``manifest_chunks``'s bytes for the files of the build's ``files`` table, read once: the
    file list is built chunk by chunk (``filelist.list_chunks``) while the root hash is computed,
    kept in an anonymous temporary file in ``spool_dir`` (constant memory) and streamed from
    there after the head, which needs the root hash. With ``keep`` the chunks are kept in the
    database for the next build (and streamed from there, with no spool), and with ``based``
    too the previous build's are reused where no file changed (``filelist.kept_list_chunks``)."""
    h = hashlib.sha256()
    count = total = 0
    with contextlib.ExitStack() as stack:
        # kept chunks stay in the database: read without their JSON lines here, which are read
        # back in order after the head; other chunks' lines go to a spool file meanwhile
        spool = None if keep else stack.enter_context(tempfile.TemporaryFile(dir=spool_dir))
        chunks = (
            kept_list_chunks(db, UNLISTED, rows, changed=based, lists=False)
            if keep
            else list_chunks(db, UNLISTED, rows)
        )
        for chunk in chunks:
            h.update(chunk.hashed)
            if spool is not None:
                if count:
                    spool.write(b",\n")
                spool.write(chunk.listed)
            count += chunk.count
            total += chunk.total
        yield _head(h.hexdigest(), count, total, fields)
        if count == 0:
            return
        yield from _kept_lines(db) if spool is None else _spooled(spool)
        yield b"\n ]\n}\n"


def _kept_lines(db: sqlite3.Connection) -> Iterator[bytes]:
    for n, listed in enumerate(kept_lists(db)):
        yield b",\n" + listed if n else listed


def _spooled(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    while data := spool.read(_CHUNK):
        yield data


def dump_manifest(doc: dict[str, Any], entries: list[FileEntry]) -> bytes:
    """Keys sorted, one-space indent, then ``files`` last with one file per line (compact)."""
    head = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False)
    lines = ",\n".join(_entry_line(e) for e in entries)
    body = f'{head[:-2]},\n "files": [\n{lines}\n ]\n}}\n' if entries else f'{head[:-2]},\n "files": []\n}}\n'
    return body.encode("utf-8")


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest. Its claims are unverified until checked against the tree and a key."""

    raw: bytes
    doc: dict[str, Any]
    files: tuple[FileEntry, ...]
    root_hash: str
    build_time: str
    operator_key_hex: str | None


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Strict JSON, the documented shape, safe relative paths; raise ``JsonError`` otherwise."""
    doc = loads_object(data, where, max_bytes=MAX_MANIFEST_BYTES)

    def bad(detail: str) -> JsonError:
        return JsonError("manifest_invalid", where, detail)

    if doc.get("manifest_type") != MANIFEST_TYPE:
        raise bad(f"manifest_type is {str(doc.get('manifest_type'))[:60]!r}, expected {MANIFEST_TYPE!r}")
    if doc.get("manifest_version") != MANIFEST_VERSION:
        raise bad(f"manifest_version {str(doc.get('manifest_version'))[:20]!r} is not supported")
    files = doc.get("files")
    if not isinstance(files, list):
        raise bad("files is not a list")
    entries: list[FileEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(files):
        if not isinstance(item, dict) or set(item) != {"path", "size", "sha256"}:
            raise bad(f"files[{i}] must have exactly path, size, sha256")
        path, size, digest = item["path"], item["size"], item["sha256"]
        if not isinstance(path, str) or not _safe_listed_path(path):
            raise bad(f"files[{i}].path {str(path)[:120]!r} is not a plain relative path")
        if path in seen or path in UNLISTED:
            raise bad(f"files[{i}].path {path!r} is listed twice or is a manifest file")
        if type(size) is not int or size < 0:
            raise bad(f"files[{i}].size must be a non-negative integer")
        if (
            not isinstance(digest, str)
            or len(digest) != 64
            or not all(c in "0123456789abcdef" for c in digest)
        ):
            raise bad(f"files[{i}].sha256 must be 64 lower-case hex digits")
        seen.add(path)
        entries.append(FileEntry(path, size, digest))
    rh = doc.get("root_hash")
    value = rh.get("value") if isinstance(rh, dict) else None
    if not isinstance(value, str):
        raise bad("root_hash.value is missing")
    build_time = doc.get("build_time")
    if not isinstance(build_time, str):
        raise bad("build_time is missing")
    op = doc.get("operator_key")
    op_hex: str | None = None
    if op is not None:
        if not isinstance(op, dict) or not isinstance(op.get("public_key_hex"), str):
            raise bad("operator_key must be null or carry public_key_hex")
        op_hex = op["public_key_hex"].lower()
    return Manifest(data, doc, tuple(entries), value, build_time, op_hex)


def _safe_listed_path(path: str) -> bool:
    parts = path.split("/")
    return (
        bool(path)
        and not path.startswith("/")
        and "\\" not in path
        and "\x00" not in path
        and all(p not in ("", ".", "..") for p in parts)
        and all(ord(c) >= 0x20 for c in path)
    )


# -- the build step -------------------------------------------------------------------------
def manifest_files(ctx: SiteContext) -> Iterable[OutputFile | StreamedFile]:
    """FINAL step (keep it last): hash the finished staging tree, write and maybe sign the manifest.

    When the build recorded every file it put in the staging tree with its SHA-256
    (``ctx.known_hashes`` is the build's ``FileHashes``), the manifest is made from that
    record (its ``files`` table, read once in large chunks: ``table_manifest_chunks``) in
    constant memory instead of walking and re-reading the tree."""
    key = load_signing_key(ctx.config.sign_key) if ctx.config.sign_key is not None else None
    fields: dict[str, Any] = {
        "build_time": ctx.build_time,
        "build_time_basis": (
            "SOURCE_DATE_EPOCH"
            if ctx.config.source_date_epoch is not None
            else "newest receipt signing time among the published records"
        ),
        "upstream": ctx.config.upstream,
        "base_url": ctx.config.base_url,
        "record_count": len(ctx.records),
        "keyring": ctx.keyring.describe(),
        "operator_key": key.public if key is not None else None,
    }
    known = ctx.known_hashes
    if isinstance(known, FileHashes):
        db = known.db
        how = {"keep": known.keep_chunks, "based": known.based}
        if key is None:
            yield StreamedFile(MANIFEST_PATH, lambda: table_manifest_chunks(db, ctx.staging, **how, **fields))
            return
        data = b"".join(table_manifest_chunks(db, ctx.staging, **how, **fields))
    else:
        data = make_manifest(scan_site(ctx.staging), **fields)
    yield OutputFile(MANIFEST_PATH, data)
    if key is not None:
        yield OutputFile(SIGNATURE_PATH, key.sign(data))
        yield OutputFile(PUBLIC_KEY_PATH, key.public.pem())
