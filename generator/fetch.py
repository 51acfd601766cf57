"""FETCH: records over HTTP into the local store, each verified before it is kept.

From the upstream (pith.science or anything serving its URL layout), or with ``from_mirror``
from another pith-mirror site through its mirror index. For each record:

1. resolve the name to a SUFFIX (arXiv ids through the upstream's resolve endpoint, or the
   store's memory of an earlier answer; short numbers through the store, the index, or the
   upstream's ``/pith/{SHORT}.json``);
2. skip it when the store already holds it complete (unless refreshing);
3. fetch ``/pith/{SUFFIX}.json`` (conditionally when refreshing) and verify it with
   ``verify_record`` - also when the server says 304 and the stored bytes are used;
4. fetch the endpoint copies; check each (strict JSON naming this record; from a mirror, the
   exact size and SHA-256 its index gives), and apply the append-only rule against the copy held;
5. write the bodies as objects, then commit the record and its copies in one transaction.

Nothing of a record is kept unless all of it passed: a failure leaves the store as it was for
that record, and the next run tries it again.

With a ``deadline`` the whole run is bounded: when it passes, the run is cancelled the way SIGTERM
cancels it (requests in flight dropped; a record is committed in one transaction or not at all)
and ``run`` raises ``DeadlineError`` carrying the report of what was done.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from generator.deadline import format_seconds
from generator.errors import (
    DeadlineError,
    DownloadError,
    GeneratorError,
    HttpStatusError,
    MirrorIndexError,
    ResponseError,
    UsageError,
)
from generator.keyring import Keyring
from generator.mirror_index import TOP, IndexEntry, ShardRef, parse_shard, parse_top
from generator.net import HttpClient, Response, utc_now
from generator.progress import Progress
from generator.sources import RawRecord
from generator.sources.remote import (
    DEFAULT_KINDS,
    RECORD,
    Wanted,
    endpoint_url,
    resolve_url,
    short_url,
    suffix_from_resolve,
)
from generator.store import ABSENT, CHECKED, VERIFIED, CopyUpdate, NewResponse, RecordRow, Store, StoredCopy
from generator.strictjson import MAX_BYTES
from generator.verify import VerifiedRecord, verify_record
from generator.verify.growth import check_endpoint_copy, refusal_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchOptions:
    base_url: str  # the upstream, or the other mirror with from_mirror
    kinds: tuple[str, ...]
    refresh: bool = False
    from_mirror: bool = False
    max_record_bytes: int = MAX_BYTES
    deadline: float | None = None  # seconds for the whole run; None: no bound


@dataclass
class FetchReport:
    asked: int = 0
    fetched: int = 0  # records stored for the first time, or with a changed copy
    unchanged: int = 0  # refreshed: the server confirmed what the store holds
    skipped: int = 0  # already complete in the store: nothing requested
    failures: list[GeneratorError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0


class _Done(Exception):
    """Internal: the record needs nothing more (already complete, or a duplicate)."""


class Fetcher:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        http: HttpClient,
        options: FetchOptions,
        *,
        progress: bool | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.http = http
        self.opt = options
        self.report = FetchReport()
        self.progress = Progress("fetch", enabled=progress)
        self._claimed: set[str] = set()
        self._top: list[ShardRef] | None = None
        self._shards: dict[str, list[IndexEntry]] = {}
        self._index_lock = asyncio.Lock()

    # -- driving ----------------------------------------------------------------------------
    async def run(self, wanted: Iterable[Wanted]) -> FetchReport:
        """Fetch ``wanted`` (with ``from_mirror`` and nothing wanted: the whole other mirror)."""
        t0 = time.monotonic()
        items = list(dict.fromkeys(wanted))
        try:
            async with asyncio.timeout(self.opt.deadline) as bound:
                if self.opt.from_mirror and not items:
                    top = await self._load_top()
                    self.progress.total = sum(ref.records for ref in top)
                    await self._drive(self._all_entries(top))
                else:
                    self.progress.total = len(items)
                    await self._drive(_aiter(items))
        except TimeoutError:
            if not bound.expired():  # pragma: no cover - every request timeout is a TransportError
                raise
            self._finish(t0)
            message = self._deadline_message()
            raise DeadlineError("deadline", self.opt.base_url, message, self.report) from None
        self._finish(t0)
        return self.report

    def _finish(self, t0: float) -> None:
        self.progress.close()
        self.report.requests = self.http.requests
        self.report.retries = self.http.retries
        self.report.seconds = time.monotonic() - t0

    def _deadline_message(self) -> str:
        done, total = self.progress.done, self.progress.total
        seconds = format_seconds(self.opt.deadline or 0)
        return (
            f"fetch stopped at its deadline of {seconds} s after {done}"
            + (f" of {total}" if total else "")
            + " record(s); every record fetched and verified so far is kept: run again to resume"
        )

    async def _drive(self, source: AsyncIterator[Wanted | IndexEntry]) -> None:
        queue: asyncio.Queue[Wanted | IndexEntry | None] = asyncio.Queue(maxsize=256)
        workers = max(4, 2 * self.http.settings.concurrency)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                await self._one(item)

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(work()) for _ in range(workers)]
            async for item in source:
                await queue.put(item)
            for _ in tasks:
                await queue.put(None)

    async def _one(self, item: Wanted | IndexEntry) -> None:
        self.report.asked += 1
        failed = 0
        try:
            if isinstance(item, IndexEntry):
                await self._record(item.suffix, entry=item)
            else:
                await self._wanted(item)
        except _Done:
            pass
        except GeneratorError as exc:
            failed = 1
            self.report.failures.append(exc)
            log.debug("failed: %s", exc)
        self.progress.advance(1, failed)

    async def _wanted(self, w: Wanted) -> None:
        if w.kind == "suffix":
            await self._record(w.value, entry=await self._entry(w.value) if self.opt.from_mirror else None)
            return
        key = f"{w.kind}:{w.value}" + (f"v{w.version}" if w.version else "")
        known = self.store.alias(key)
        if known is not None:
            await self._record(
                known, entry=await self._entry(known) if self.opt.from_mirror else None, want=w
            )
            return
        if self.opt.from_mirror:
            entry = await self._find_in_index(w)
            await self._record(entry.suffix, entry=entry, want=w, alias=(key, TOP))
            return
        if w.kind == "short":
            local = self.store.suffixes_starting(w.value)
            if len(local) > 1:
                raise UsageError(f"{w.describe()}: short number matches {len(local)} records: {local[:5]}")
            if local:
                await self._record(local[0], want=w)
                return
            url = short_url(self.opt.base_url, w.value)
            resp = await self.http.get(url)
            rec = self._verify(resp.body, url)
            await self._record(rec.suffix, want=w, alias=(key, url))
            return
        url = resolve_url(self.opt.base_url, w.value)
        try:
            resp = await self.http.get(url)
        except HttpStatusError as exc:
            if exc.code == "not_found":
                raise ResponseError(
                    "resolve_failed", url, f"the upstream knows no record for arXiv id {w.value}"
                ) from None
            raise
        suffix = suffix_from_resolve(resp.body, url)
        await self._record(suffix, want=w, alias=(key, url), via=url)

    # -- one record -------------------------------------------------------------------------
    def _verify(self, data: bytes, url: str) -> VerifiedRecord:
        return verify_record(RawRecord(data, url), self.keyring, max_bytes=self.opt.max_record_bytes)

    async def _record(
        self,
        suffix: str,
        *,
        entry: IndexEntry | None = None,
        want: Wanted | None = None,
        alias: tuple[str, str] | None = None,
        via: str | None = None,
    ) -> None:
        if suffix in self._claimed:
            raise _Done
        self._claimed.add(suffix)
        kinds = self.opt.kinds
        if not self.opt.refresh and self.store.complete(suffix, kinds):
            self.report.skipped += 1
            if alias is not None:
                self.store.set_alias(alias[0], suffix, alias[1])
            raise _Done
        current = {c.kind: c for c in self.store.copies(suffix)}
        rec_url = endpoint_url(self.opt.base_url, RECORD, suffix, "")
        new_record, rec, notes = await self._fetch_copy(RECORD, rec_url, current.get(RECORD), None, entry)
        if rec is None:  # pragma: no cover - _fetch_copy always verifies the record
            raise AssertionError("record not verified")
        if rec.suffix != suffix:
            raise ResponseError("wrong_record", rec_url, f"holds {rec.pith_number}, not {suffix}")
        if entry is not None and (
            rec.canonical_sha256 != entry.canonical_sha256 or rec.arxiv_id != entry.arxiv_id
        ):
            raise MirrorIndexError("index_mismatch", rec_url, "the record is not the one the index describes")
        if (
            want is not None
            and want.kind == "arxiv"
            and (rec.arxiv_id != want.value or (want.version is not None and rec.version != want.version))
        ):
            raise ResponseError(
                "wrong_record",
                via or rec_url,
                f"led to {rec.pith_number} (arXiv {rec.arxiv_id}v{rec.version}), not {want.text}",
            )
        if want is not None and want.kind == "short" and not suffix.startswith(want.value):
            raise ResponseError("wrong_record", rec_url, f"holds {rec.pith_number}, not {want.text}")

        wanted_kinds = [k for k in kinds if entry is None or entry.file(k) is not None]
        results = await asyncio.gather(
            *(
                self._fetch_copy(
                    k, endpoint_url(self.opt.base_url, k, suffix, rec.arxiv_id), current.get(k), rec, entry
                )
                for k in wanted_kinds
            ),
            return_exceptions=True,
        )
        updates = [new_record]
        for res in results:
            if isinstance(res, BaseException):
                raise res
            updates.append(res[0])
            notes.extend(res[2])
        changed = any(u.response is not None for u in updates)
        # write the objects (synced) before the rows that name them
        pending = [u for u in updates if u.response and u.response.sha256]
        if self.store.durable:  # fsync waits on the disk: let the event loop go on meanwhile
            await asyncio.gather(*(asyncio.to_thread(self._put, u) for u in pending))
        else:  # a plain write is faster than a hop to a thread
            for u in pending:
                self._put(u)
        now = utc_now()
        before = self.store.record(suffix)
        asked = set(kinds) | set(before.kinds if before is not None else ())
        row = RecordRow(
            suffix,
            rec.pith_number,
            rec.canonical_sha256,
            rec.arxiv_id,
            tuple(k for k in DEFAULT_KINDS if k in asked),
            self.opt.base_url,
            now,
        )
        self.store.commit_record(row, updates, notes)
        if alias is not None:
            self.store.set_alias(alias[0], suffix, alias[1])
        for _kind, message, _at in notes:
            self.report.notes.append(f"{rec.pith_number}: {message}")
            log.warning("%s: %s", rec.pith_number, message)
        if changed:
            self.report.fetched += 1
        else:
            self.report.unchanged += 1

    def _put(self, upd: CopyUpdate) -> None:
        if isinstance(upd, _Pending) and upd.body is not None:
            self.store.put_object(upd.body)

    async def _fetch_copy(
        self,
        kind: str,
        url: str,
        current: StoredCopy | None,
        rec: VerifiedRecord | None,
        entry: IndexEntry | None,
    ) -> tuple[CopyUpdate, VerifiedRecord | None, list[tuple[str, str, str]]]:
        """Fetch one copy and decide: new, unchanged, absent, or refused (earlier copy kept).
        For the record itself (``rec`` None) the result carries the verified record."""
        verified: VerifiedRecord | None
        notes: list[tuple[str, str, str]] = []
        indexed = entry.file(kind) if entry is not None else None
        if entry is not None:
            assert indexed is not None
            url = f"{self.opt.base_url}/{indexed.path}"
        held: bytes | None = None
        if current is not None and current.sha256 is not None:
            held = self.store.read_object(current.sha256)

        # from a mirror: nothing to ask when the index lists exactly what the store holds
        if indexed is not None and current is not None and current.sha256 == indexed.sha256 and held:
            verified = self._verify(held, url) if rec is None else rec
            return CopyUpdate(kind, current.url), verified, notes

        headers: dict[str, str] = {}
        cached = self.store.cached(url)
        if (
            self.opt.refresh
            and cached is not None
            and current is not None
            and cached.sha256 is not None
            and cached.sha256 == current.sha256
        ):
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        resp = await self.http.get(url, headers=headers, missing_ok=rec is not None and entry is None)

        if resp.status == 304:
            if held is None:
                raise ResponseError(
                    "http_status", url, "304 Not Modified to a request that was not conditional"
                )
            verified = self._verify(held, url) if rec is None else rec
            return CopyUpdate(kind, url, confirmed_at=resp.fetched_at), verified, notes

        if resp.status in (404, 410):
            if current is not None and current.sha256 is None and current.url == url:
                return CopyUpdate(kind, url, confirmed_at=resp.fetched_at), rec, notes  # still absent
            if held is not None and current is not None:
                notes.append(
                    (
                        kind,
                        f"{url} now answers {resp.status}; the copy fetched at {current.fetched_at} is kept",
                        resp.fetched_at,
                    )
                )
                return CopyUpdate(kind, current.url), rec, notes
            return CopyUpdate(kind, url, _new(resp, None, ABSENT)), rec, notes

        body = resp.body
        if indexed is not None and (
            len(body) != indexed.size or hashlib.sha256(body).hexdigest() != indexed.sha256
        ):
            raise MirrorIndexError(
                "index_mismatch",
                url,
                f"{len(body)} bytes with SHA-256 {hashlib.sha256(body).hexdigest()}, "
                f"the index says {indexed.size} bytes with {indexed.sha256}",
            )
        if rec is None:
            verified = self._verify(body, url)
            status = VERIFIED
        else:
            check_endpoint_copy(kind, body, rec, url, self.opt.max_record_bytes)
            verified, status = rec, CHECKED
        if held is not None and current is not None:
            if held == body:
                return CopyUpdate(kind, url, confirmed_at=resp.fetched_at), verified, notes
            reason = refusal_reason(kind, held, body)
            if reason is not None:
                if rec is None:
                    verified = self._verify(held, current.url)
                notes.append(
                    (
                        kind,
                        f"rollback refused: a newer copy of {url} was not kept: "
                        f"{reason}; the copy fetched at {current.fetched_at} is kept",
                        resp.fetched_at,
                    )
                )
                return CopyUpdate(kind, current.url), verified, notes
        return (
            _Pending(kind, url, _new(resp, hashlib.sha256(body).hexdigest(), status), body=body),
            verified,
            notes,
        )

    # -- the other mirror's index -----------------------------------------------------------
    async def _load_top(self) -> list[ShardRef]:
        async with self._index_lock:
            if self._top is None:
                url = f"{self.opt.base_url}/{TOP}"
                resp = await self.http.get(url)
                self._top = parse_top(resp.body, url)
            return self._top

    async def _shard(self, ref: ShardRef) -> list[IndexEntry]:
        if ref.prefix not in self._shards:
            url = f"{self.opt.base_url}/{ref.path}"
            resp = await self.http.get(url)
            self._shards[ref.prefix] = parse_shard(resp.body, url, ref)
        return self._shards[ref.prefix]

    async def _all_entries(self, top: list[ShardRef]) -> AsyncIterator[IndexEntry]:
        for ref in top:
            try:
                entries = await self._shard(ref)
            except DownloadError as exc:
                self.report.failures.append(exc)
                self.progress.advance(ref.records, ref.records)
                continue
            self._shards.pop(ref.prefix, None)  # stream: one shard in memory at a time
            for entry in entries:
                yield entry

    async def _entry(self, suffix: str) -> IndexEntry:
        top = await self._load_top()
        for ref in top:
            if suffix.startswith(ref.prefix):
                for entry in await self._shard(ref):
                    if entry.suffix == suffix:
                        return entry
        raise HttpStatusError("not_found", f"{self.opt.base_url}/{TOP}", f"the index lists no {suffix}", 404)

    async def _find_in_index(self, w: Wanted) -> IndexEntry:
        top = await self._load_top()
        found: list[IndexEntry] = []
        for ref in top:
            if w.kind == "short" and not (w.value.startswith(ref.prefix) or ref.prefix.startswith(w.value)):
                continue
            for entry in await self._shard(ref):
                if (w.kind == "short" and entry.suffix.startswith(w.value)) or (
                    w.kind == "arxiv" and entry.arxiv_id == w.value
                ):
                    found.append(entry)
        url = f"{self.opt.base_url}/{TOP}"
        if not found:
            raise HttpStatusError("not_found", url, f"the index lists no record for {w.text!r}", 404)
        if len(found) > 1 and w.kind == "short":
            raise UsageError(f"{w.describe()}: short number matches {len(found)} records in {url}")
        return found[0]


@dataclass(frozen=True)
class _Pending(CopyUpdate):
    """A new copy whose body still has to be written to the store."""

    body: bytes | None = None


def _new(resp: Response, sha: str | None, verification: str) -> NewResponse:
    return NewResponse(
        url=resp.url,
        status=resp.status,
        reason=resp.reason,
        http_version=resp.http_version,
        headers=resp.headers,
        sha256=sha,
        size=len(resp.body) if sha is not None else None,
        fetched_at=resp.fetched_at,
        verification=verification,
    )


async def _aiter(items: list[Wanted]) -> AsyncIterator[Wanted]:
    for item in items:
        yield item
