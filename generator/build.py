"""The pipeline: LOAD -> VERIFY -> RENDER -> WRITE, each stage timed and logged.

Records stream through a pool of worker processes in bounded chunks: each worker verifies a
record, renders its pages and writes them into the staging tree, and returns only a small
``RecordSummary``. Site-wide pages (listings, report) are rendered from those summaries. The
finished staging tree is re-verified from its own bytes before the atomic swap.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from generator import GENERATOR, paths
from generator.config import Config
from generator.errors import BuildFailedError, OutputError, RecordError, VerificationError
from generator.keyring import Keyring, load_keyring, parse_time
from generator.manifest import manifest_files
from generator.mirrors import mirror_manifest_files
from generator.progress import Progress
from generator.render.site import OutputFile, RecordSummary, Renderer, format_time
from generator.sources import RawRecord
from generator.sources.local import load_records
from generator.verify import verify_record
from generator.verify.record import WARNING
from generator.write import StagedSite, check_output_dir, replace_file, write_file

log = logging.getLogger(__name__)

CHUNK = 64
SERIAL_BELOW = 256  # below this many records a pool costs more than it saves


@dataclass
class BuildReport:
    published: list[RecordSummary] = field(default_factory=list)
    failures: list[RecordError] = field(default_factory=list)
    stage_times: dict[str, float] = field(default_factory=dict)
    output: Path | None = None
    files_written: int = 0

    @property
    def skipped(self) -> int:
        return len(self.failures)


# -- worker side ----------------------------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(config: Config, keyring: Keyring, staging: Path | None) -> None:
    _worker["renderer"] = Renderer(config, keyring)
    _worker["keyring"] = keyring
    _worker["staging"] = staging
    _worker["max_bytes"] = config.max_record_bytes


Result = tuple[RecordSummary | None, RecordError | None, tuple[str, ...]]


def _process_chunk(chunk: list[RawRecord]) -> list[Result]:
    """Verify, render and write each record; returns (summary, error, paths that already existed)."""
    renderer: Renderer = _worker["renderer"]
    staging: Path | None = _worker["staging"]
    out: list[Result] = []
    for raw in chunk:
        try:
            rec = verify_record(raw, _worker["keyring"], max_bytes=_worker["max_bytes"])
        except RecordError as exc:
            out.append((None, exc, ()))
            continue
        files, summary = renderer.render_record(rec)
        existed: list[str] = []
        if staging is not None:
            for f in files:
                if not write_file(staging, f.dest_path, f.data):
                    existed.append(f.dest_path)
        out.append((summary, None, tuple(existed)))
    return out


def _reverify_chunk(items: list[tuple[str, str]]) -> list[RecordError | None]:
    """Re-read each published record copy from the staging tree and verify it again."""
    staging: Path = _worker["staging"]
    keyring: Keyring = _worker["keyring"]
    out: list[RecordError | None] = []
    for suffix, expected in items:
        rel = paths.record_json(suffix)
        try:
            data = (staging / rel).read_bytes()
            rec = verify_record(RawRecord(data, f"output {rel}"), keyring, max_bytes=_worker["max_bytes"])
            if rec.canonical_sha256 != expected or rec.suffix != suffix:
                raise VerificationError(
                    "hash_mismatch",
                    f"output {rel}",
                    "the written copy is not the record that was verified",
                )
            out.append(None)
        except RecordError as exc:
            out.append(exc)
        except OSError as exc:
            out.append(
                VerificationError(
                    "hash_mismatch",
                    f"output {rel}",
                    f"cannot read back the written copy: {exc.strerror}",
                )
            )
    return out


# -- orchestration --------------------------------------------------------------------------
T = TypeVar("T")


def _chunks(records: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for raw in records:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Runner:
    """Runs chunk functions in-process (few records, or jobs=1) or on a process pool."""

    def __init__(self, jobs: int, init_args: tuple[Any, ...]) -> None:
        self.jobs = jobs
        self.init_args = init_args
        self.pool: ProcessPoolExecutor | None = None
        if jobs > 1:
            ctx = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(
                jobs, mp_context=ctx, initializer=_init_worker, initargs=init_args
            )
        else:
            _init_worker(*init_args)

    def map(self, fn: Any, chunks: Iterable[list[Any]]) -> Iterator[list[Any]]:
        """Results in input order, with at most 2*jobs chunks in flight (bounded memory)."""
        if self.pool is None:
            for chunk in chunks:
                yield fn(chunk)
            return
        pending: list[Future[list[Any]]] = []
        for chunk in chunks:
            pending.append(self.pool.submit(fn, chunk))
            if len(pending) >= 2 * self.jobs:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _jobs(config: Config) -> int:
    return config.jobs or max(1, min(os.cpu_count() or 1, 8))


def _build_time(config: Config, summaries: Iterable[RecordSummary]) -> str:
    """SOURCE_DATE_EPOCH if set, else the newest signing time in the input: never the clock."""
    if config.source_date_epoch is not None:
        return format_time(config.source_date_epoch)
    newest: datetime | None = None
    for s in summaries:
        if s.signed_at:
            try:
                t = parse_time(s.signed_at)
            except ValueError:
                continue
            newest = t if newest is None or t > newest else newest
    return newest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if newest else "unknown"


def _report(
    config: Config,
    keyring: Keyring,
    summaries: list[RecordSummary],
    failures: list[RecordError],
    build_time: str,
) -> dict[str, Any]:
    return {
        "report_type": "pith_mirror_verification_report",
        "report_version": "1",
        "generator": GENERATOR,
        "build_time": build_time,
        "upstream": config.upstream,
        "keyring": keyring.describe(),
        "published": len(summaries),
        "skipped": [{"where": f.where, "code": f.code, "detail": f.detail} for f in failures],
        "records": [
            {
                "suffix": s.suffix,
                "pith_number": s.pith_number,
                "arxiv_id": s.arxiv_id,
                "canonical_sha256": s.canonical_sha256,
                "record_copy_sha256": s.raw_sha256,
                "key_id": s.key_id,
                "key_fingerprint": s.key_fingerprint,
                "signed_at": s.signed_at,
                "checks": [{"name": n, "status": st, "detail": d} for n, st, d in s.checks],
                "open_graph": [
                    {"document": kind, "status": status, "codes": list(codes)}
                    for kind, status, codes in s.open_graph
                ],
            }
            for s in sorted(summaries, key=lambda s: s.suffix)
        ],
    }


def _settle(
    results: list[Result], strict: bool
) -> tuple[list[RecordSummary], list[RecordError], list[RecordSummary]]:
    """One summary per record; different bytes for one record are a conflict. Returns
    (accepted, failures, refused-but-written)."""
    failures: list[RecordError] = []
    by_suffix: dict[str, list[RecordSummary]] = defaultdict(list)
    for summary, error, _existed in results:
        if error is not None:
            failures.append(error)
        elif summary is not None:
            by_suffix[summary.suffix].append(summary)
    accepted: list[RecordSummary] = []
    refused: list[RecordSummary] = []
    for suffix in sorted(by_suffix):
        copies = by_suffix[suffix]
        if len({c.raw_sha256 for c in copies}) > 1:
            wheres = ", ".join(sorted(c.where for c in copies))
            failures.append(
                RecordError(
                    "conflicting_copies",
                    copies[0].pith_number,
                    f"different bytes for the same record in: {wheres}",
                )
            )
            refused.append(copies[0])
            continue
        first = copies[0]
        if strict:
            warnings = [f"{n}: {d}" for n, st, d in first.checks if st == WARNING]
            if warnings:
                failures.append(
                    VerificationError(
                        "unsigned_field_mismatch", first.pith_number, "--strict: " + "; ".join(warnings)
                    )
                )
                refused.append(first)
                continue
            og_failed = [(kind, codes) for kind, _status, codes in first.open_graph if codes]
            if og_failed:
                failures.append(
                    VerificationError(
                        og_failed[0][1][0],
                        first.pith_number,
                        "--strict: open graph: "
                        + "; ".join(f"{kind}.json {', '.join(codes)}" for kind, codes in og_failed),
                    )
                )
                refused.append(first)
                continue
        accepted.append(first)
    return accepted, failures, refused


def run_build(
    config: Config,
    *,
    write: bool = True,
    progress: bool | None = None,
    fail_after: int | None = None,
) -> BuildReport:
    """Build the site (or, with ``write=False``, only verify). ``fail_after`` injects a fault
    after that many files are written (tests of the fail-closed promise)."""
    report = BuildReport()
    keyring = load_keyring(config.keyring_files)
    sources = config.effective_sources
    output = check_output_dir(config.output, sources) if write else None
    renderer = Renderer(config, keyring)
    jobs = _jobs(config)
    t0 = time.monotonic()

    staged = StagedSite(output) if output is not None else None
    with staged if staged is not None else contextlib.nullcontext():
        staging = staged.staging if staged is not None else None
        runner = _Runner(1, (config, keyring, staging))
        bar = Progress("verify+render", enabled=progress)
        results: list[Result] = []
        try:
            records = load_records(sources, config.max_record_bytes)
            first = list(_take(records, SERIAL_BELOW))
            more = len(first) == SERIAL_BELOW
            if more and jobs > 1:
                runner = _Runner(jobs, (config, keyring, staging))
            stream = _chain(first, records) if more else first
            for chunk_results in runner.map(_process_chunk, _chunks(stream, CHUNK)):
                results.extend(chunk_results)
                bar.advance(len(chunk_results), sum(1 for r in chunk_results if r[1] is not None))
            bar.close()
            report.stage_times["verify+render"] = time.monotonic() - t0
            accepted, failures, refused = _settle(results, config.strict)
            report.failures = failures
            report.published = accepted
            log.info(
                "verify+render: %d record(s) verified, %d invalid, in %.2fs",
                len(accepted),
                len(failures),
                report.stage_times["verify+render"],
            )
            if staging is None:
                return report
            if failures and not config.skip_invalid:
                raise BuildFailedError(failures)
            t1 = time.monotonic()
            kept = {rel for s in accepted for rel in s.outputs}  # e.g. an integrity.json two versions share
            for s in refused:
                for rel in s.outputs:
                    if rel not in kept:
                        (staging / rel).unlink(missing_ok=True)
            if len({s.suffix for s in refused} & {s.suffix for s in accepted}):
                raise AssertionError("a refused record is also accepted")
            ctx = SiteContext(
                config, keyring, renderer, accepted, failures, _build_time(config, accepted), staging
            )
            # site-wide pages (never record pages, which have their own renderer) show the build time
            renderer.env.globals["site_build_time"] = ctx.build_time
            site_files = 0
            for step in SITE_STEPS:
                for f in step(ctx):
                    if not write_file(staging, f.dest_path, f.data):
                        replace_file(staging, f.dest_path, f.data)
                    site_files += 1
                    if fail_after is not None and site_files >= fail_after:
                        raise OSError(5, "injected fault while writing", f.dest_path)
            report.stage_times["site pages"] = time.monotonic() - t1
            log.info("site pages: %d file(s) in %.2fs", site_files, report.stage_times["site pages"])
            t2 = time.monotonic()
            items = [(s.suffix, s.canonical_sha256) for s in accepted]
            problems = [
                e for res in runner.map(_reverify_chunk, _chunks(items, 256)) for e in res if e is not None
            ]
            if problems:
                raise BuildFailedError(problems)
            report.stage_times["re-verify output"] = time.monotonic() - t2
            log.info(
                "re-verify output: %d record copies in %.2fs",
                len(items),
                report.stage_times["re-verify output"],
            )
            for step in FINAL_STEPS:
                for f in step(ctx):
                    if not write_file(staging, f.dest_path, f.data):
                        replace_file(staging, f.dest_path, f.data)
                    site_files += 1
            assert staged is not None
            staged.publish()
            report.output = output
            report.files_written = sum(len(s.outputs) for s in accepted) + site_files
        except OSError as exc:
            where = exc.filename or (staging if staging is not None else "output")
            raise OutputError(
                f"{config.output}: cannot write {where}: {exc.strerror or exc}; "
                "the previous site is untouched"
            ) from exc
        finally:
            runner.close()
    report.stage_times["total"] = time.monotonic() - t0
    return report


@dataclass(frozen=True)
class SiteContext:
    """What site-wide steps see: the accepted records (summaries only) and the build settings."""

    config: Config
    keyring: Keyring
    renderer: Renderer
    records: list[RecordSummary]
    failures: list[RecordError]
    build_time: str
    staging: Path


SiteStep = Callable[[SiteContext], Iterable[OutputFile]]


def index_pages(ctx: SiteContext) -> Iterable[OutputFile]:
    return ctx.renderer.render_index(ctx.records, ctx.build_time)


def report_pages(ctx: SiteContext) -> Iterable[OutputFile]:
    return ctx.renderer.render_report(
        _report(ctx.config, ctx.keyring, ctx.records, ctx.failures, ctx.build_time)
    )


def fixed_files(ctx: SiteContext) -> Iterable[OutputFile]:
    return ctx.renderer.render_fixed()


def shared_short_numbers(ctx: SiteContext) -> Iterable[OutputFile]:
    """A short number shared by several records gets a page that lists them all."""
    by_short: dict[str, list[RecordSummary]] = defaultdict(list)
    for s in ctx.records:
        by_short[s.suffix[:8]].append(s)
    for short8, group in sorted(by_short.items()):
        if len(group) > 1:
            targets = [(s.suffix, s.title) for s in sorted(group, key=lambda s: s.suffix)]
            yield ctx.renderer.paper_redirect(short8, targets)


# Site-wide steps, in order. Each writes files from the summaries; a later step may replace a
# file an earlier one wrote. FINAL_STEPS run after every other file is in the staging tree
# (for example a manifest of the whole tree).
SITE_STEPS: list[SiteStep] = [
    index_pages,
    report_pages,
    fixed_files,
    shared_short_numbers,
    mirror_manifest_files,
]
# manifest_files lists every other file of the tree: keep it last.
FINAL_STEPS: list[SiteStep] = [manifest_files]


def _take(it: Iterator[RawRecord], n: int) -> Iterator[RawRecord]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def _chain(first: list[RawRecord], rest: Iterator[RawRecord]) -> Iterator[RawRecord]:
    yield from first
    yield from rest
