"""Subcommands ``keygen``, ``verify-site`` and ``archive`` (added to the parser in ``cli.py``)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from generator.archive import archive_site
from generator.deadline import Deadline, deadline_seconds
from generator.errors import DeadlineError, SiteCheckError, UsageError
from generator.keyring import load_keyring
from generator.signing import generate_key, load_public_key
from generator.sitecheck import DEFAULT_MAX_AGE_DAYS, SiteReport, open_source, verify_site
from generator.store import DB_NAME, iter_responses
from generator.warc import write_warc

log = logging.getLogger("generator.trust")

COMMANDS = ("keygen", "verify-site", "archive")

VERIFY_SITE_EXIT = """\
verify-site also exits 124 when it stopped at its --deadline: nothing was concluded (the site is
not verified; any problem found before the deadline is listed)."""


def _logging_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail; -vv also prints tracebacks"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def add_commands(sub: Any, epilog: str) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    k = sub.add_parser(
        "keygen",
        help="make an Ed25519 key for signing a site's manifest",
        description="Write a new Ed25519 private key to OUT (PKCS#8 PEM, mode 0600) and its public\n"
        "key to OUT.pub (PEM); print the public key and its fingerprint. Never overwrites.",
        epilog=epilog,
        formatter_class=fmt,
    )
    k.add_argument("out", type=Path, metavar="OUT", help="private key file to create")
    _logging_flags(k)

    v = sub.add_parser(
        "verify-site",
        help="check a published mirror against its manifest, signature and keyring",
        description="Check a mirror (folder, unpacked archive, or http(s) URL) trusting nothing in it:\n"
        "every file matches the manifest and nothing unlisted is present, the manifest signature\n"
        "verifies, every record copy re-verifies against the keyring, every record page shows its\n"
        "record's hash and pith number. Prints every problem with its code; exit 1 on any.\n"
        "--deadline bounds the whole check: at the deadline it stops (over HTTP, cancelling the\n"
        "requests in flight), says how far it got, and exits 124 - a check cut short never passes.",
        epilog=f"{epilog}\n{VERIFY_SITE_EXIT}",
        formatter_class=fmt,
    )
    v.add_argument("target", metavar="DIR|URL", help="site folder or base URL")
    v.add_argument(
        "--key",
        metavar="PUB",
        help="the operator's public key (PEM file, hex file, or 64 hex digits): the manifest must be "
        "signed by it. Without it a signature is checked against the key the site publishes",
    )
    v.add_argument(
        "--keyring",
        type=Path,
        action="append",
        metavar="FILE",
        help="extra pinned keys for the records (JSON keyring file); Pith's key is always trusted",
    )
    v.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE_DAYS,
        metavar="DAYS",
        help=f"warn when the mirror was built more than DAYS ago (default: {DEFAULT_MAX_AGE_DAYS:g})",
    )
    v.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="worker processes for a folder (default: number of cores, at most 8)",
    )
    v.add_argument(
        "--deadline",
        type=float,
        metavar="S",
        help="stop the whole check after S seconds, concluding nothing (exit status 124: the site "
        "is NOT verified); over HTTP the requests in flight are cancelled, in a folder it stops "
        "before the next file; 0 for none (default: none)",
    )
    _logging_flags(v)

    a = sub.add_parser(
        "archive",
        help="write a built site as deterministic .tar.gz and .zip (and a WARC)",
        description="Write SITE_DIR as OUT.tar.gz and OUT.zip: sorted entries, fixed times\n"
        "(SOURCE_DATE_EPOCH, else 1980-01-01) and modes; the same tree gives the same bytes.\n"
        "The tree must match its manifest. With --warc, also OUT.warc.gz of the upstream\n"
        "responses kept in a download store.",
        epilog=epilog,
        formatter_class=fmt,
    )
    a.add_argument("site", type=Path, metavar="SITE_DIR", help="a site built by pith-mirror")
    a.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT_BASENAME", help="e.g. dist/mirror"
    )
    a.add_argument(
        "--warc",
        type=Path,
        metavar="STORE_DIR",
        help="also write OUT.warc.gz of the upstream responses kept in this download store "
        "(the --store of pith-mirror fetch)",
    )
    _logging_flags(a)


def run(args: argparse.Namespace) -> int:
    if args.command == "keygen":
        pub = generate_key(args.out)
        print(f"private key: {args.out} (mode 0600; keep it secret)")
        print(f"public key:  {args.out}.pub")
        print(f"public key hex: {pub.hex}")
        print(f"fingerprint:    {pub.fingerprint_hex}")
        return 0
    if args.command == "verify-site":
        return _verify_site(args)
    if args.command == "archive":
        if args.warc is not None and not (args.warc / DB_NAME).is_file():
            raise UsageError(
                f"--warc {args.warc}: not a download store (no {DB_NAME}); see pith-mirror fetch"
            )
        written = archive_site(args.site, args.output)
        if args.warc is not None:
            written.append(_write_warc(args.warc, args.output))
        for path in written:
            log.info("wrote %s", path)
        return 0
    raise UsageError(f"unknown command {args.command}")


def _verify_site(args: argparse.Namespace) -> int:
    if args.max_age is not None and args.max_age < 0:
        raise UsageError("--max-age must be 0 or more")
    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (auto) or more")
    jobs = args.jobs or max(1, min(os.cpu_count() or 1, 8))
    seconds = deadline_seconds(args.deadline, "verify-site")
    key = load_public_key(args.key) if args.key else None
    keyring = load_keyring(args.keyring or ())
    # the deadline counts from here: the check itself, not reading the keys given
    source = open_source(args.target, deadline=Deadline.start(seconds) if seconds else None)
    try:
        report = verify_site(source, keyring, key=key, max_age_days=args.max_age, jobs=jobs)
    except DeadlineError as exc:
        if isinstance(exc.report, SiteReport):
            _log_findings(exc.report)
        log.error("error: %s", exc.detail)
        return exc.exit_code
    finally:
        source.close()
    _log_findings(report)
    if not report.ok:
        raise SiteCheckError(report.problems)
    signed = f"signed by {report.signed_by}" if report.signed_by else "not signed"
    log.info(
        "verified %s: %d file(s), %d record(s), manifest %s, built %s",
        source.name,
        report.files_checked,
        report.records_checked,
        signed,
        report.build_time,
    )
    return 0


def _log_findings(report: SiteReport) -> None:
    for warning in report.warnings:
        log.warning("warning: %s", warning)
    for problem in report.problems:
        log.error("%s", problem)


def _write_warc(store_dir: Path, out_base: Path) -> Path:
    out = out_base.with_name(out_base.name + ".warc.gz")
    count = write_warc(iter_responses(store_dir), out)
    log.info("WARC: %d response record(s)", count)
    return out
