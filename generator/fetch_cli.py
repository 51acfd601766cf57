"""``pith-mirror fetch``: its arguments and how it runs (kept apart from cli.py's build/verify)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.config import Config
from generator.deadline import deadline_seconds
from generator.errors import DeadlineError, GeneratorError, UsageError
from generator.fetch import Fetcher, FetchOptions, FetchReport
from generator.keyring import Keyring, load_keyring
from generator.net import HttpClient, HttpSettings
from generator.sources.remote import (
    DEFAULT_KINDS,
    Wanted,
    normalise_base,
    parse_kinds,
    parse_wanted,
    read_list,
)
from generator.store import Store, default_store_dir

log = logging.getLogger("generator")

FETCH_DESCRIPTION = """\
Download records into the local store, verifying each before it is kept.

Records are named by pith number (pith:YYYY:SUFFIX), SUFFIX, short number (pith:SHORT8) or
arXiv id (2604.20237, cs/0004010), on the command line or in a --list file. With --from, the
records come from another pith-mirror site (all it holds, or those named), re-verified against
the keyring and checked against that site's mirror index. A record already complete in the store
is not requested again; --refresh asks the server, conditionally, for what changed.
--deadline bounds the whole run: at the deadline the fetch stops as SIGTERM stops it, keeps
every record already verified and stored, and exits with status 124; run it again to resume.
Build the site from the store with: pith-mirror build --store DIR."""

FETCH_EXIT = """\
fetch also exits 124 when it stopped at its --deadline, and 130 when interrupted (Ctrl-C,
SIGTERM); in both cases what it stored is kept and the next run resumes."""


def add_fetch_parser(sub: Any, epilog: str) -> None:
    d = HttpSettings()
    f: argparse.ArgumentParser = sub.add_parser(
        "fetch",
        help="download records over HTTP into the local store",
        description=FETCH_DESCRIPTION,
        epilog=f"{epilog}\n{FETCH_EXIT}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("ids", nargs="*", metavar="ID", help="pith number, SUFFIX, short number or arXiv id")
    f.add_argument(
        "--list", type=Path, metavar="FILE", help="read record names from FILE (one a line, # comments)"
    )
    src = f.add_mutually_exclusive_group()
    src.add_argument("--upstream", metavar="URL", help="the Pith server (default: https://pith.science)")
    src.add_argument(
        "--from",
        dest="from_mirror",
        metavar="MIRROR_URL",
        help="fetch from another pith-mirror site through its mirror index (all it holds when no ID)",
    )
    f.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="the content store (default: .pith-mirror beside the config file, else here)",
    )
    f.add_argument(
        "--endpoints",
        default=",".join(DEFAULT_KINDS),
        metavar="LIST",
        help="endpoints fetched with each record, comma-separated, or all/none "
        f"(default: {','.join(DEFAULT_KINDS)})",
    )
    f.add_argument(
        "--refresh",
        action="store_true",
        help="ask again (conditionally) for records already in the store; keep only what grew",
    )
    f.add_argument(
        "--concurrency", type=int, default=d.concurrency, metavar="N", help="requests in flight (default: 8)"
    )
    f.add_argument(
        "--rate",
        type=float,
        default=d.rate,
        metavar="R",
        help=f"most requests started per second per host; 0 for no cap (default: {d.rate:g})",
    )
    f.add_argument(
        "--timeout",
        type=float,
        default=d.total_timeout,
        metavar="S",
        help=f"whole-request timeout in seconds (default: {d.total_timeout:g})",
    )
    f.add_argument(
        "--deadline",
        type=float,
        metavar="S",
        help="stop the whole run after S seconds, keeping every record already verified and stored "
        "(exit status 124; run again to resume); 0 for none (default: fetch_deadline in the "
        "config file, else none)",
    )
    f.add_argument(
        "--connect-timeout",
        type=float,
        default=d.connect_timeout,
        metavar="S",
        help=f"connect timeout (default: {d.connect_timeout:g})",
    )
    f.add_argument(
        "--read-timeout",
        type=float,
        default=d.read_timeout,
        metavar="S",
        help=f"longest wait for the next bytes (default: {d.read_timeout:g})",
    )
    f.add_argument(
        "--retries",
        type=int,
        default=d.retries,
        metavar="N",
        help=f"retries after a failed attempt (default: {d.retries})",
    )
    f.add_argument(
        "--backoff",
        type=float,
        default=d.backoff,
        metavar="S",
        help=f"first retry delay, doubled each time, with jitter (default: {d.backoff:g})",
    )
    f.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not flush each stored file to disk (faster; a power cut may then cost a re-fetch)",
    )
    f.add_argument("-c", "--config", type=Path, metavar="FILE", help="configuration file")
    f.add_argument(
        "--keyring", type=Path, action="append", metavar="FILE", help="extra pinned keys (JSON keyring file)"
    )
    f.add_argument(
        "--max-record-bytes",
        type=int,
        metavar="N",
        help="refuse documents larger than N bytes (default: 16 MiB)",
    )
    f.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress line (default: when stderr is a terminal)",
    )
    f.add_argument("-v", "--verbose", action="count", default=0, help="more detail")
    f.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    f.set_defaults(skip_invalid=None, strict=None, jobs=None, sources=[])


def _wanted(args: argparse.Namespace) -> list[Wanted]:
    items = [parse_wanted(text) for text in args.ids]
    if args.list is not None:
        items.extend(read_list(args.list))
    if not items and not args.from_mirror:
        raise UsageError("fetch: name records (ID ... or --list FILE), or give --from MIRROR_URL")
    return items


def _deadline(args: argparse.Namespace, cfg: Config) -> float | None:
    """Seconds for the whole run (``--deadline``, else the config's ``fetch_deadline``); 0: none."""
    return deadline_seconds(args.deadline if args.deadline is not None else cfg.fetch_deadline, "fetch")


def _settings(args: argparse.Namespace) -> HttpSettings:
    settings = HttpSettings(
        concurrency=args.concurrency,
        rate=args.rate,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        total_timeout=args.timeout,
        retries=args.retries,
        backoff=args.backoff,
        max_body_bytes=args.max_record_bytes or HttpSettings.max_body_bytes,
    )
    problems = settings.problems()
    if problems:
        raise UsageError("fetch: " + "; ".join(problems))
    return settings


async def fetch_into(
    store: Store,
    keyring: Keyring,
    options: FetchOptions,
    settings: HttpSettings,
    wanted: list[Wanted],
    progress: bool | None = None,
) -> FetchReport:
    """Run one fetch; SIGTERM cancels it like Ctrl-C (what was committed is kept)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        # not possible off the main thread or on some platforms: then only Ctrl-C interrupts
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        async with HttpClient(settings) as http:
            return await Fetcher(store, keyring, http, options, progress=progress).run(wanted)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)


def run_fetch_command(
    args: argparse.Namespace, config_from_args: Callable[[argparse.Namespace], Config]
) -> int:
    try:
        cfg = config_from_args(args)
        wanted = _wanted(args)
        settings = _settings(args)
        base = normalise_base(args.from_mirror, "--from") if args.from_mirror else None
        base = base or normalise_base(args.upstream or cfg.upstream, "--upstream")
        options = FetchOptions(
            base_url=base,
            kinds=parse_kinds(args.endpoints),
            refresh=args.refresh,
            from_mirror=args.from_mirror is not None,
            max_record_bytes=cfg.max_record_bytes,
            deadline=_deadline(args, cfg),
        )
        store_dir = args.store or cfg.store or default_store_dir(cfg.config_file)
        keyring = load_keyring(cfg.keyring_files)
        with Store.open(store_dir, durable=not args.no_fsync) as store:
            store.lock()
            report = asyncio.run(fetch_into(store, keyring, options, settings, wanted, args.progress))
    except DeadlineError as exc:
        if isinstance(exc.report, FetchReport):
            _log_report(exc.report, store_dir)
        log.error("error: %s", exc.detail)
        return exc.exit_code
    except GeneratorError as exc:
        if args.verbose >= 2:
            log.exception("error")
        else:
            log.error("error: %s", exc)
        return exc.exit_code
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("interrupted; every record fetched and verified so far is kept: run again to resume")
        return 130
    _log_report(report, store_dir)
    return 1 if report.failures else 0


def _log_report(report: FetchReport, store_dir: Path) -> None:
    for failure in report.failures:
        log.error("failed: %s", failure)
    log.info(
        "fetch: %d record(s) into %s: %d new or changed, %d unchanged, %d already complete, "
        "%d failed, %d note(s); %d request(s), %d retried, %.2fs",
        report.asked,
        store_dir,
        report.fetched,
        report.unchanged,
        report.skipped,
        len(report.failures),
        len(report.notes),
        report.requests,
        report.retries,
        report.seconds,
    )
