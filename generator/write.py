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
import hashlib
import os
import secrets
import shutil
import signal
import stat
from collections.abc import Callable, Iterable, Iterator
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


def bind_to_parent(parent: int) -> None:
    """In a forked child: drop the parent's locks and die with the parent (PR_SET_PDEATHSIG)."""
    close_inherited_locks()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


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
        try:
            self._clear_leftovers()
            self.staging.mkdir()
        except BaseException:
            self.__exit__(None, None, None)  # __exit__ does not run when __enter__ raises
            raise
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
            shutil.rmtree(swap_in(self.staging, self.output), ignore_errors=True)
        else:
            os.rename(self.staging, self.output)
        _fsync_dir(self.parent)
        self.published = True


def swap_in(staging: Path, output: Path) -> Path:
    """Put ``staging`` in the place of the live tree ``output``; returns where the previous
    site now is. With renameat2 the two trade places in one step. Without it, the live tree
    moves to a new ``.OUTPUT.old-*`` name, then ``staging`` takes its place; when that second
    rename fails, the live tree is moved back before the error goes on, so a failed publish
    leaves the previous site where it was."""
    if _renameat2_exchange(staging, output):
        return staging
    old = output.parent / f".{output.name}{OLD_TAG}{secrets.token_hex(4)}"
    os.rename(output, old)
    try:
        os.rename(staging, output)
    except BaseException:
        os.rename(old, output)
        raise
    return old


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_TAG = ".tmp-"


# Directories this process made (or found) for its files: most files go where an earlier file
# already needed the directory, so its mkdir is skipped. Bounded. An entry gone stale (the
# directory was removed or replaced since) is noticed when the file cannot be created, and the
# directory is made again (``_open_new``).
_MADE_DIRS: set[str] = set()
_MADE_DIRS_MAX = 4096

# A file is created with mode 0644 and then given that mode explicitly, since a umask may take
# bits away. When the process's umask takes none of 0644's bits (022, the usual one), the mode
# is already 0644 and that second call is skipped, inside ``umask_trusted`` only: a build reads
# the umask once as it starts, and its processes (forked from it) do not change it.
_UMASK_KEEPS_0644 = False


def _umask_keeps_0644() -> bool:
    """Whether this process's umask (Linux: /proc/self/status) keeps every bit of 0644."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            line = next((ln for ln in fh if ln.startswith("Umask:")), "")
        return int(line.split()[1], 8) & 0o644 == 0
    except (OSError, IndexError, ValueError):
        return False


@contextlib.contextmanager
def umask_trusted() -> Iterator[None]:
    """Within: files are created without a second call to set their mode when the umask, read
    on entry, keeps every bit of 0644."""
    global _UMASK_KEEPS_0644
    before = _UMASK_KEEPS_0644
    _UMASK_KEEPS_0644 = _umask_keeps_0644()
    try:
        yield
    finally:
        _UMASK_KEEPS_0644 = before


def _make_parent(root: Path, rel: str, dest: str) -> None:
    """Make ``dest``'s parent directories. In a reused tree (a spare) a file of an earlier build
    may stand where this build needs a directory: it is removed."""
    parent = os.path.dirname(dest)
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        here = root
        for part in Path(rel).parts[:-1]:
            here = here / part
            if here.is_symlink() or (here.exists() and not here.is_dir()):
                here.unlink()
        os.makedirs(parent, exist_ok=True)
    if len(_MADE_DIRS) >= _MADE_DIRS_MAX:
        _MADE_DIRS.clear()
    _MADE_DIRS.add(parent)


def _dest(root: Path, rel: str) -> str:
    """``root/rel`` with its parent directories made (see ``_make_parent``)."""
    dest = f"{os.fspath(root)}/{safe_rel(rel)}"
    if os.path.dirname(dest) not in _MADE_DIRS:
        _make_parent(root, rel, dest)
    return dest


def _open_new(path: str, root: Path, rel: str) -> int:
    """Create ``path`` (``root/rel`` or a temporary name beside it) exclusively, never through a
    symlink. When its directory was taken from ``_MADE_DIRS`` and has gone since, it is made again."""
    try:
        return os.open(path, _CREATE, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        parent = os.path.dirname(path)
        if parent not in _MADE_DIRS:
            raise
        _MADE_DIRS.discard(parent)
    _make_parent(root, rel, path)
    return os.open(path, _CREATE, 0o644)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _temp_beside(dest: str) -> str:
    """A new name for a temporary file in ``dest``'s directory."""
    head, name = os.path.split(dest)
    return os.path.join(head, f".{name}{TEMP_TAG}{os.getpid()}-{secrets.token_hex(4)}")


def _put(dest: str, fill: Callable[[int], None], root: Path, rel: str) -> None:
    """Create ``dest`` (``root/rel`` or a temporary name beside it) as a new file filled by
    ``fill(fd)``. When the path is taken, the file is written under a temporary name in the same
    directory and renamed over it: an existing file is replaced by a new inode, never written
    through (nor through a symlink)."""
    try:
        _fill_new(_open_new(dest, root, rel), fill)
        return
    except FileExistsError:
        pass
    tmp = _temp_beside(dest)
    try:
        _fill_new(_open_new(tmp, root, rel), fill)
        _rename_over(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _rename_over(tmp: str, dest: str) -> None:
    """Rename ``tmp`` over ``dest``; a directory of an earlier build where this build has a
    file is removed first."""
    try:
        os.rename(tmp, dest)
    except IsADirectoryError:
        shutil.rmtree(dest)
        os.rename(tmp, dest)


def _fill_new(fd: int, fill: Callable[[int], None]) -> None:
    """Give a newly created file mode 0644 and its bytes, and close it."""
    try:
        if not _UMASK_KEEPS_0644:
            os.fchmod(fd, 0o644)
        fill(fd)
    finally:
        os.close(fd)


def put_file(root: Path, rel: str, data: bytes) -> None:
    """Write ``root/rel`` with ``data`` as a new file, replacing whatever the path holds.

    Files are created exclusively and never through a symlink; an existing file (in a reused
    staging tree) is replaced by rename, never edited in place; ``rel`` must stay inside ``root``.
    """
    _put(_dest(root, rel), lambda fd: _write_all(fd, data), root, rel)


def put_into(root: Path, rel: str, fill: Callable[[int], None]) -> None:
    """``put_file`` with the bytes written by ``fill(fd)``."""
    _put(_dest(root, rel), fill, root, rel)


def put_chunks(
    root: Path, rel: str, chunks: Iterable[bytes], keep: str | None = None
) -> tuple[str, int, bool]:
    """Write ``root/rel`` from ``chunks`` like ``put_file``; returns (sha256, size, written).

    With ``keep`` (the SHA-256 of the file the path holds now), the new bytes go to a temporary
    file first, and when they hash to ``keep`` and the path holds a plain file of that size, the
    existing file is kept (``written`` is False)."""
    dest = _dest(root, rel)
    h = hashlib.sha256()
    size = 0

    def fill(fd: int) -> None:
        nonlocal size
        buf: list[bytes] = []
        pending = 0
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            buf.append(chunk)
            pending += len(chunk)
            if pending >= 1 << 20:
                _write_all(fd, b"".join(buf))
                buf, pending = [], 0
        if buf:
            _write_all(fd, b"".join(buf))

    if keep is None:
        _put(dest, fill, root, rel)
        return h.hexdigest(), size, True
    tmp = _temp_beside(dest)
    try:
        _put(tmp, fill, root, rel)
        if h.hexdigest() == keep and is_plain(dest, size):
            os.unlink(tmp)
            return keep, size, False
        _rename_over(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return h.hexdigest(), size, True


def is_plain(path: Path | str, size: int, dir_fd: int | None = None) -> bool:
    """True when ``path`` is a regular file (not a symlink) of ``size`` bytes with one link."""
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size and st.st_nlink == 1


def write_file(root: Path, rel: str, data: bytes) -> bool:
    """Create ``root/rel`` with ``data``. False if it already exists (left untouched).

    Files are created exclusively and never through a symlink; the parent chain is checked to
    stay inside ``root``.
    """
    dest = _dest(root, rel)
    try:
        fd = _open_new(dest, root, rel)
    except FileExistsError:
        return False
    _fill_new(fd, lambda fd: _write_all(fd, data))
    return True
