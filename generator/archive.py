"""Deterministic archives of a built site: ``OUT.tar.gz`` and ``OUT.zip``.

The same tree always gives the same bytes: entries sorted by path (directories before their
contents), every time set to one fixed instant (``SOURCE_DATE_EPOCH``, else 1980-01-01T00:00:00Z,
the earliest time a zip can hold), modes 0644 for files and 0755 for directories, uid/gid 0 with
empty owner names, the gzip header with mtime 0 and no file name. Every entry sits under one
top-level folder named after ``OUT``. The tree must match its own manifest first (which is inside
the archive, at ``{top}/.well-known/pith-mirror/manifest.json``).
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

from generator.errors import OutputError, UsageError
from generator.manifest import MANIFEST_PATH, UNLISTED, parse_manifest, root_hash, scan_site

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z
_FILE_MODE = 0o644
_DIR_MODE = 0o755


def archive_epoch(env: dict[str, str] | None = None) -> int:
    value = (env if env is not None else os.environ).get("SOURCE_DATE_EPOCH")
    if value is None:
        return ZIP_EPOCH
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH must be an integer, got {value!r}")
    return max(int(value), ZIP_EPOCH)


def _members(site: Path) -> list[str]:
    """Sorted member paths; directories end with '/'. Refuses a tree that differs from its manifest."""
    manifest_file = site / MANIFEST_PATH
    try:
        raw = manifest_file.read_bytes()
    except OSError:
        raise OutputError(
            f"{site}: no manifest at {MANIFEST_PATH}; archive a site built by pith-mirror"
        ) from None
    manifest = parse_manifest(raw, str(manifest_file))
    entries = scan_site(site)
    if root_hash(entries) != manifest.root_hash or root_hash(manifest.files) != manifest.root_hash:
        listed = {(e.path, e.size, e.sha256) for e in manifest.files}
        found = {(e.path, e.size, e.sha256) for e in entries}
        diff = sorted({p for p, _s, _h in listed ^ found})
        raise OutputError(
            f"{site}: the tree does not match its manifest ({len(diff)} path(s) differ, e.g. "
            f"{', '.join(diff[:3])}); run pith-mirror verify-site"
        )
    files = [e.path for e in entries] + [p for p in UNLISTED if (site / p).is_file()]
    dirs: set[str] = set()
    for f in files:
        parts = f.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]) + "/")
    return sorted([*files, *dirs], key=lambda p: p.encode("utf-8"))


def _atomic(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.tmp-{os.getpid()}")


def write_tar_gz(site: Path, members: list[str], top: str, out: Path, epoch: int) -> None:
    tmp = _atomic(out)
    try:
        with (
            tmp.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            top_info = _tarinfo(top + "/", 0, epoch)
            tar.addfile(top_info)
            for rel in members:
                if rel.endswith("/"):
                    tar.addfile(_tarinfo(f"{top}/{rel}", 0, epoch))
                    continue
                src = site / rel
                info = _tarinfo(f"{top}/{rel}", src.stat().st_size, epoch)
                with src.open("rb") as fh:
                    tar.addfile(info, fh)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _tarinfo(name: str, size: int, epoch: int) -> tarfile.TarInfo:
    is_dir = name.endswith("/")
    info = tarfile.TarInfo(name.rstrip("/"))
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = _DIR_MODE if is_dir else _FILE_MODE
    info.size = 0 if is_dir else size
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_zip(site: Path, members: list[str], top: str, out: Path, epoch: int) -> None:
    tmp = _atomic(out)
    stamp = time.gmtime(epoch)[:6]
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for rel in ["", *members]:
                name = f"{top}/{rel}"
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.create_system = 3  # unix, so the modes below are read
                if name.endswith("/"):
                    info.external_attr = ((0o040000 | _DIR_MODE) << 16) | 0x10
                    info.compress_type = zipfile.ZIP_STORED
                    zf.writestr(info, b"")
                    continue
                src = site / rel
                info.external_attr = (0o100000 | _FILE_MODE) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                info.file_size = src.stat().st_size
                with src.open("rb") as fh, zf.open(info, "w", force_zip64=info.file_size > 2**31) as dst:
                    shutil.copyfileobj(fh, dst, 1 << 20)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def archive_site(site: Path, out_base: Path, *, epoch: int | None = None) -> list[Path]:
    """Write ``out_base.tar.gz`` and ``out_base.zip``; return their paths."""
    if not site.is_dir():
        raise UsageError(f"{site}: not a directory")
    top = out_base.name
    if not top or top in (".", "..") or "/" in top:
        raise UsageError(f"-o {out_base}: give a base name such as dist/mirror-2026-05")
    when = archive_epoch() if epoch is None else epoch
    members = _members(site)
    tgz = out_base.with_name(top + ".tar.gz")
    zpath = out_base.with_name(top + ".zip")
    site_real = site.resolve()
    for target in (tgz, zpath):
        if target.resolve().is_relative_to(site_real):
            raise UsageError(f"{target}: the archive must not be written inside the site")
    write_tar_gz(site, members, top, tgz, when)
    write_zip(site, members, top, zpath, when)
    return [tgz, zpath]
