"""SiteWriter: batched writes of site-wide files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from generator.render.cached import CachedPage, KeptTree, previous_key
from generator.render.site import OutputFile
from generator.sitewrite import BATCH, ChildWriter, SiteWriter
from generator.streamed import StreamedFile
from generator.summaries import FileHashes, SummaryStore, connect


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


def _previous_build(db: sqlite3.Connection) -> None:
    """A build database as an incremental build finds it: the previous build's files and keys."""
    rows = [("search/d/0.js", "k0"), ("search/manifest.js", "digest"), ("searcher/x.html", "kx")]
    db.executemany("INSERT INTO files VALUES (?, ?, 1)", [(rel, "0" * 64) for rel, _k in rows])
    db.executemany("INSERT INTO page_keys VALUES (?, ?)", rows)


def test_kept_tree_keeps_exactly_the_directory(tmp_path: Path) -> None:
    db = connect(None)
    _previous_build(db)
    writer = SiteWriter(tmp_path, FileHashes(db, based=True), db, based=True)
    writer.emit(OutputFile("search/index.html", b"page"))
    writer.emit(KeptTree("search/"))
    writer.flush()
    noted = {str(r) for (r,) in db.execute("SELECT rel FROM temp.noted")}
    site = {str(r) for (r,) in db.execute("SELECT rel FROM temp.site_noted")}
    # search/index.html was written first; the tree then keeps the rest of what the file list
    # has under search/, not searcher/
    assert noted == site == {"search/index.html", "search/d/0.js", "search/manifest.js"}
    assert writer.kept_pages == 2 and writer.files == 3
    assert previous_key(SummaryStore(db), "search/manifest.js") == "digest"
    assert previous_key(SummaryStore(db), "search/nothing.js") is None
    assert previous_key([], "search/manifest.js") is None  # records without a build database


@pytest.mark.parametrize("in_child", [False, True])
def test_a_page_written_before_its_kept_tree_is_counted_once(tmp_path: Path, in_child: bool) -> None:
    """A step's own page under its kept tree (search/index.html: rendered by every build, so
    the previous build lists it too) counts as one file written, not again as a kept one."""
    db = connect(None)
    _previous_build(db)
    db.execute("INSERT INTO files VALUES ('search/index.html', ?, 4)", (hashlib.sha256(b"page").hexdigest(),))
    parent = SiteWriter(tmp_path, FileHashes(db, based=True), db, based=True)
    writer = ChildWriter(tmp_path, db, based=True) if in_child else parent
    writer.emit(OutputFile("search/index.html", b"page"))
    writer.emit(KeptTree("search/"))
    writer.emit(OutputFile("pith/A/index.html", b"after"))
    if isinstance(writer, ChildWriter):
        parent.take(writer.finish())
    else:
        writer.flush()
    assert (parent.files, parent.kept_pages) == (4, 2)
    site = {str(r) for (r,) in db.execute("SELECT rel FROM temp.site_noted")}
    assert site == {"search/index.html", "search/d/0.js", "search/manifest.js", "pith/A/index.html"}


def test_kept_tree_needs_a_previous_build(tmp_path: Path) -> None:
    db = connect(None)
    writer = SiteWriter(tmp_path, FileHashes(db), db)
    with pytest.raises(ValueError, match="does not start from a previous one"):
        writer.emit(KeptTree("search/"))
    with pytest.raises(ValueError, match="a directory"):
        KeptTree("search")


def test_child_writer_notes_what_the_parent_takes(tmp_path: Path) -> None:
    """A ChildWriter changes nothing in the database; SiteWriter.take applies its outcome."""
    db = connect(None)
    _previous_build(db)
    child = ChildWriter(tmp_path, db, based=True)
    child.emit(OutputFile("listing/1.html", b"one"))
    child.emit(CachedPage("search/d/0.js", "k0", lambda: OutputFile("search/d/0.js", b"never")))
    child.emit(CachedPage("search/d/1.js", "k1", lambda: OutputFile("search/d/1.js", b"docs")))
    outcome = child.finish()
    assert db.execute("SELECT count(*) FROM temp.noted").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM page_keys").fetchone()[0] == 3
    assert (tmp_path / "search/d/1.js").read_bytes() == b"docs"
    assert not (tmp_path / "search/d/0.js").exists()  # kept: the staging tree holds it
    assert outcome.kept == ["search/d/0.js"] and outcome.keys == [("search/d/1.js", "k1")]
    parent = SiteWriter(tmp_path, FileHashes(db, based=True), db, based=True)
    parent.take(outcome)
    assert parent.files == 3 and parent.kept_pages == 1
    assert dict(db.execute("SELECT rel, key FROM page_keys"))["search/d/1.js"] == "k1"
    assert FileHashes(db)["search/d/1.js"] == hashlib.sha256(b"docs").hexdigest()
    noted = {str(r) for (r,) in db.execute("SELECT rel FROM temp.site_noted")}
    assert noted == {"listing/1.html", "search/d/0.js", "search/d/1.js"}


def test_kept_tree_in_a_child_reaches_the_parent(tmp_path: Path) -> None:
    """A tree kept in a forked step is noted through the outcome, file by file, as the
    parent's writer notes its own kept trees in the database."""
    db = connect(None)
    _previous_build(db)
    child = ChildWriter(tmp_path, db, based=True)
    child.emit(KeptTree("search/"))
    outcome = child.finish()
    assert db.execute("SELECT count(*) FROM temp.noted").fetchone()[0] == 0
    assert outcome.kept == outcome.noted == ["search/d/0.js", "search/manifest.js"]
    assert outcome.files == outcome.kept_pages == 2
    parent = SiteWriter(tmp_path, FileHashes(db, based=True), db, based=True)
    parent.take(outcome)
    own = SiteWriter(tmp_path, FileHashes(db, based=True), db, based=True)
    own.emit(KeptTree("searcher/"))
    for table in ("noted", "site_noted"):
        rels = {str(r) for (r,) in db.execute(f"SELECT rel FROM temp.{table}")}
        assert rels == {"search/d/0.js", "search/manifest.js", "searcher/x.html"}


def test_injected_fault_in_a_kept_tree(tmp_path: Path) -> None:
    db = connect(None)
    _previous_build(db)
    writer = SiteWriter(tmp_path, FileHashes(db, based=True), db, based=True, fail_after=2)
    with pytest.raises(OSError, match="injected"):
        writer.emit(KeptTree("search/"))
