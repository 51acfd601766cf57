"""Command line: ``pith-mirror build|verify|fetch|keygen|verify-site|archive|check-pages|serve``.

``main(argv) -> int``; exit 0 ok, 1 failed, 2 usage."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator import __version__
from generator.build import BuildReport, run_build
from generator.config import Config, check_base_url, check_cname, load_config
from generator.errors import BuildFailedError, GeneratorError, SiteCheckError, UsageError
from generator.fetch_cli import add_fetch_parser, run_fetch_command
from generator.shard import check_prefixes
from generator.signing import load_signing_key
from generator.trustcli import COMMANDS as TRUST_COMMANDS
from generator.trustcli import add_commands as add_trust_commands
from generator.trustcli import run as run_trust_command

log = logging.getLogger("generator")

DESCRIPTION = """\
Build a verified static mirror of Pith (pith.science) records.

Every record's canonical hash, identifiers and Ed25519 receipt are checked against a pinned
keyring (Pith's published key is built in) before anything is published."""

EXIT_STATUS = "exit status: 0 ok; 1 build or verification failed; 2 usage or configuration error."
# for the commands that read a configuration file (build, verify, fetch)
EPILOG = f"""\
{EXIT_STATUS}
Settings may also come from pith-mirror.toml (see README); flags override it."""


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="configuration file (default: ./pith-mirror.toml if present)",
    )
    p.add_argument(
        "--keyring",
        type=Path,
        action="append",
        metavar="FILE",
        help="extra pinned keys (JSON keyring file); may be repeated. Pith's published key is always trusted",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        default=None,
        help="publish the valid records and report every invalid one "
        "(default: any invalid record fails the build and nothing is published)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="treat warnings (unsigned fields that contradict signed ones) and failed "
        "open-graph checks (bundle, state, integrity) as failures",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes (default: number of cores, at most 8)",
    )
    p.add_argument(
        "--suffix-prefix",
        action="append",
        metavar="PREFIX",
        help="build one shard: only records whose SUFFIX starts with PREFIX (repeatable; "
        "see README, 'Past one machine')",
    )
    p.add_argument(
        "--max-record-bytes",
        type=int,
        metavar="N",
        help="refuse records larger than N bytes (default: 16 MiB)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress line (default: when stderr is a terminal)",
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail; -vv also prints tracebacks"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pith-mirror",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pith-mirror {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    b = sub.add_parser(
        "build",
        help="verify records and build the static site",
        description="Load records, verify every one, and write the site into "
        "a staging directory that is swapped in atomically.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument(
        "sources",
        nargs="*",
        type=Path,
        metavar="SOURCE",
        help="record file (.json), JSON Lines file (.jsonl) or directory "
        "(searched recursively); default: the bundled example records",
    )
    b.add_argument("-o", "--output", type=Path, metavar="DIR", help="output directory (default: site)")
    b.add_argument(
        "--base-url",
        metavar="URL",
        help="absolute URL where the site will be served (used in absolute links)",
    )
    b.add_argument("--title", help="title of the mirror shown on every page")
    b.add_argument(
        "--link-style",
        choices=("directory", "file"),
        help="'directory' links to folders (for web hosts, default); 'file' links to "
        "index.html files (for browsing from disk)",
    )
    b.add_argument(
        "--sign-key",
        type=Path,
        metavar="FILE",
        help="sign the site manifest with this Ed25519 private key (made by 'pith-mirror keygen')",
    )
    b.add_argument(
        "--incremental",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rebuild only what changed, keeping a build state (.DIR.state.sqlite) and the "
        "previous tree (.DIR.spare, so twice the disk and inodes) beside the output; the result "
        "is byte for byte a clean build's. --no-incremental keeps one copy and removes the spare",
    )
    b.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="also build from the records a fetch put in this store (offline)",
    )
    b.add_argument(
        "--cname",
        metavar="DOMAIN",
        help="custom domain for GitHub Pages, written to a CNAME file (e.g. mirror.example.org)",
    )
    b.add_argument(
        "--paper-pages",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write /paper/SHORT8/ redirect pages (default: yes; each costs a file and a "
        "directory per record)",
    )
    _add_common(b)

    v = sub.add_parser(
        "verify",
        help="verify records and report; write nothing",
        description="Verify records exactly as build does, print a report, and write nothing.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "sources",
        nargs="+",
        type=Path,
        metavar="SOURCE",
        help="record file, JSON Lines file or directory",
    )
    _add_common(v)
    add_trust_commands(sub, EXIT_STATUS)

    from generator import bench

    bn = sub.add_parser(
        "bench",
        help="benchmark: build N synthetic signed records and compare with the floor",
        description=bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_arguments(bn)
    add_fetch_parser(sub, EPILOG)
    _add_site_tools(sub)
    return parser


def _add_site_tools(sub: Any) -> None:
    c = sub.add_parser(
        "check-pages",
        help="check that a built site can be deployed to GitHub Pages",
        description="Fail (exit 1) with every reason a built tree would break a GitHub Pages "
        "deploy: site over 1 GB, a file over 100 MB, symbolic or hard links, no .nojekyll.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("directory", type=Path, metavar="DIR", help="the built site")
    s = sub.add_parser(
        "serve",
        help="preview a built site on 127.0.0.1",
        description="Serve a built site on 127.0.0.1 for preview, optionally under a subpath "
        "(as GitHub Pages serves a project site at /<repo>/).",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=Path("site"),
        metavar="DIR",
        help="the built site (default: site)",
    )
    s.add_argument(
        "-p", "--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000; 0 picks a free one)"
    )
    s.add_argument(
        "--base-path",
        default="/",
        metavar="PATH",
        help="serve the site under this path, e.g. /repo/ (default: /)",
    )
    for p in (c, s):
        p.add_argument("-v", "--verbose", action="count", default=0, help="more detail")
        p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def _site_tool(args: argparse.Namespace) -> int:
    if args.command == "check-pages":
        from generator.pages_check import check_pages

        report = check_pages(args.directory)
        for warning in report.warnings:
            log.warning("warning: %s", warning)
        log.info(
            "%s: ready for GitHub Pages: %d file(s), %d bytes, largest %s (%d bytes)",
            args.directory,
            report.files,
            report.total_bytes,
            report.largest[1] or "-",
            report.largest[0],
        )
        return 0
    from generator.serve import serve

    serve(args.directory, args.port, args.base_path)
    return 0


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("generator")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _config_from_args(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    changes: dict[str, Any] = {
        "skip_invalid": args.skip_invalid,
        "strict": args.strict,
        "jobs": args.jobs,
        "max_record_bytes": args.max_record_bytes,
    }
    if args.keyring:
        changes["keyring_files"] = cfg.keyring_files + tuple(args.keyring)
    if args.sources:
        changes["sources"] = tuple(args.sources)
    if args.command == "build":
        changes["store"] = args.store
        changes["output"] = args.output
        changes["title"] = args.title
        if args.base_url is not None:
            problem = check_base_url(args.base_url)
            if problem:
                raise UsageError(f"--base-url: {problem}")
            changes["base_url"] = args.base_url.rstrip("/") + "/"
        if args.link_style is not None:
            changes["link_files"] = args.link_style == "file"
        if args.sign_key is not None:
            load_signing_key(args.sign_key)  # fail before building, not after
            changes["sign_key"] = args.sign_key
        changes["incremental"] = args.incremental
        if args.cname is not None:
            problem = check_cname(args.cname)
            if problem:
                raise UsageError(f"--cname: {problem}")
            changes["cname"] = args.cname
        changes["paper_pages"] = args.paper_pages
    if getattr(args, "suffix_prefix", None):
        problem = check_prefixes(tuple(args.suffix_prefix))
        if problem:
            raise UsageError(f"--suffix-prefix: {problem}")
        changes["suffix_prefixes"] = tuple(args.suffix_prefix)
    if args.jobs is not None and args.jobs < 0:
        raise UsageError("--jobs must be 0 (auto) or more")
    return cfg.with_overrides(**changes)


def _summarise(report: BuildReport, command: str) -> None:
    for failure in report.failures:
        log.error("skipped %s", failure)
    times = ", ".join(f"{k} {v:.2f}s" for k, v in report.stage_times.items())
    if command == "build" and report.output is not None:
        log.info(
            "built %s: %d record(s) published, %d skipped, %d file(s) (%s)",
            report.output,
            len(report.published),
            report.skipped,
            report.files_written,
            times,
        )
    else:
        log.info(
            "verified: %d record(s) valid, %d invalid (%s)",
            len(report.published),
            report.skipped,
            times,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "bench":
        from generator import bench

        return bench.run_from_args(args)
    _setup_logging(args.verbose, args.quiet)
    if args.command == "fetch":
        return run_fetch_command(args, _config_from_args)
    try:
        if args.command in TRUST_COMMANDS:
            return run_trust_command(args)
        if args.command in ("check-pages", "serve"):
            return _site_tool(args)
        cfg = _config_from_args(args)
        report = run_build(cfg, write=args.command == "build", progress=args.progress)
        _summarise(report, args.command)
        if args.command == "verify" and report.failures:
            return 1
        return 0
    except SiteCheckError as exc:
        log.error("error: %s", exc)
        return exc.exit_code
    except BuildFailedError as exc:
        for failure in exc.failures:
            log.error("%s", failure)
        log.error("error: %s", exc)
        return exc.exit_code
    except GeneratorError as exc:
        if args.verbose >= 2:
            log.exception("error")
        else:
            log.error("error: %s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; the previous site is untouched" if args.command == "build" else "interrupted")
        return 130
