"""Local sources: a record file, a directory of them (recursive), JSON Lines, or a mirror-shaped tree.

A directory that holds a ``pith/`` folder is laid out like a mirror (pith.science, or a site this
tool built). There only ``pith/{SUFFIX}.json`` are records, and the documents beside each record
are attached to it as endpoints (unverified bytes; ``verify`` checks them):

    pith/{SUFFIX}/bundle.json                 bundle   (else .well-known/pith/{SUFFIX}/bundle.json)
    pith/{SUFFIX}/state.json                  state
    api/pith-number/{SUFFIX}/graph.json       graph
    api/pith-number/{SUFFIX}/events.json      events
    pith/{arxiv_id}/integrity.json            integrity (old-style ids nest: pith/cs/0004010/...)

The integrity file is keyed by arXiv id, known only from the record's bytes: when the tree has
integrity files, the record is parsed (strictly) to find its id; a record that does not parse
gets none, and fails verification on its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from generator.errors import RecordError, SourceError
from generator.identifiers import is_arxiv_id, is_suffix
from generator.sources import RawRecord
from generator.strictjson import MAX_BYTES, loads_object

log = logging.getLogger(__name__)

# graph/events files a pith-mirror site derived itself (render.site.dumps_derived) are not Pith's
# endpoints: a build from such a site derives them again from the record instead.
DERIVED_MARK = b'"pith_mirror_derived": true'

RECORD_SUFFIXES = (".json",)
LINES_SUFFIXES = (".jsonl", ".ndjson")


def is_mirror_tree(src: Path) -> bool:
    """A directory laid out like a mirror: it holds a ``pith/`` folder."""
    return src.is_dir() and (src / "pith").is_dir() and not (src / "pith").is_symlink()


def _mirror_record_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(os.scandir(root / "pith"), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False) or not entry.name.endswith(".json"):
            continue
        if is_suffix(entry.name[: -len(".json")]):
            found.append(Path(entry.path))
        else:
            log.warning("%s: not a record name (pith/{SUFFIX}.json); ignored", entry.path)
    return found


def list_files(src: Path) -> list[Path]:
    """The record files ``src`` names, in a stable order. Raises ``SourceError`` if unreadable.

    In a mirror-shaped tree only ``pith/{SUFFIX}.json`` are records; elsewhere every ``*.json``,
    ``*.jsonl`` and ``*.ndjson`` below ``src`` is.
    """
    try:
        if is_mirror_tree(src):
            return _mirror_record_files(src)
        if src.is_dir():
            found: list[Path] = []
            for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found.extend(
                    Path(dirpath, name)
                    for name in sorted(filenames)
                    if name.endswith(RECORD_SUFFIXES + LINES_SUFFIXES) and not name.startswith(".")
                )
            return found
        if src.is_file():
            return [src]
    except OSError as exc:
        raise SourceError(f"{src}: cannot read: {exc.strerror}") from None
    raise SourceError(f"{src}: no such file or directory")


LINES_BUFFER = 1 << 20  # a JSON Lines file is read in 1 MiB blocks (records are a few KB each)


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> Iterator[RawRecord]:
    """The records in one file, each with its exact bytes."""
    try:
        if path.name.endswith(LINES_SUFFIXES):
            with path.open("rb", buffering=LINES_BUFFER) as fh:
                for lineno, line in enumerate(_bounded_lines(fh, max_bytes, path), start=1):
                    body = line.rstrip(b"\n").rstrip(b"\r")
                    if body.strip():
                        yield RawRecord(body, f"{path}:{lineno}")
            return
        size = path.stat().st_size
        if size > max_bytes:
            # let the verifier name the failure with the usual code, without reading it all
            with path.open("rb") as fh:
                yield RawRecord(fh.read(max_bytes + 1), str(path))
            return
        yield RawRecord(path.read_bytes(), str(path))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None


def _bounded_lines(fh: object, max_bytes: int, path: Path) -> Iterator[bytes]:
    import io

    assert isinstance(fh, io.BufferedIOBase)
    while True:
        line = fh.readline(max_bytes + 2)
        if not line:
            return
        if len(line) > max_bytes + 1 and not line.endswith(b"\n"):
            # an over-long line: hand on a bounded prefix (rejected as too_large) and skip the rest
            yield line
            while line and not line.endswith(b"\n"):
                line = fh.readline(1 << 20)
            continue
        yield line


def _read_bounded(path: Path, max_bytes: int) -> bytes | None:
    """A sidecar's bytes (a bounded prefix when too large, so strict JSON names it too_large)."""
    try:
        if not path.is_file() or path.is_symlink():
            return None
        with path.open("rb") as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None


def integrity_index(root: Path) -> dict[str, Path]:
    """arXiv id -> ``pith/{arxiv_id}/integrity.json`` for every such file in a mirror tree."""
    index: dict[str, Path] = {}
    base = root / "pith"
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        # pith/{SUFFIX}/ folders (one per record) never hold an integrity file: not walked
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not is_suffix(d))
        if "integrity.json" in filenames:
            arxiv_id = Path(dirpath).relative_to(base).as_posix()
            if is_arxiv_id(arxiv_id):
                index[arxiv_id] = Path(dirpath, "integrity.json")
    return index


def _arxiv_id_of(data: bytes, where: str, max_bytes: int) -> str | None:
    try:
        doc = loads_object(data, where, max_bytes=max_bytes)
    except RecordError:
        return None
    canonical = doc.get("canonical_record")
    source = canonical.get("source") if isinstance(canonical, dict) else None
    arxiv_id = source.get("id") if isinstance(source, dict) else None
    return arxiv_id if isinstance(arxiv_id, str) and is_arxiv_id(arxiv_id) else None


def read_mirror_record(
    root: Path, path: Path, integrity: dict[str, Path], max_bytes: int = MAX_BYTES
) -> Iterator[RawRecord]:
    """``pith/{SUFFIX}.json`` of a mirror tree, with the documents beside it as endpoints."""
    suffix = path.name[: -len(".json")]
    for raw in read_file(path, max_bytes):
        endpoints: list[tuple[str, bytes]] = []
        for kind, candidates in (
            ("bundle", (f"pith/{suffix}/bundle.json", f".well-known/pith/{suffix}/bundle.json")),
            ("state", (f"pith/{suffix}/state.json",)),
            ("graph", (f"api/pith-number/{suffix}/graph.json",)),
            ("events", (f"api/pith-number/{suffix}/events.json",)),
        ):
            for rel in candidates:
                data = _read_bounded(root / rel, max_bytes)
                if data is not None and not (kind in ("graph", "events") and DERIVED_MARK in data):
                    endpoints.append((kind, data))
                    break
        if integrity:
            arxiv_id = _arxiv_id_of(raw.data, raw.where, max_bytes)
            if arxiv_id is not None and arxiv_id in integrity:
                data = _read_bounded(integrity[arxiv_id], max_bytes)
                if data is not None:
                    endpoints.append(("integrity", data))
        yield RawRecord(raw.data, raw.where, endpoints=tuple(endpoints), notes=raw.notes)


def _mirror_root_of_file(path: Path) -> Path | None:
    if path.parent.name == "pith" and path.name.endswith(".json") and is_suffix(path.name[:-5]):
        return path.parent.parent
    return None


def load_records(sources: Iterable[Path], max_bytes: int = MAX_BYTES) -> Iterator[RawRecord]:
    for src in sources:
        root = src if is_mirror_tree(src) else _mirror_root_of_file(src) if src.is_file() else None
        if root is None:
            for path in list_files(src):
                yield from read_file(path, max_bytes)
            continue
        try:
            integrity = integrity_index(root)
        except OSError as exc:
            raise SourceError(f"{root}: cannot read: {exc.strerror}") from None
        for path in list_files(src):
            yield from read_mirror_record(root, path, integrity, max_bytes)
