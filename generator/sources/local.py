"""Local sources: a record file, a directory of them (recursive), or JSON Lines."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from generator.errors import SourceError
from generator.sources import RawRecord
from generator.strictjson import MAX_BYTES

RECORD_SUFFIXES = (".json",)
LINES_SUFFIXES = (".jsonl", ".ndjson")


def list_files(src: Path) -> list[Path]:
    """The record files ``src`` names, in a stable order. Raises ``SourceError`` if unreadable."""
    try:
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


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> Iterator[RawRecord]:
    """The records in one file, each with its exact bytes."""
    try:
        if path.name.endswith(LINES_SUFFIXES):
            with path.open("rb") as fh:
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


def load_records(sources: Iterable[Path], max_bytes: int = MAX_BYTES) -> Iterator[RawRecord]:
    for src in sources:
        for path in list_files(src):
            yield from read_file(path, max_bytes)
