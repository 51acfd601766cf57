"""Configuration: an optional ``pith-mirror.toml``, overridden by flags; every problem at once."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from generator.deadline import is_valid as deadline_ok
from generator.errors import ConfigError
from generator.shard import check_prefixes

CONFIG_NAME = "pith-mirror.toml"


def package_data_dir(name: str) -> Path:
    """``templates``, ``static`` or ``content``: packaged copy if installed, else the checkout's."""
    here = Path(__file__).resolve().parent
    packaged = here / "_data" / name
    return packaged if packaged.is_dir() else here.parent / name


@dataclass(frozen=True)
class Config:
    sources: tuple[Path, ...] = ()
    output: Path = Path("site")
    title: str = "Pith mirror"
    base_url: str | None = None
    upstream: str = "https://pith.science"
    keyring_files: tuple[Path, ...] = ()
    skip_invalid: bool = False
    strict: bool = False
    link_files: bool = False
    jobs: int = 0
    page_size: int = 50
    max_record_bytes: int = 16 * 1024 * 1024
    source_date_epoch: int | None = None
    sign_key: Path | None = None  # operator's Ed25519 key that signs the site manifest
    incremental: bool = False
    cname: str | None = None  # custom domain written to CNAME (GitHub Pages)
    paper_pages: bool = True  # /paper/{SHORT8}/ redirect pages (two inodes per record)
    suffix_prefixes: tuple[str, ...] = ()  # a shard: only records whose SUFFIX starts so
    content_dir: Path = field(default_factory=lambda: package_data_dir("content"))
    templates_dir: Path = field(default_factory=lambda: package_data_dir("templates"))
    static_dir: Path = field(default_factory=lambda: package_data_dir("static"))
    config_file: Path | None = None
    store: Path | None = None  # a fetch store (see generator.store) to build from, offline
    fetch_deadline: float | None = None  # seconds for a whole ``fetch`` run; None or 0: no bound

    @property
    def effective_sources(self) -> tuple[Path, ...]:
        if self.store is not None:
            return self.sources
        return self.sources or (self.content_dir / "records",)

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_KNOWN: dict[str, type | tuple[type, ...]] = {
    "sources": list,
    "output": str,
    "title": str,
    "base_url": str,
    "upstream": str,
    "keyring": (str, list),
    "skip_invalid": bool,
    "strict": bool,
    "link_style": str,
    "jobs": int,
    "page_size": int,
    "max_record_bytes": int,
    "incremental": bool,
    "store": str,
    "cname": str,
    "paper_pages": bool,
    "suffix_prefixes": list,
    "fetch_deadline": (int, float),
}


def check_base_url(value: str) -> str | None:
    """Return a problem, or None when ``value`` is an absolute http(s) URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"base_url must be an absolute http(s) URL, got {value!r}"
    return None


_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def check_cname(value: str) -> str | None:
    """Return a problem, or None when ``value`` is a plain host name (``mirror.example.org``)."""
    if _HOSTNAME.fullmatch(value) is None:
        return f"cname must be a lower-case host name like mirror.example.org, got {value[:100]!r}"
    return None


def load_config(path: Path | None) -> Config:
    """Read ``path`` (or ``./pith-mirror.toml`` if present); relative paths are from its folder."""
    env_epoch = os.environ.get("SOURCE_DATE_EPOCH")
    base = Config()
    problems: list[str] = []
    if env_epoch is not None:
        if env_epoch.isdigit():
            base = replace(base, source_date_epoch=int(env_epoch))
        else:
            problems.append(f"SOURCE_DATE_EPOCH must be an integer, got {env_epoch!r}")
    if path is None:
        default = Path(CONFIG_NAME)
        if not default.is_file():
            if problems:
                raise ConfigError("environment", problems)
            return base
        path = default
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(where, [f"cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(where, [f"not valid TOML: {exc}"]) from None
    section: dict[str, Any] = data.get("mirror", data)
    for key, value in section.items():
        expected = _KNOWN.get(key)
        if expected is None:
            problems.append(f"unknown setting {key!r} (known: {', '.join(sorted(_KNOWN))})")
        elif not isinstance(value, expected) or (expected in (int, (int, float)) and isinstance(value, bool)):
            problems.append(f"{key}: wrong type {type(value).__name__}")
    folder = path.parent
    cfg = replace(base, config_file=path)
    if not problems:
        changes: dict[str, Any] = {}
        if "sources" in section:
            if not all(isinstance(s, str) for s in section["sources"]):
                problems.append("sources: must be a list of paths")
            else:
                changes["sources"] = tuple(folder / s for s in section["sources"])
        if "output" in section:
            changes["output"] = folder / section["output"]
        if "store" in section:
            changes["store"] = folder / section["store"]
        keyring = section.get("keyring")
        if keyring is not None:
            items = [keyring] if isinstance(keyring, str) else keyring
            changes["keyring_files"] = tuple(folder / k for k in items)
        for key in (
            "title",
            "upstream",
            "skip_invalid",
            "strict",
            "jobs",
            "page_size",
            "max_record_bytes",
            "incremental",
            "paper_pages",
        ):
            if key in section:
                changes[key] = section[key]
        if "base_url" in section:
            problem = check_base_url(section["base_url"])
            if problem:
                problems.append(problem)
            changes["base_url"] = section["base_url"].rstrip("/") + "/"
        if "cname" in section:
            problem = check_cname(section["cname"])
            if problem:
                problems.append(problem)
            changes["cname"] = section["cname"]
        if "upstream" in section and check_base_url(section["upstream"]):
            problems.append(f"upstream must be an absolute http(s) URL, got {section['upstream']!r}")
        if "suffix_prefixes" in section:
            prefixes = section["suffix_prefixes"]
            problem = (
                check_prefixes(tuple(prefixes))
                if all(isinstance(p, str) for p in prefixes)
                else "suffix_prefixes: must be a list of strings"
            )
            if problem:
                problems.append(problem)
            changes["suffix_prefixes"] = tuple(prefixes)
        if "link_style" in section:
            if section["link_style"] not in ("directory", "file"):
                problems.append("link_style must be 'directory' or 'file'")
            changes["link_files"] = section["link_style"] == "file"
        if "fetch_deadline" in section:
            deadline = section["fetch_deadline"]
            if not deadline_ok(deadline):
                problems.append("fetch_deadline must be a number of seconds (0 for none)")
            changes["fetch_deadline"] = float(deadline) or None
        for key in ("jobs", "page_size", "max_record_bytes"):
            if key in section and section[key] < (0 if key == "jobs" else 1):
                problems.append(f"{key} must be positive")
        cfg = replace(cfg, **changes)
    if problems:
        raise ConfigError(where, problems)
    return cfg
