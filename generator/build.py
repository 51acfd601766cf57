"""The pipeline: LOAD -> VERIFY -> RENDER -> WRITE, each stage timed and logged.

Records stream through a pool of worker processes in bounded chunks: each worker verifies a
record, renders its pages and writes them into the staging tree, and returns only a small
``RecordSummary``. Site-wide pages (listings, report) are rendered from those summaries. The
finished staging tree is re-verified from its own bytes before the atomic swap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import logging
import multiprocessing
import os
import sqlite3
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from generator import GENERATOR, paths
from generator.columns import Columns, data_reader
from generator.config import Config
from generator.errors import BuildFailedError, OutputError, RecordError, VerificationError
from generator.forked import Forked
from generator.incremental import (
    BuildState,
    IncrementalSite,
    StaleStateError,
    drop_spare,
    input_key,
    open_state,
    render_fingerprint,
)
from generator.keyring import Keyring, load_keyring, parse_time
from generator.manifest import manifest_files
from generator.mirror_index import mirror_index_files
from generator.mirrors import mirror_manifest_files
from generator.progress import Progress
from generator.reader_site import READER_STEPS, listing_pages, search_files
from generator.render.cached import CachedPage, KeptTree
from generator.render.site import OutputFile, RecordSummary, Renderer, format_time
from generator.report import verification_pages
from generator.scan import Scan, input_stamp, scan_inputs
from generator.shard import outside_shard
from generator.sitewrite import ChildWriter, SiteWriter, StepsOutcome
from generator.sources import RawRecord
from generator.sources.local import load_records
from generator.sources.store import load_store_records
from generator.streamed import StreamedFile
from generator.summaries import (
    TOUCHED_COLUMNS,
    TOUCHED_IN_MEMORY,
    FileHashes,
    Settled,
    SummaryStore,
    add_pending_rows,
    connect,
    held_files,
    meta_set,
    new_record_copies,
    pending_row,
    record_columns,
    settle,
    share_database,
)
from generator.verify import verify_record
from generator.verify.growth import dropped, rolled_back
from generator.write import (
    StagedSite,
    bind_to_parent,
    check_output_dir,
    is_plain,
    put_file,
    umask_trusted,
)

log = logging.getLogger(__name__)

CHUNK = 64
SERIAL_BELOW = 256  # below this many records a pool costs more than it saves


@dataclass
class BuildReport:
    published: Sequence[RecordSummary] = field(default_factory=list)
    failures: list[RecordError] = field(default_factory=list)
    stage_times: dict[str, float] = field(default_factory=dict)
    output: Path | None = None
    files_written: int = 0
    # incremental builds: counts of inputs, records carried unchanged and records rebuilt
    incremental: dict[str, Any] = field(default_factory=dict)
    outside_shard: int = 0  # inputs left to other shards (--suffix-prefix)
    kept_pages: int = 0  # site-wide pages an incremental build kept instead of rendering
    # CPU seconds (user and kernel) the per-record stage spent in each of ``CPU_PARTS``, summed
    # over the workers: where a build's time goes beyond the site-wide steps
    record_cpu: dict[str, float] = field(default_factory=dict)
    pooled: bool = False  # whether records went through a pool of processes (else this one)

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
    _worker["published"] = _live_probe(config, _published_copy) or _none


def _none(rel: str) -> None:
    return None


T = TypeVar("T")


def _live_probe(config: Config, probe: Callable[[str, int, str], T]) -> Callable[[str], T] | None:
    """``probe`` (``_published_copy`` or ``_published_file``) bound to the live site and the
    bound on a record's size; None when there is no live site (a first build): nothing can be
    rolled back, and no file needs looking at."""
    if not os.path.isdir(config.output):
        return None
    return partial(probe, os.fspath(config.output), config.max_record_bytes)


def _published_copy(live: str, max_bytes: int, rel: str) -> bytes | None:
    """The bytes of ``rel`` in the live site (the directory ``live``), or None when it has no
    such file (or one larger than any input may be, which no build of it wrote). Never through
    a symlink at the end, and never a read that could wait (a FIFO): anything there but a
    regular file is an ``OutputError`` (``_not_a_file``)."""
    path = f"{live}/{paths.safe_rel(rel)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        # a symlink (ELOOP), a socket (ENXIO); an error opening a regular file is raised as it is
        if exc.errno == errno.ELOOP:
            raise _not_a_file(path, stat.S_IFLNK) from None
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(path, mode) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(path, mode)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def _published_file(live: str, max_bytes: int, rel: str) -> bool:
    """Whether the live site (the directory ``live``) has a file at ``rel`` that a build of it
    could have written (as ``_published_copy`` reads it: anything there but a regular file is
    the same ``OutputError``, and a file larger than any input may be is none), found with one
    ``lstat`` and no read."""
    path = f"{live}/{paths.safe_rel(rel)}"
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(st.st_mode):
        raise _not_a_file(path, st.st_mode)
    return st.st_size <= max_bytes


_KINDS = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_a_file(path: str, mode: int) -> OutputError:
    """The error for what stands at ``path`` in the live site (``mode``: its ``lstat`` mode)
    where the build must compare what it would publish with a regular file or nothing. No build
    publishes a symlink, a directory or a special file there (the live site was changed by
    other hands), so the build cannot tell what the site publishes, and stops: nothing is
    published and the previous site stays as it is."""
    kind = next((name for test, name in _KINDS if test(mode)), "a device")
    return OutputError(
        f"{path}: {kind} in the live site, where a build publishes a regular file; the build "
        "cannot tell what is published there, so it stopped (the previous site is untouched)"
    )


def _init_pool_worker(parent: int, config: Config, keyring: Keyring, staging: Path | None) -> None:
    """A pool worker ends with the build that forked it, and does not keep its lock."""
    bind_to_parent(parent)
    _init_worker(config, keyring, staging)


# (input position, summary, error, files written (or, verifying only, to write) as (path,
# sha256, size), columns)
Result = tuple[
    int, RecordSummary | None, RecordError | None, tuple[tuple[str, str, int], ...], Columns | None
]


# The parts of the per-record stage whose CPU time a build reports (``BuildReport.record_cpu``):
# verifying a record; rendering its pages and documents; hashing, checking against the live
# site and writing its files; and preparing its columns for the site-wide steps
CPU_PARTS = ("verify", "render", "write", "columns")
CpuParts = tuple[float, float, float, float]


# What the staging tree holds of a record's files (rel -> (SHA-256, size)) when a build that
# rebuilds every record starts from the spare: a file with the same bytes is left as it is.
Held = dict[str, tuple[str, int]]
NOTHING_HELD: Held = {}
# (input position, input, files held)
Work = tuple[int, RawRecord, Held]


def _process_chunk(chunk: list[Work]) -> tuple[list[Result], CpuParts]:
    """Verify, render and write each record; returns what each record wrote, with hashes, and
    the CPU time the chunk spent in each part (``CPU_PARTS``). A file whose bytes the staging
    tree holds already (``held``, and a plain file of that size there) is not written again. A
    record whose documents would roll back the live site's copies (``growth.rolled_back``; the
    live copies of files ``held`` with the same bytes need no reading) is refused."""
    renderer: Renderer = _worker["renderer"]
    staging: Path | None = _worker["staging"]
    out: list[Result] = []
    verifying = rendering = writing = cols_cpu = 0.0
    clock = time.thread_time
    for seq, raw, held in chunk:
        c0 = clock()
        try:
            rec = verify_record(raw, _worker["keyring"], max_bytes=_worker["max_bytes"])
        except RecordError as exc:
            out.append((seq, None, exc, (), None))
            verifying += clock() - c0
            continue
        c1 = clock()
        files, summary = renderer.render_record(rec)
        c2 = clock()
        verifying += c1 - c0
        rendering += c2 - c1
        digests = [(f, hashlib.sha256(f.data).hexdigest(), len(f.data)) for f in files]
        changed = ((f.dest_path, f.data) for f, sha, size in digests if held.get(f.dest_path) != (sha, size))
        refused = rolled_back(rec, changed, _worker["published"]) or dropped(
            rec, {f.dest_path for f in files}, _worker["published"]
        )
        if refused is not None:
            out.append((seq, None, refused, (), None))
            writing += clock() - c2
            continue
        if staging is not None:
            for f, sha, size in digests:
                same = held.get(f.dest_path) == (sha, size)
                if not (same and is_plain(staging / paths.safe_rel(f.dest_path), size)):
                    put_file(staging, f.dest_path, f.data)
        # listed without a staging tree too (verify): the build's file list is what the checks
        # after the per-record stage compare (shared integrity documents, and their rollback)
        written = tuple((f.dest_path, sha, size) for f, sha, size in digests)
        c3 = clock()
        cols = record_columns(summary, data_reader((f.dest_path, f.data) for f in files), renderer)
        out.append((seq, summary, None, written, cols))
        writing += c3 - c2
        cols_cpu += clock() - c3
    return out, (verifying, rendering, writing, cols_cpu)


def _reverify_chunk(items: list[tuple[str, str]]) -> list[RecordError | None]:
    """Read each published record copy back from the staging tree: its SHA-256 must be that of
    the bytes that passed ``verify_record`` (so it is those bytes, receipt and all)."""
    staging: Path = _worker["staging"]
    out: list[RecordError | None] = []
    for suffix, raw_sha256 in items:
        rel = paths.record_json(suffix)
        try:
            with open(staging / rel, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            out.append(
                VerificationError(
                    "hash_mismatch", f"output {rel}", f"cannot read back the written copy: {exc.strerror}"
                )
            )
            continue
        if digest != raw_sha256:
            out.append(
                VerificationError(
                    "hash_mismatch", f"output {rel}", "the written copy is not the record that was verified"
                )
            )
        else:
            out.append(None)
    return out


# -- orchestration --------------------------------------------------------------------------


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
                jobs, mp_context=ctx, initializer=_init_pool_worker, initargs=(os.getpid(), *init_args)
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


def _build_time(config: Config, newest: datetime | None) -> str:
    """SOURCE_DATE_EPOCH if set, else the newest signing time in the input: never the clock."""
    if config.source_date_epoch is not None:
        return format_time(config.source_date_epoch)
    return newest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if newest else "unknown"


def _signed_time(s: RecordSummary) -> datetime | None:
    if not s.signed_at:
        return None
    try:
        return parse_time(s.signed_at)
    except ValueError:
        return None


def _report_head(
    config: Config, keyring: Keyring, published: int, failures: list[RecordError], build_time: str
) -> dict[str, Any]:
    """The verification report's head (``generator.report`` adds the list of record shards)."""
    return {
        "report_type": "pith_mirror_verification_report",
        "report_version": "2",
        "generator": GENERATOR,
        "build_time": build_time,
        "upstream": config.upstream,
        "keyring": keyring.describe(),
        "published": published,
        "skipped": [{"where": f.where, "code": f.code, "detail": f.detail} for f in failures],
    }


def run_build(
    config: Config,
    *,
    write: bool = True,
    progress: bool | None = None,
    fail_after: int | None = None,
) -> BuildReport:
    """Build the site (or, with ``write=False``, only verify). ``fail_after`` injects a fault
    after that many site-wide files are written (tests of the fail-closed promise).

    With ``config.incremental``, records whose inputs and render fingerprint are unchanged are
    carried from the live site (see ``generator.incremental``); if the live site turns out not to
    match its build state, the build starts again from nothing."""
    with umask_trusted():
        try:
            try:
                return _run_build(config, write=write, progress=progress, fail_after=fail_after, reuse=True)
            except StaleStateError as exc:
                log.warning("the live site does not match its build state (%s): rebuilding every record", exc)
                return _run_build(config, write=write, progress=progress, fail_after=fail_after, reuse=False)
        except OSError as exc:
            # what the build's own handler did not name: preparing the staging tree (making it,
            # copying the live tree into it) or ending the build
            where = f" {exc.filename}" if exc.filename else ""
            detail = exc.strerror or str(exc)
            raise OutputError(f"{config.output}: cannot write{where}: {detail}; the build stopped") from exc


def _run_build(
    config: Config,
    *,
    write: bool,
    progress: bool | None,
    fail_after: int | None,
    reuse: bool,
) -> BuildReport:
    report = BuildReport()
    keyring = load_keyring(config.keyring_files)
    sources = config.effective_sources
    inputs = sources + ((config.store,) if config.store is not None else ())
    output = check_output_dir(config.output, inputs) if write else None
    renderer = Renderer(config, keyring)
    jobs = _jobs(config)
    t0 = time.monotonic()
    incremental = output is not None and config.incremental
    fingerprint = render_fingerprint(config, keyring) if incremental else ""

    staged: StagedSite | None = None
    scan: Scan | None = None
    if output is not None:
        staged = IncrementalSite(output, fingerprint) if incremental else StagedSite(output)
    with staged if staged is not None else contextlib.nullcontext():
        staging = staged.staging if staged is not None else None
        old: BuildState | None = None
        if isinstance(staged, IncrementalSite):
            old = staged.old_state
            staged.reusable = staged.reusable and reuse
            staged.trusted = staged.trusted and reuse
            stamp = input_stamp(sources, config.store) if incremental else None
            if staged.reusable and old.db is not None:
                if stamp is not None and stamp == old.meta("input_stamp"):
                    digest, count = old.meta("inputs"), int(old.meta("input_count") or 0)
                else:
                    # the spare is checked from the first changed input on, beside the scan
                    scan = scan_inputs(
                        _inputs(config, sources),
                        old,
                        config.suffix_prefixes,
                        staged.scan_connection(),
                        on_change=staged.start_check,
                    )
                    digest, count = scan.digest, scan.count
                if digest == old.meta("inputs") and str(count) == old.meta("input_count"):
                    staged.drop_check()
                    problem = old.check_live_files()
                    if problem is None:
                        staged.release()
                        report.published = SummaryStore(open_state(staged.output))
                        report.output = output
                        report.incremental = {"unchanged": True, "inputs": count}
                        report.files_written = 0
                        log.info("nothing changed: %d input(s), the live site is current", count)
                        report.stage_times["unchanged"] = report.stage_times["total"] = time.monotonic() - t0
                        return report
                    log.info("the live site differs from its build state (%s): rebuilding all", problem)
                    staged.reusable = staged.trusted = False
            staged.begin()
            assert staged.db is not None
            db = staged.db
        else:
            db = connect(None)
        store = SummaryStore(db)
        based = isinstance(staged, IncrementalSite) and staged.based
        hashes = FileHashes(db, based=based, keep_chunks=incremental)
        runner = _Runner(1, (config, keyring, staging))
        bar = Progress("verify+render", enabled=progress)
        carry = based and isinstance(staged, IncrementalSite) and staged.reusable
        key_digest = hashlib.sha256()
        counts = {"inputs": 0, "carried": 0, "rebuilt": 0}
        keys: dict[int, str] = {}
        inputs_hex = key_digest.hexdigest

        # every record is rebuilt into the spare (a template or code change): the files it holds
        # for a record whose input did not change are looked up, and rewritten only if they differ
        rewrite = based and not carry and isinstance(staged, IncrementalSite) and staged.mode == "spare"

        def feed() -> Iterator[Work]:
            """Inputs to verify and render; with a usable state, known ones are only noted."""
            batch: list[tuple[int, RawRecord, str]] = []

            def flush() -> Iterator[Work]:
                known = old.known([k for _s, _r, k in batch]) if carry and old is not None else set()
                held = held_files(db, [k for _s, _r, k in batch]) if rewrite else {}
                carried = []
                for seq, raw, key in batch:
                    if key in known:
                        carried.append((key, seq, raw.where))
                    else:
                        keys[seq] = key
                        counts["rebuilt"] += 1
                        yield seq, raw, held.get(key, NOTHING_HELD)
                if carried:
                    db.executemany("INSERT OR IGNORE INTO carried VALUES (?, ?, ?)", carried)
                    counts["carried"] += len(carried)
                    bar.advance(len(carried))
                batch.clear()

            for seq, raw in enumerate(_inputs(config, sources)):
                counts["inputs"] += 1
                key = input_key(raw) if incremental else ""
                if key:
                    key_digest.update(bytes.fromhex(key))
                if outside_shard(raw.data, config.suffix_prefixes):
                    report.outside_shard += 1
                    continue
                batch.append((seq, raw, key))
                if len(batch) >= 256:
                    yield from flush()
            yield from flush()

        def scanned(retained: list[tuple[int, RawRecord, str]]) -> Iterator[Work]:
            """The inputs the scan kept: those the previous build does not have."""
            for seq, raw, key in retained:
                keys[seq] = key
                yield seq, raw, NOTHING_HELD

        try:
            stream: Iterator[Work]
            if (
                scan is not None
                and scan.retained is not None
                and carry
                and isinstance(staged, IncrementalSite)
            ):
                stream_from_scan = True
                counts.update(inputs=scan.count, carried=scan.carried, rebuilt=len(scan.retained))
                report.outside_shard = scan.outside
                bar.advance(scan.carried)
                digest_hex = scan.digest
                inputs_hex = lambda: digest_hex  # noqa: E731
                stream = scanned(scan.retained)
            else:
                stream_from_scan = False
                stream = feed()
            first = list(_take(stream, SERIAL_BELOW))
            more = len(first) == SERIAL_BELOW
            if more and jobs > 1:
                runner = _Runner(jobs, (config, keyring, staging))
            chained = _chain(first, stream) if more else iter(first)
            # Records may share a file (versions of one paper share /pith/{arxiv}/integrity.json;
            # records sharing a short number, its redirect page). Which copy is on disk depends
            # on worker timing, so copies that differ are settled here: integrity documents must
            # agree (or the build fails), other files are read back (a site step replaces them).
            shared_copies: list[tuple[str, str]] = []
            contested: set[str] = set()
            record_cpu = [0.0] * len(CPU_PARTS)
            for chunk_results, chunk_cpu in runner.map(_process_chunk, _chunks(chained, CHUNK)):
                record_cpu = [a + b for a, b in zip(record_cpu, chunk_cpu, strict=True)]
                # each chunk's rows go in with one statement per table
                pending: list[tuple[Any, ...]] = []
                noting: list[tuple[str, str, int, str, str]] = []
                owned: list[tuple[str, str]] = []
                for seq, summary, error, written, cols in chunk_results:
                    if error is not None:
                        report.failures.append(error)
                    elif summary is not None:
                        assert cols is not None, "a worker sends the columns of every summary"
                        key = keys.pop(seq, "")
                        pending.append(pending_row(seq, summary, key, cols))
                        pith = summary.pith_number
                        noting.extend((rel, sha, size, key, pith) for rel, sha, size in written)
                        if key:
                            owned.extend((key, rel) for rel, _sha, _size in written)
                add_pending_rows(db, pending)
                for rel, pith in hashes.add_many(noting):
                    if rel.endswith("/integrity.json"):
                        shared_copies.append((rel, pith))
                    else:
                        contested.add(rel)
                hashes.own_many(owned)
                bar.advance(len(chunk_results), sum(1 for r in chunk_results if r[2] is not None))
            if staging is not None:
                for rel in sorted(contested):
                    data = (staging / rel).read_bytes()
                    hashes.record(rel, hashlib.sha256(data).hexdigest(), len(data))
            bar.close()
            report.stage_times["verify+render"] = time.monotonic() - t0
            report.record_cpu = dict(zip(CPU_PARTS, record_cpu, strict=True))
            report.pooled = runner.pool is not None
            ts = time.monotonic()
            found = scan if stream_from_scan and scan is not None else None
            # a paper whose integrity findings the live site publishes may not lose them (the
            # workers cannot tell: another version of the paper may bring them)
            settled = settle(
                db,
                config.strict,
                based,
                gone=found.gone if found is not None else None,
                moved=found.moved if found is not None else None,
                published=_live_probe(config, _published_file),
            )
            if based:
                shared_copies.extend(_carried_copies_replaced(db))
            for rel, pith in shared_copies:
                report.failures.append(
                    RecordError(
                        "conflicting_copies",
                        pith,
                        f"{rel}: another version of this paper came with a different integrity "
                        "document; refusing to pick one",
                    )
                )
            store.invalidate()
            report.stage_times["settle"] = time.monotonic() - ts
            failures = report.failures + settled.failures
            report.failures = failures
            report.published = store
            report.incremental = dict(counts) if incremental else {}
            log.info(
                "verify+render: %d record(s) verified, %d invalid, in %.2fs%s",
                len(store),
                len(failures),
                report.stage_times["verify+render"],
                f" ({counts['carried']} carried unchanged)" if counts["carried"] else "",
            )
            log.info(
                "verify+render CPU time: %s", ", ".join(f"{k} {v:.2f}s" for k, v in report.record_cpu.items())
            )
            if report.outside_shard:
                log.info("%d input(s) belong to other shards (--suffix-prefix)", report.outside_shard)
            if staging is None:
                return report
            if failures and not config.skip_invalid:
                raise BuildFailedError(failures)
            t1 = time.monotonic()
            if based:
                _refuse_based(db, settled)
            else:
                for rel in _not_shared(store, settled.refused_files):
                    _remove_output(staging, rel)
                    hashes.forget(rel)
            ctx = SiteContext(
                config,
                keyring,
                renderer,
                store,
                failures,
                _build_time(config, settled.newest),
                staging,
                hashes,
                settled.touched if based else None,
                settled.before if based else None,
            )
            writer = SiteWriter(staging, hashes, db, based=based, fail_after=fail_after)
            children: list[Forked[StepsOutcome]] = []
            if isinstance(staged, IncrementalSite) and jobs > 1:
                # the steps in CHILD_STEPS run in forked processes beside the others; they read
                # the build database through their own connections (write-ahead log: this
                # connection goes on writing), and this process notes what they wrote
                share_database(db)
                children = [
                    Forked(partial(_steps_in_child, staged.db_path, step, ctx, based), step.__name__)
                    for step in CHILD_STEPS
                ]
                db.execute("BEGIN")
            try:
                for step in SITE_STEPS:
                    if children and step in CHILD_STEPS:
                        continue
                    ts = time.monotonic()
                    before = writer.files
                    for f in step(ctx):
                        writer.emit(f)
                    writer.flush()
                    took = time.monotonic() - ts
                    log.debug("site step %s: %d file(s) in %.2fs", step.__name__, writer.files - before, took)
                for child in children:
                    outcome = child.result()
                    writer.take(outcome)
                    for name, n, took in outcome.took:
                        log.debug("site step %s (beside the others): %d file(s) in %.2fs", name, n, took)
            finally:
                for child in children:
                    child.cancel()
            site_files, kept_pages = writer.files, writer.kept_pages
            report.stage_times["site pages"] = time.monotonic() - t1
            report.kept_pages = kept_pages
            log.info(
                "site pages: %d file(s) in %.2fs%s",
                site_files,
                report.stage_times["site pages"],
                f" ({kept_pages} kept unchanged)" if kept_pages else "",
            )
            t2 = time.monotonic()
            checked = 0
            problems: list[RecordError] = []
            for res in runner.map(_reverify_chunk, _chunks(new_record_copies(db), 256)):
                checked += len(res)
                problems.extend(e for e in res if e is not None)
            if problems:
                raise BuildFailedError(problems)
            report.stage_times["re-verify output"] = time.monotonic() - t2
            log.info(
                "re-verify output: %d record copies in %.2fs", checked, report.stage_times["re-verify output"]
            )
            if isinstance(staged, IncrementalSite):
                ts = time.monotonic()
                staged.finish_check()
                report.stage_times["check spare"] = time.monotonic() - ts
                ts = time.monotonic()
                removed = staged.remove_stale(hashes)
                report.stage_times["remove stale"] = time.monotonic() - ts
                if removed:
                    log.info(
                        "removed %d file(s) of the previous build that this build does not have", removed
                    )
            tf = time.monotonic()
            for step in FINAL_STEPS:
                for f in step(ctx):
                    writer.emit(f)
                writer.flush()
            report.stage_times["final steps"] = time.monotonic() - tf
            assert staged is not None
            t3 = time.monotonic()
            report.files_written = len(hashes)
            if isinstance(staged, IncrementalSite):
                meta_set(db, "fingerprint", fingerprint)
                meta_set(db, "inputs", inputs_hex())
                meta_set(db, "input_count", counts["inputs"])
                meta_set(db, "input_stamp", stamp or "")
                db.execute("DELETE FROM pending")
                db.execute("DELETE FROM carried")
                db.execute("DELETE FROM page_keys WHERE rel NOT IN (SELECT rel FROM files)")
            staged.publish()
            if isinstance(staged, IncrementalSite):
                report.published = SummaryStore(open_state(staged.output))
            else:
                drop_spare(staged.output)  # a clean build keeps no spare
            report.stage_times["publish"] = time.monotonic() - t3
            report.output = output
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


def _carried_copies_replaced(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(rel, pith number) for each integrity document that a record verified now wrote with
    other bytes than a record carried from the previous build (another version of the paper)."""
    return [
        (str(rel), str(pith))
        for rel, pith in db.execute(
            "SELECT w.rel, w.pith FROM temp.overwritten w WHERE w.rel LIKE '%/integrity.json' AND EXISTS "
            "(SELECT 1 FROM owners o JOIN carried c USING (input_key) WHERE o.rel = w.rel "
            "AND o.input_key NOT IN (SELECT input_key FROM temp.gone)) ORDER BY w.rel"
        )
    ]


def _refuse_based(db: sqlite3.Connection, settled: Settled) -> None:
    """Refused records' files become candidates for removal (``IncrementalSite.remove_stale``
    keeps those that another record owns or a site step writes)."""
    keys = sorted(set(settled.refused_keys))
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        db.execute(f"DELETE FROM owners WHERE input_key IN ({','.join('?' * len(part))})", part)
    rels = sorted(set(settled.refused_files))
    db.executemany("DELETE FROM temp.noted WHERE rel = ?", [(r,) for r in rels])
    db.executemany("INSERT OR IGNORE INTO temp.stale VALUES (?)", [(r,) for r in rels])


def _not_shared(store: SummaryStore, refused: list[str]) -> list[str]:
    """The refused records' files that no accepted record also has (for example an
    integrity.json that two versions of one paper share)."""
    if not refused:
        return []
    wanted = set(refused)
    shared = {rel for s in store for rel in s.outputs if rel in wanted}
    return [rel for rel in refused if rel not in shared]


def _remove_output(staging: Path, rel: str) -> None:
    """Remove a refused record's file, and its directory when that is left empty."""
    (staging / rel).unlink(missing_ok=True)
    parent = (staging / rel).parent
    while parent != staging:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


@dataclass(frozen=True)
class SiteContext:
    """What site-wide steps see: the accepted records and the build settings.

    ``records`` is a read-only sequence of summaries in SUFFIX order, kept on disk (iterate it,
    or use ``records.ordered(...)``/``records.by_short8()`` when it is a ``SummaryStore``; do not
    copy it into a list on large sites). ``known_hashes`` maps every file already in the staging
    tree to its SHA-256, so a final step need not re-read files."""

    config: Config
    keyring: Keyring
    renderer: Renderer
    records: Sequence[RecordSummary]
    failures: list[RecordError]
    build_time: str
    staging: Path
    known_hashes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # SUFFIXes whose record this build added, replaced or removed (``Settled.touched``), when
    # ``records`` is the build's ``SummaryStore`` updating the previous build's; else None
    touched: frozenset[str] | None = None
    # ``Settled.before``: what the previous build's rows of ``touched`` held (when known)
    before: frozenset[tuple[Any, ...]] | None = None

    def unchanged(self, *columns: str) -> bool:
        """True when every record this build added, replaced or removed (``touched``) has the
        same values in ``columns`` (of ``TOUCHED_COLUMNS``) as the previous build gave it, so
        that the column values of all records, with their SUFFIXes, are the previous build's; a
        step that shows only those may keep what the previous build made of them. False when
        not known (no previous build, or more than ``TOUCHED_IN_MEMORY`` records touched)."""
        if (
            self.touched is None
            or self.before is None
            or len(self.touched) > TOUCHED_IN_MEMORY
            or not isinstance(self.records, SummaryStore)
        ):
            return False
        at = [TOUCHED_COLUMNS.index(c) for c in ("suffix", *columns)]

        def project(rows: frozenset[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
            return {tuple(row[i] for i in at) for row in rows}

        return project(self.before) == project(self.records.touched_rows(self.touched))


SiteStep = Callable[[SiteContext], Iterable[OutputFile | StreamedFile | CachedPage | KeptTree]]


def _steps_in_child(state: Path, step: SiteStep, ctx: SiteContext, based: bool) -> StepsOutcome:
    """In a forked child: run ``step`` on its own read-only connection to the build database,
    writing its files into the staging tree and returning what the parent's writer notes."""
    db = sqlite3.connect(str(state), isolation_level=None)
    try:
        db.execute("PRAGMA query_only=ON")
        db.execute("PRAGMA cache_size=-16384")
        writer = ChildWriter(ctx.staging, db, based=based)
        own = dataclasses.replace(ctx, records=SummaryStore(db), known_hashes=writer.hashes)
        ts = time.monotonic()
        for f in step(own):
            writer.emit(f)
        outcome = writer.finish()
        outcome.took.append((step.__name__, outcome.files, time.monotonic() - ts))
        return outcome
    finally:
        db.close()


def fixed_files(ctx: SiteContext) -> Iterable[OutputFile]:
    return ctx.renderer.render_fixed()


def shared_short_numbers(ctx: SiteContext) -> Iterable[OutputFile]:
    """A short number shared by several records gets a page that lists them all."""
    if not ctx.config.paper_pages:
        return
    if isinstance(ctx.records, SummaryStore):
        groups: Iterable[tuple[str, list[RecordSummary]]] = ctx.records.by_short8()
    else:
        by_short: dict[str, list[RecordSummary]] = defaultdict(list)
        for s in ctx.records:
            by_short[s.suffix[:8]].append(s)
        groups = ((k, v) for k, v in sorted(by_short.items()) if len(v) > 1)
    for short8, group in groups:
        targets = [(s.suffix, s.title) for s in sorted(group, key=lambda s: s.suffix)]
        yield ctx.renderer.paper_redirect(short8, targets)


# Site-wide steps, in order. Each writes files from the summaries; a later step may replace a
# file an earlier one wrote. FINAL_STEPS run after every other file is in the staging tree
# (for example a manifest of the whole tree).
SITE_STEPS: list[SiteStep] = [
    verification_pages,
    fixed_files,
    shared_short_numbers,
    mirror_manifest_files,
    mirror_index_files,
    *READER_STEPS,
]
# Steps that run in forked processes beside the others when the build has a state file and more
# than one core: each writes files no other step writes and reads only the summaries and the
# file list. The two costliest steps.
CHILD_STEPS: tuple[SiteStep, ...] = (listing_pages, search_files)
# manifest_files lists every other file of the tree: keep it last.
FINAL_STEPS: list[SiteStep] = [manifest_files]


def _inputs(config: Config, sources: tuple[Path, ...]) -> Iterator[RawRecord]:
    """Every input record: local sources, then the download store when one is configured."""
    yield from load_records(sources, config.max_record_bytes)
    if config.store is not None:
        yield from load_store_records(config.store)


def _take(it: Iterator[T], n: int) -> Iterator[T]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def _chain(first: list[T], rest: Iterator[T]) -> Iterator[T]:
    yield from first
    yield from rest
