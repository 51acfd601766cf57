"""Writing into a reused staging tree: every write makes a new file (a new inode), never edits an
existing one in place, never follows a symlink, and makes room for the new layout."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from generator.errors import OutputError
from generator.write import is_plain, put_chunks, put_file, umask_trusted, write_file


def test_put_file_creates_and_replaces_with_a_new_inode(tmp_path: Path) -> None:
    put_file(tmp_path, "a/b/c.html", b"one")
    path = tmp_path / "a/b/c.html"
    assert path.read_bytes() == b"one" and (path.stat().st_mode & 0o777) == 0o644
    # another name for the old file (as a live tree could hold) keeps the old bytes
    os.link(path, tmp_path / "other")
    before = path.stat().st_ino
    put_file(tmp_path, "a/b/c.html", b"two")
    assert path.read_bytes() == b"two" and path.stat().st_ino != before
    assert (tmp_path / "other").read_bytes() == b"one"
    assert path.stat().st_nlink == 1
    assert sorted(p.name for p in (tmp_path / "a/b").iterdir()) == ["c.html"]  # no temporary left


def test_put_file_never_writes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    root = tmp_path / "root"
    root.mkdir()
    (root / "x.html").symlink_to(target)
    put_file(root, "x.html", b"new")
    assert target.read_bytes() == b"keep"
    assert not (root / "x.html").is_symlink() and (root / "x.html").read_bytes() == b"new"


def test_put_file_makes_room_for_a_new_layout(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(b"a file where a directory is needed")
    put_file(tmp_path, "p/index.html", b"page")
    assert (tmp_path / "p/index.html").read_bytes() == b"page"
    (tmp_path / "q/deep").mkdir(parents=True)
    (tmp_path / "q/deep/f").write_bytes(b"x")
    put_file(tmp_path, "q", b"a file where a directory was")
    assert (tmp_path / "q").read_bytes() == b"a file where a directory was"


@pytest.mark.parametrize("rel", ["../escape", "/abs", "a/./b", "a//b", ""])
def test_put_file_refuses_unsafe_paths(tmp_path: Path, rel: str) -> None:
    with pytest.raises(OutputError):
        put_file(tmp_path, rel, b"x")


def test_put_chunks_keeps_a_file_with_the_same_bytes(tmp_path: Path) -> None:
    data = [b"chunk one ", b"chunk two"]
    sha = hashlib.sha256(b"".join(data)).hexdigest()
    assert put_chunks(tmp_path, "r/v.json", iter(data)) == (sha, 19, True)
    path = tmp_path / "r/v.json"
    ino = path.stat().st_ino
    assert put_chunks(tmp_path, "r/v.json", iter(data), keep=sha) == (sha, 19, False)
    assert path.stat().st_ino == ino
    # other bytes (or a ``keep`` that does not describe the file) replace it
    assert put_chunks(tmp_path, "r/v.json", iter([b"other"]), keep=sha)[2] is True
    assert path.read_bytes() == b"other" and path.stat().st_ino != ino
    path.write_bytes(b"same size")
    sha2 = hashlib.sha256(b"same size").hexdigest()
    os.link(path, tmp_path / "second-name")
    assert put_chunks(tmp_path, "r/v.json", iter([b"same size"]), keep=sha2)[2] is True  # two links
    assert is_plain(path, 9) and not is_plain(path, 8) and not is_plain(tmp_path / "r", 4096)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["v.json"]


@pytest.mark.parametrize(
    ("umask", "set_mode"), [(0o022, False), (0o002, False), (0o077, True), (0o027, True)]
)
def test_files_are_0644_and_the_mode_is_set_only_when_the_umask_takes_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int, set_mode: bool
) -> None:
    """Inside ``umask_trusted`` a file is given its mode explicitly only when the umask would
    take bits of 0644; every file ends 0644 either way, and outside it the mode is always set."""
    calls: list[int] = []
    real_fchmod = os.fchmod

    def counted(fd: int, mode: int) -> None:
        calls.append(mode)
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", counted)
    before = os.umask(umask)
    try:
        with umask_trusted():
            put_file(tmp_path, "a/in.html", b"x")
            put_file(tmp_path, "a/in.html", b"y")  # replaced through a temporary file
            assert write_file(tmp_path, "a/new.html", b"z")
        put_file(tmp_path, "a/out.html", b"x")
    finally:
        os.umask(before)
    for name in ("in.html", "new.html", "out.html"):
        assert (tmp_path / "a" / name).stat().st_mode & 0o777 == 0o644
    assert calls == [0o644] * (4 if set_mode else 1)
