"""``pith-mirror check-pages DIR``: what would break a GitHub Pages deploy, all reported at once.

GitHub Pages refuses or breaks on: a published site over 1 GB, any file over 100 MB, symbolic
links (the upload action rejects them), hard links (likewise), and - without ``.nojekyll`` - any
path starting with ``_`` or ``.`` silently disappears under Jekyll.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import PagesCheckError

SITE_LIMIT = 1024**3  # 1 GB: published site size limit
FILE_LIMIT = 100 * 1024**2  # 100 MB: the largest file GitHub accepts
WARN_FILES = 200_000  # not a hard limit, but deploys of that many files are slow


@dataclass
class PagesReport:
    files: int = 0
    total_bytes: int = 0
    largest: tuple[int, str] = (0, "")
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_pages(root: Path, *, site_limit: int = SITE_LIMIT, file_limit: int = FILE_LIMIT) -> PagesReport:
    """Walk ``root`` without following links; raise ``PagesCheckError`` naming every problem."""
    report = PagesReport()
    if root.is_symlink() or not root.is_dir():
        raise PagesCheckError(root, ["not a directory (or a symbolic link to one)"])
    if not (root / ".nojekyll").is_file():
        report.problems.append(".nojekyll is missing: Jekyll would drop files and folders starting with '_'")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                report.problems.append(f"{rel}: symbolic link (Pages uploads refuse links)")
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                report.problems.append(f"{rel}: not a regular file")
                continue
            if st.st_nlink > 1:
                report.problems.append(f"{rel}: hard link ({st.st_nlink} names for one file)")
            report.files += 1
            report.total_bytes += st.st_size
            if st.st_size > report.largest[0]:
                report.largest = (st.st_size, rel)
            if st.st_size > file_limit:
                report.problems.append(f"{rel}: {st.st_size} bytes, over the {file_limit}-byte file limit")
    if report.total_bytes > site_limit:
        report.problems.append(f"site is {report.total_bytes} bytes, over the {site_limit}-byte limit")
    if report.files > WARN_FILES:
        report.warnings.append(f"{report.files} files: uploads and deploys of this size are slow")
    if report.problems:
        raise PagesCheckError(root, report.problems)
    return report
