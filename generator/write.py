"""WRITE: files go into a fresh staging directory beside the output, then one atomic swap.

The live site is never edited in place: a failed or interrupted build leaves it as it was. A
build holds an exclusive lock on the output's parent directory, and clears staging directories
that an earlier killed build left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from generator.errors import OutputError
from generator.paths import safe_rel

STAGING_TAG = ".staging-"
OLD_TAG = ".old-"
SITE_MARKER = "verification.json"  # every pith-mirror site has it; an output dir without it is not ours

_RENAME_EXCHANGE = 2

# lock descriptors this process holds; a forked worker closes its copies (see ``close_inherited_locks``)
HELD_LOCKS: set[int] = set()


def close_inherited_locks() -> None:
    """In a forked worker: close the copies of the parent's lock descriptors, so that the lock
    ends with the parent (a worker orphaned by a killed build must not hold it)."""
    for fd in list(HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    HELD_LOCKS.clear()


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2). False when the call is unavailable."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OutputError(f"{b}: cannot swap in the new site: {os.strerror(err)}")


def check_output_dir(output: Path, inputs: Iterable[Path]) -> Path:
    """Refuse outputs that a swap would make dangerous; return the absolute output path."""
    if output.is_symlink():
        raise OutputError(f"{output}: output directory is a symlink; refusing to replace it")
    out = Path(os.path.abspath(output))
    real = out.resolve()
    home = Path.home().resolve()
    if real == Path(real.anchor) or real == home or real == Path.cwd().resolve():
        raise OutputError(f"{output}: refusing to use {real} as the output directory")
    for src in inputs:
        src_real = Path(os.path.abspath(src)).resolve()
        if real == src_real or src_real.is_relative_to(real) or real.is_relative_to(src_real):
            raise OutputError(f"{output}: output directory overlaps the input {src}")
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{output}: exists and is not a directory")
        if any(out.iterdir()) and not (out / SITE_MARKER).is_file():
            raise OutputError(
                f"{output}: exists, is not empty, and is not a pith-mirror site "
                f"(no {SITE_MARKER}); refusing to replace it"
            )
    return out


class StagedSite:
    """Context manager: a locked staging directory that becomes the output on ``publish()``."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.parent = output.parent
        self.name = output.name
        self.staging = self.parent / f".{self.name}{STAGING_TAG}{os.getpid()}-{secrets.token_hex(4)}"
        self._lock_fd: int | None = None
        self.published = False

    def __enter__(self) -> StagedSite:
        self.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"{self.output}: another build holds the lock on {self.parent}") from None
        self._lock_fd = fd
        HELD_LOCKS.add(fd)
        self._clear_leftovers()
        self.staging.mkdir()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                HELD_LOCKS.discard(self._lock_fd)
                os.close(self._lock_fd)
                self._lock_fd = None

    def _clear_leftovers(self) -> None:
        for prefix in (f".{self.name}{STAGING_TAG}", f".{self.name}{OLD_TAG}"):
            for stale in self.parent.glob(prefix + "*"):
                if stale.is_dir() and not stale.is_symlink():
                    shutil.rmtree(stale, ignore_errors=True)

    def dest(self, rel: str) -> Path:
        return self.staging / safe_rel(rel)

    def publish(self) -> None:
        """Swap the staging tree in. Exactly the old or the new tree is live at every instant
        where renameat2 exists; elsewhere there is a moment with no tree, never a mixed one."""
        _fsync_dir(self.staging)
        if self.output.exists():
            if _renameat2_exchange(self.staging, self.output):
                old = self.staging  # now holds the previous site
            else:
                old = self.parent / f".{self.name}{OLD_TAG}{secrets.token_hex(4)}"
                os.rename(self.output, old)
                os.rename(self.staging, self.output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.staging, self.output)
        _fsync_dir(self.parent)
        self.published = True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(root: Path, rel: str, data: bytes) -> bool:
    """Create ``root/rel`` with ``data``. False if it already exists (left untouched).

    Files are created exclusively and never through a symlink; the parent chain is checked to
    stay inside ``root``.
    """
    dest = root / safe_rel(rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    return True


def replace_file(root: Path, rel: str, data: bytes) -> None:
    dest = root / safe_rel(rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():
        raise OutputError(f"{dest}: refusing to write through a symlink")
    dest.write_bytes(data)
