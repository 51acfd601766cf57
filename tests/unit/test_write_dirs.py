"""write.py: directories made once per process, and every file still lands where it must."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from generator import write
from generator.errors import OutputError
from generator.write import put_chunks, put_file, write_file

if TYPE_CHECKING:
    from _typeshed import StrOrBytesPath


def test_known_directories_skip_mkdir_and_files_still_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real_makedirs = os.makedirs

    def counting_makedirs(name: StrOrBytesPath, mode: int = 0o777, exist_ok: bool = False) -> None:
        made.append(str(name))
        real_makedirs(name, mode, exist_ok)

    monkeypatch.setattr(os, "makedirs", counting_makedirs)
    for i in range(5):
        put_file(tmp_path, f"pith/R{i}.json", b"r")
    assert write_file(tmp_path, "pith/X.json", b"x")
    assert not write_file(tmp_path, "pith/X.json", b"changed")
    assert made == [str(tmp_path / "pith")]  # the directory was made once
    assert sorted(p.name for p in (tmp_path / "pith").iterdir()) == [
        "R0.json",
        "R1.json",
        "R2.json",
        "R3.json",
        "R4.json",
        "X.json",
    ]
    assert (tmp_path / "pith/X.json").read_bytes() == b"x"


def test_a_directory_removed_since_is_made_again(tmp_path: Path) -> None:
    put_file(tmp_path, "a/b/one.html", b"1")
    shutil.rmtree(tmp_path / "a")
    put_file(tmp_path, "a/b/two.html", b"2")
    assert (tmp_path / "a/b/two.html").read_bytes() == b"2"
    shutil.rmtree(tmp_path / "a")
    assert write_file(tmp_path, "a/b/three.html", b"3")
    shutil.rmtree(tmp_path / "a")
    assert put_chunks(tmp_path, "a/b/four.html", iter([b"4", b"4"]), keep="0" * 64)[1:] == (2, True)
    assert (tmp_path / "a/b/four.html").read_bytes() == b"44"


def test_a_directory_replaced_by_a_file_since_is_made_again(tmp_path: Path) -> None:
    put_file(tmp_path, "c/d/one.html", b"1")
    shutil.rmtree(tmp_path / "c/d")
    (tmp_path / "c/d").write_bytes(b"a file of an earlier build")
    put_file(tmp_path, "c/d/two.html", b"2")
    assert (tmp_path / "c/d/two.html").read_bytes() == b"2"


def test_a_missing_directory_that_was_never_known_is_an_error(tmp_path: Path) -> None:
    dest = str(tmp_path / "never" / "x.html")
    with pytest.raises(FileNotFoundError):
        write._open_new(dest, tmp_path, "never/x.html")


def test_never_writes_through_a_symlink_and_refuses_paths_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    root.mkdir()
    put_file(root, "d/keep.html", b"k")
    os.symlink(outside, root / "d" / "link.html")
    assert not write_file(root, "d/link.html", b"evil")
    put_file(root, "d/link.html", b"new")  # replaced by a new file, not written through
    assert not outside.exists()
    assert not (root / "d/link.html").is_symlink() and (root / "d/link.html").read_bytes() == b"new"
    for rel in ("../escape.html", "/abs.html", "a/../../b", "a//b"):
        with pytest.raises(OutputError):
            put_file(root, rel, b"x")
