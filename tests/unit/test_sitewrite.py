"""SiteWriter: batched writes of site-wide files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from generator.render.site import OutputFile
from generator.sitewrite import BATCH, SiteWriter
from generator.streamed import StreamedFile
from generator.summaries import FileHashes, connect


def test_later_file_with_the_same_path_wins_and_all_are_noted(tmp_path: Path) -> None:
    db = connect(None)
    hashes = FileHashes(db)
    writer = SiteWriter(tmp_path, hashes, db)
    many = [OutputFile(f"d/{i}.txt", f"{i}".encode()) for i in range(BATCH + 7)]
    for f in many[:5]:
        writer.emit(f)
    writer.emit(OutputFile("d/2.txt", b"second"))
    writer.emit(StreamedFile("big.json", lambda: [b"a", b"b"]))
    for f in many[5:]:
        writer.emit(f)
    writer.flush()
    assert (tmp_path / "d/2.txt").read_bytes() == b"second"
    assert hashes["d/2.txt"] == hashlib.sha256(b"second").hexdigest()
    assert hashes["big.json"] == hashlib.sha256(b"ab").hexdigest()
    assert len(hashes) == BATCH + 8 and writer.files == BATCH + 9
    assert all((tmp_path / f.dest_path).read_bytes() == f.data for f in many if f.dest_path != "d/2.txt")


def test_injected_fault_stops_at_the_given_file(tmp_path: Path) -> None:
    db = connect(None)
    writer = SiteWriter(tmp_path, FileHashes(db), db, fail_after=3)
    with pytest.raises(OSError, match="injected"):
        for i in range(10):
            writer.emit(OutputFile(f"{i}.txt", b"x"))
        writer.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.txt", "1.txt", "2.txt"]
