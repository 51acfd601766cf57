"""``verify-site``: check a published mirror (a folder, an unpacked archive, or a URL) trusting nothing in it.

1. The manifest (``/.well-known/pith-mirror/manifest.json``) is strict JSON of the documented shape,
   and its root hash is the hash of its own file list.
2. When signed (or when the user gives ``--key``): ``manifest.sig`` is Ed25519 over the manifest's
   exact bytes, by the key the user gives (else by the key the mirror publishes, with a warning).
3. Every listed file is present with the listed size and SHA-256; in a folder, nothing unlisted is
   present (over HTTP a site cannot be listed, so that check needs a folder or an archive).
4. Every record copy ``pith/{SUFFIX}.json`` re-verifies with ``verify_record`` against the keyring,
   and its page ``pith/{SUFFIX}/index.html`` shows that record's hash and pith number.
5. The mirror's build time is compared with ``--max-age`` (a warning, not a failure).

Every problem is collected (``SiteProblem`` with a stable code); nothing stops at the first.

A source may be given a ``Deadline`` for the whole check (``verify-site --deadline``). Over HTTP
the requests in flight when it passes are cancelled (the files of their batch already read are
checked); in a folder it is looked at before each file is read (a read the kernel is blocked in
cannot be interrupted: the check stops after it). A check that reaches its deadline raises
``DeadlineError`` carrying what it found so far, in a report that is ``cut_short`` and never
``ok``: a check cut short concludes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import html
import multiprocessing
import re
import stat
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

from generator.deadline import Deadline
from generator.errors import (
    DeadlineError,
    DownloadError,
    RecordError,
    ResponseError,
    SiteProblem,
    UsageError,
)
from generator.keyring import Keyring, parse_time
from generator.manifest import (
    MANIFEST_PATH,
    MAX_MANIFEST_BYTES,
    PUBLIC_KEY_PATH,
    SIGNATURE_PATH,
    UNLISTED,
    FileEntry,
    Manifest,
    parse_manifest,
    root_hash,
    walk_tree,
)
from generator.net import HttpClient, HttpSettings
from generator.signing import MAX_KEY_FILE, PublicKey, parse_public_key
from generator.sources import RawRecord
from generator.strictjson import MAX_BYTES
from generator.verify import verify_record

RECORD_COPY_RE = re.compile(r"pith/([A-Z2-7]{26})\.json")
RECORD_PAGE_RE = re.compile(r"pith/[A-Z2-7]{26}/index\.html")
MAX_PAGE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_AGE_DAYS = 30.0


class Unreadable(Exception):
    """A file exists but cannot be read as a regular file (symlink, device, HTTP error...)."""


class TooLarge(Unreadable):
    """The file is larger than the bound it was read with."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"more than {limit} bytes")


ReadResult = bytes | None | Unreadable  # the bytes, None when absent, or why it could not be read
T = TypeVar("T")


class DeadlinePassed(Exception):
    """Internal: the source's deadline passed. Raised by a source instead of a read; on its way
    out of a pass over files it carries what that pass found (``partial``)."""

    def __init__(self, partial: _Partial | None = None) -> None:
        super().__init__(partial)  # in ``args``, so it survives the trip back from a worker
        self.partial = partial


def _check_deadline(deadline: Deadline | None) -> None:
    if deadline is not None and deadline.passed():
        raise DeadlinePassed


class SiteSource(Protocol):
    """Read access to a published site, by site-relative path. Every read raises
    ``DeadlinePassed`` once ``deadline`` (None: no bound) has passed."""

    deadline: Deadline | None
    name: str  # the site as messages name it: the folder, or the base URL without a final "/"

    def where(self, rel: str) -> str: ...

    def read(self, rel: str, max_bytes: int) -> bytes | None:
        """The file's bytes; None if absent; raises ``Unreadable``; never more than ``max_bytes``+1."""
        ...

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[tuple[str, ReadResult]]:
        """``read`` for each (path, max_bytes), in order; a source may overlap the requests."""
        ...

    def list_files(self) -> list[str] | None:
        """Every file path in the site, or None where a site cannot be listed (HTTP)."""
        ...

    def close(self) -> None: ...


def _read_each(source: SiteSource, items: Iterable[tuple[str, int]]) -> Iterator[tuple[str, ReadResult]]:
    for rel, limit in items:
        try:
            yield rel, source.read(rel, limit)
        except Unreadable as exc:
            yield rel, exc


class DirSource:
    """A site in a folder. The deadline is looked at before each file is read and between the
    entries of a listing: a slow (network) file system stops the check after the read it is in."""

    def __init__(self, root: Path, *, deadline: Deadline | None = None) -> None:
        if not root.is_dir():
            raise UsageError(f"{root}: not a directory")
        self.root = root
        self.name = str(root)
        self.deadline = deadline

    def __enter__(self) -> DirSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def where(self, rel: str) -> str:
        return str(self.root / rel)

    def read(self, rel: str, max_bytes: int) -> bytes | None:
        _check_deadline(self.deadline)
        path = self.root / rel
        # no component of the path may be a symlink: the site is checked as it is, not followed
        cur = self.root
        for part in rel.split("/"):
            cur = cur / part
            try:
                st = cur.lstat()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise Unreadable(exc.strerror or str(exc)) from None
            if stat.S_ISLNK(st.st_mode):
                raise Unreadable("is (or lies under) a symlink")
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable("not a regular file")
        try:
            with path.open("rb") as fh:
                return fh.read(max_bytes + 1)
        except OSError as exc:
            raise Unreadable(exc.strerror or str(exc)) from None

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[tuple[str, ReadResult]]:
        return _read_each(self, items)

    def list_files(self) -> list[str] | None:
        out: list[str] = []
        for rel, _p, _st in walk_tree(self.root):
            _check_deadline(self.deadline)
            out.append(rel)
        return out

    def close(self) -> None:
        pass


class HttpSource:
    """A site served over HTTP(S), read through the project's careful client (``generator.net``):
    bounded bodies (on the wire and decoded), timeouts, retries with backoff, redirects only
    within the origin. Requests overlap (``window`` at a time) while results stay in order.
    When the ``deadline`` passes, the requests in flight are cancelled."""

    def __init__(
        self,
        base_url: str,
        *,
        settings: HttpSettings | None = None,
        window: int = 8,
        deadline: Deadline | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"{base_url}: not an http(s) URL")
        self.base = base_url if base_url.endswith("/") else base_url + "/"
        self.name = self.base[:-1]
        self.settings = settings or HttpSettings(retries=2, concurrency=window)
        self.window = window
        self.deadline = deadline
        self.loop = asyncio.new_event_loop()
        self._clients: dict[int, HttpClient] = {}  # by body bound (a power of two)

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def where(self, rel: str) -> str:
        return self.base + quote(rel)

    def _client(self, max_bytes: int) -> tuple[HttpClient, int]:
        bound = 1 << max(20, (max_bytes + 1).bit_length())  # at least 1 MiB, and above max_bytes
        if bound not in self._clients:
            settings = dataclasses.replace(self.settings, max_body_bytes=bound)
            self._clients[bound] = HttpClient(settings)
        return self._clients[bound], bound

    async def _get(self, rel: str, max_bytes: int) -> ReadResult:
        client, bound = self._client(max_bytes)
        try:
            resp = await client.get(
                self.where(rel), headers={"Accept": "*/*"}, expect_json=False, missing_ok=True
            )
        except ResponseError as exc:
            if exc.code == "body_too_large":
                return TooLarge(bound)
            return Unreadable(f"{exc.code}: {exc.detail}")
        except DownloadError as exc:
            return Unreadable(f"{exc.code}: {exc.detail}")
        if resp.status in (404, 410):
            return None
        return resp.body[: max_bytes + 1]

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on this source's loop, cancelled (``DeadlinePassed``) at the deadline."""
        if self.deadline is None:
            return self.loop.run_until_complete(work)
        remaining = self.deadline.remaining()
        if remaining <= 0:
            work.close()
            raise DeadlinePassed

        async def bounded() -> T:
            try:
                async with asyncio.timeout(remaining) as bound:
                    return await work
            except TimeoutError:
                if bound.expired():
                    raise DeadlinePassed from None
                raise  # pragma: no cover - the client turns its own timeouts into TransportError

        return self.loop.run_until_complete(bounded())

    def read(self, rel: str, max_bytes: int) -> bytes | None:
        result = self._run(self._get(rel, max_bytes))
        if isinstance(result, Unreadable):
            raise result
        return result

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[tuple[str, ReadResult]]:
        batch: list[tuple[str, int]] = []
        for item in items:
            batch.append(item)
            if len(batch) >= self.window:
                yield from self._run_batch(batch)
                batch = []
        if batch:
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[str, int]]) -> Iterator[tuple[str, ReadResult]]:
        """The batch's results in order. When the deadline cuts the batch off, the requests
        that had finished are still given (in order, without those cancelled), so that what
        they bring is checked and counted, and then ``DeadlinePassed`` is raised."""
        done: dict[int, ReadResult] = {}

        async def get(i: int, rel: str, limit: int) -> None:
            done[i] = await self._get(rel, limit)

        async def run() -> None:
            await asyncio.gather(*(get(i, rel, limit) for i, (rel, limit) in enumerate(batch)))

        try:
            self._run(run())
        except DeadlinePassed:
            yield from ((batch[i][0], done[i]) for i in sorted(done))
            raise
        yield from ((rel, done[i]) for i, (rel, _l) in enumerate(batch))

    def list_files(self) -> list[str] | None:
        return None

    def close(self) -> None:
        if self.loop.is_closed():
            return
        for client in self._clients.values():
            self.loop.run_until_complete(client.aclose())
        self._clients.clear()
        self.loop.close()


def open_source(target: str, *, deadline: Deadline | None = None) -> DirSource | HttpSource:
    if target.startswith(("http://", "https://")):
        return HttpSource(target, deadline=deadline)
    return DirSource(Path(target), deadline=deadline)


@dataclass
class SiteReport:
    problems: list[SiteProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_checked: int = 0
    records_checked: int = 0
    signed_by: str | None = None  # fingerprint of the key whose signature verified
    build_time: str | None = None
    files_listed: int | None = None  # in the manifest; None until it was read
    files_done: int = 0  # listed files whose check finished, whatever it found
    cut_short: bool = False  # stopped at its deadline: what it holds is all it found, nothing more

    @property
    def ok(self) -> bool:
        """True only for a check that ran to its end and found nothing wrong."""
        return not self.problems and not self.cut_short

    def add(self, code: str, where: str, detail: str) -> None:
        self.problems.append(SiteProblem(code, where, detail))


# A record page is read with a few patterns rather than a full HTML parser (a parser costs most
# of the time of checking a large site): quoted attribute values may hold '>', and script, style,
# template and comment contents are not visible text.
_TAG = r"(?:[^<>\"']|\"[^\"]*\"|'[^']*')*"  # no bare '<' inside a tag: linear on hostile input
_ARTICLE_RE = re.compile(r"<article\b(" + _TAG + r")>", re.I)
_ATTR_RE = re.compile(r"([^\s=/>\"']+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_HIDDEN_OPEN_RE = re.compile(r"<!--|<(script|style|template)\b" + _TAG + r">", re.I)
_ANY_TAG_RE = re.compile(r"</?[A-Za-z!?]" + _TAG + r">")


@dataclass(frozen=True)
class PageFacts:
    """What a record page claims (its <article> attributes), or what is wrong with it. Small, so a
    whole site's pages can be compared with their records without holding the pages."""

    pith_number: str | None
    canonical_sha256: str | None
    problem: str | None


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR_RE.finditer(text):
        value = m.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        out.setdefault(m.group(1).lower(), html.unescape(value))
    return out


def _strip_hidden(text: str) -> str:
    """Remove comments and script/style/template contents in one forward pass (linear even
    when they are never closed: an unclosed one hides the rest of the page, as in a browser)."""
    out: list[str] = []
    pos = 0
    lower = text.lower()
    while (m := _HIDDEN_OPEN_RE.search(text, pos)) is not None:
        out.append(text[pos : m.start()])
        closer = "-->" if m.group(1) is None else "</" + m.group(1).lower()
        end = lower.find(closer, m.end())
        if end < 0:
            return " ".join(out)
        pos = text.find(">", end) + 1 if closer != "-->" else end + 3
        if pos == 0:
            return " ".join(out)
        out.append(" ")
    out.append(text[pos:])
    return "".join(out)


def read_page_facts(page: bytes) -> PageFacts:
    try:
        text = page.decode("utf-8")
    except UnicodeDecodeError:
        return PageFacts(None, None, "the page is not UTF-8")
    article = next(
        (
            a
            for a in map(_attributes, (m.group(1) for m in _ARTICLE_RE.finditer(text)))
            if "data-pith-number" in a
        ),
        None,
    )
    if article is None:
        return PageFacts(None, None, "no <article data-pith-number> element")
    pn = article.get("data-pith-number")
    h = article.get("data-canonical-sha256")
    visible = html.unescape(_ANY_TAG_RE.sub(" ", _strip_hidden(text)))
    for what, value in (("pith number", pn), ("hash", h)):
        if not value or value not in visible:
            return PageFacts(pn, h, f"the visible text does not show the {what} {str(value)[:80]!r}")
    return PageFacts(pn, h, None)


def compare_page(facts: PageFacts, pith_number: str, canonical_sha256: str) -> str | None:
    """None when the page shows the record's pith number and hash, else what is wrong."""
    if facts.pith_number is None and facts.problem:
        return facts.problem
    if facts.pith_number != pith_number:
        return f"data-pith-number is {str(facts.pith_number)[:80]!r}, the record's is {pith_number}"
    if facts.canonical_sha256 != canonical_sha256:
        shown = str(facts.canonical_sha256)[:80]
        return f"data-canonical-sha256 is {shown!r}, the record's is {canonical_sha256}"
    return facts.problem


def check_record_page(html: bytes, pith_number: str, canonical_sha256: str) -> str | None:
    return compare_page(read_page_facts(html), pith_number, canonical_sha256)


def _check_signature(
    source: SiteSource, manifest: Manifest, key: PublicKey | None, report: SiteReport
) -> None:
    where = source.where(SIGNATURE_PATH)
    try:
        sig = source.read(SIGNATURE_PATH, 64)
        pem = source.read(PUBLIC_KEY_PATH, MAX_KEY_FILE)
    except Unreadable as exc:
        report.add("file_unreadable", where, str(exc))
        return
    published: PublicKey | None = None
    if pem is not None:
        try:
            published = parse_public_key(pem, source.where(PUBLIC_KEY_PATH))
        except UsageError as exc:
            report.add("bad_manifest_signature", source.where(PUBLIC_KEY_PATH), str(exc))
    announced = manifest.operator_key_hex
    if sig is None:
        if key is not None:
            report.add("signature_missing", where, "--key was given but the manifest is not signed")
        elif announced is not None:
            report.add("signature_missing", where, "the manifest names an operator key but has no signature")
        else:
            report.warnings.append("the manifest is not signed: only its own consistency was checked")
        return
    if len(sig) != 64:
        report.add("bad_manifest_signature", where, f"{len(sig)} bytes; an Ed25519 signature is 64")
        return
    if key is None and announced is not None and published is not None and announced != published.hex:
        report.add(
            "signing_key_mismatch",
            source.where(PUBLIC_KEY_PATH),
            f"the published key {published.fingerprint_hex} is not the manifest's operator key",
        )
    expected = key or published
    if expected is None:
        report.add(
            "signature_missing", source.where(PUBLIC_KEY_PATH), "signed, but no public key to check with"
        )
        return
    if expected.verify(sig, manifest.raw):
        report.signed_by = expected.fingerprint_hex
        if key is None:
            report.warnings.append(
                "the signature verifies with the key the mirror itself publishes "
                f"({expected.fingerprint_hex}); pass --key to check it against a key you trust"
            )
        return
    if key is not None and published is not None and published.verify(sig, manifest.raw):
        report.add(
            "signing_key_mismatch",
            where,
            f"signed by key {published.fingerprint_hex}, not by the given key {key.fingerprint_hex}",
        )
    else:
        report.add(
            "bad_manifest_signature",
            where,
            f"does not verify over the manifest's bytes with key {expected.fingerprint_hex}",
        )


def _check_age(manifest: Manifest, now: datetime, max_age_days: float, report: SiteReport) -> None:
    try:
        built = parse_time(manifest.build_time)
    except ValueError:
        report.warnings.append(f"the mirror's build time {manifest.build_time[:40]!r} is unknown")
        return
    age = (now - built).total_seconds() / 86400
    if age > max_age_days:
        report.warnings.append(
            f"the mirror is {age:.0f} days old (built {manifest.build_time}); "
            f"older than --max-age {max_age_days:g}"
        )


def _read_limit(entry: FileEntry) -> int:
    """Record copies and pages are read whole (within a bound) even when their size is wrong."""
    if RECORD_COPY_RE.fullmatch(entry.path) or entry.path.startswith("pith/"):
        return max(entry.size, MAX_PAGE_BYTES)
    return entry.size


@dataclass
class _Partial:
    """What checking some of the listed files found (merged in manifest order)."""

    problems: list[SiteProblem] = field(default_factory=list)
    files_checked: int = 0
    files_done: int = 0
    records_checked: int = 0
    verified: dict[str, tuple[str, str]] = field(default_factory=dict)  # SUFFIX -> (pith number, hash)
    pages: dict[str, PageFacts] = field(default_factory=dict)  # small facts only, never the pages

    def add(self, code: str, where: str, detail: str) -> None:
        self.problems.append(SiteProblem(code, where, detail))


def _iter_files(
    source: SiteSource, entries: Sequence[FileEntry], part: _Partial
) -> Iterator[tuple[FileEntry, bytes]]:
    """Each listed file that could be read, with its bytes; every mismatch is reported. Files that
    differ from the manifest are still yielded, so a changed record copy is also re-verified."""
    by_path = {e.path: e for e in entries}
    limits = {e.path: _read_limit(e) for e in entries}
    for rel, data in source.read_many((e.path, limits[e.path]) for e in entries):
        part.files_done += 1
        entry = by_path[rel]
        limit = limits[rel]
        where = source.where(rel)
        if isinstance(data, TooLarge):
            part.files_checked += 1
            part.add("file_size_mismatch", where, f"{data}, the manifest says {entry.size}")
            continue
        if isinstance(data, Unreadable):
            part.add("file_unreadable", where, str(data))
            continue
        part.files_checked += 1
        if data is None:
            part.add("file_missing", where, "listed in the manifest but absent")
            continue
        if len(data) != entry.size:
            more = "at least " if len(data) > limit else ""
            part.add("file_size_mismatch", where, f"{more}{len(data)} bytes, the manifest says {entry.size}")
            if len(data) <= limit:
                yield entry, data
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.sha256:
            part.add("file_hash_mismatch", where, f"SHA-256 {digest}, the manifest says {entry.sha256}")
        yield entry, data


def _check_files(
    source: SiteSource, entries: Sequence[FileEntry], keyring: Keyring, max_record_bytes: int
) -> _Partial:
    """Read and hash ``entries``; re-verify record copies; keep the facts record pages claim.
    At the deadline, ``DeadlinePassed`` carries what was found before it."""
    part = _Partial()
    try:
        _check_each(source, entries, keyring, max_record_bytes, part)
    except DeadlinePassed:
        raise DeadlinePassed(part) from None
    return part


def _check_each(
    source: SiteSource, entries: Sequence[FileEntry], keyring: Keyring, max_record_bytes: int, part: _Partial
) -> None:
    for entry, data in _iter_files(source, entries, part):
        m = RECORD_COPY_RE.fullmatch(entry.path)
        if m:
            suffix = m.group(1)
            rwhere = source.where(entry.path)
            part.records_checked += 1
            try:
                rec = verify_record(RawRecord(data, rwhere), keyring, max_bytes=max_record_bytes)
            except RecordError as exc:
                part.add(exc.code, exc.where, exc.detail)
                continue
            if rec.suffix != suffix:
                part.add(
                    "hash_mismatch", rwhere, f"the record's hash gives SUFFIX {rec.suffix}, not {suffix}"
                )
                continue
            part.verified[suffix] = (rec.pith_number, rec.canonical_sha256)
        elif RECORD_PAGE_RE.fullmatch(entry.path):
            part.pages[entry.path] = read_page_facts(data)


_worker: dict[str, Any] = {}
PARALLEL_ABOVE = 2000  # files; below this a pool costs more than it saves
CHUNK_FILES = 1000


def _init_worker(source: DirSource, keyring: Keyring, max_record_bytes: int) -> None:
    _worker.update(source=source, keyring=keyring, max_record_bytes=max_record_bytes)


def _check_chunk(entries: list[FileEntry]) -> _Partial:
    return _check_files(_worker["source"], entries, _worker["keyring"], _worker["max_record_bytes"])


def _check_all(
    source: SiteSource, entries: Sequence[FileEntry], keyring: Keyring, max_record_bytes: int, jobs: int
) -> Iterator[_Partial]:
    """In manifest order; a folder with many files is checked by ``jobs`` worker processes.
    At the deadline every worker stops before its next file; the first chunk to stop ends the
    map, which cancels the chunks not yet started."""
    if jobs <= 1 or not isinstance(source, DirSource) or len(entries) <= PARALLEL_ABOVE:
        yield _check_files(source, entries, keyring, max_record_bytes)
        return
    chunks = [list(entries[i : i + CHUNK_FILES]) for i in range(0, len(entries), CHUNK_FILES)]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_init_worker, initargs=(source, keyring, max_record_bytes)
    ) as pool:
        yield from pool.map(_check_chunk, chunks)


def verify_site(
    source: SiteSource,
    keyring: Keyring,
    *,
    key: PublicKey | None = None,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    now: datetime | None = None,
    max_record_bytes: int = MAX_BYTES,
    jobs: int = 1,
) -> SiteReport:
    """Check the site ``source`` reads. When the source's deadline passes, raise ``DeadlineError``
    (code ``deadline``, exit status 124) with the report of what was found so far (``cut_short``)."""
    report = SiteReport()
    try:
        _verify_site(source, keyring, report, key, max_age_days, now, max_record_bytes, jobs)
    except DeadlinePassed as exc:
        if exc.partial is not None:
            _merge(report, exc.partial)
        report.cut_short = True
        raise DeadlineError("deadline", source.name, _deadline_message(source, report), report) from None
    return report


def _merge(report: SiteReport, part: _Partial) -> None:
    report.problems.extend(part.problems)
    report.files_checked += part.files_checked
    report.files_done += part.files_done
    report.records_checked += part.records_checked


def _deadline_message(source: SiteSource, report: SiteReport) -> str:
    limit = f" of {source.deadline}" if source.deadline is not None else ""
    if report.files_listed is None:
        how_far = "before it could read the manifest"
    else:
        how_far = f"after checking {report.files_done} of {report.files_listed} file(s)"
    found = f" ({len(report.problems)} problem(s) found in what was checked)" if report.problems else ""
    return (
        f"verify-site stopped at its deadline{limit} {how_far} of {source.name}; "
        f"the site is NOT verified{found}"
    )


def _verify_site(
    source: SiteSource,
    keyring: Keyring,
    report: SiteReport,
    key: PublicKey | None,
    max_age_days: float,
    now: datetime | None,
    max_record_bytes: int,
    jobs: int,
) -> None:
    where = source.where(MANIFEST_PATH)
    try:
        raw = source.read(MANIFEST_PATH, MAX_MANIFEST_BYTES)
    except Unreadable as exc:
        report.add("file_unreadable", where, str(exc))
        return
    if raw is None:
        report.add(
            "manifest_missing", where, "no manifest: this is not a pith-mirror site, or it was stripped"
        )
        return
    try:
        manifest = parse_manifest(raw, where)
    except RecordError as exc:
        code = exc.code if exc.code == "manifest_invalid" else "manifest_invalid"
        report.add(code, where, f"{exc.code}: {exc.detail}")
        return
    report.build_time = manifest.build_time
    report.files_listed = len(manifest.files)
    computed = root_hash(manifest.files)
    if computed != manifest.root_hash:
        report.add(
            "root_hash_mismatch",
            where,
            f"root_hash.value is {manifest.root_hash[:64]}, the list hashes to {computed}",
        )
    _check_signature(source, manifest, key, report)

    listed = {e.path for e in manifest.files}
    present = source.list_files()
    if present is not None:
        for rel in present:
            if rel not in listed and rel not in UNLISTED:
                report.add("file_unlisted", source.where(rel), "present but not in the manifest")
    else:
        report.warnings.append("over HTTP a site cannot be listed: unlisted extra files were not looked for")

    # one pass over the files; only small facts are kept (memory does not grow with page size)
    verified: dict[str, tuple[str, str]] = {}
    pages: dict[str, PageFacts] = {}
    for part in _check_all(source, manifest.files, keyring, max_record_bytes, jobs):
        _merge(report, part)
        verified.update(part.verified)
        pages.update(part.pages)
    for suffix, (pn, h) in sorted(verified.items()):
        page_rel = f"pith/{suffix}/index.html"
        if page_rel not in listed:
            report.add("record_page_missing", source.where(page_rel), f"no page for {pn}")
            continue
        facts = pages.get(page_rel)
        if facts is None:
            continue  # already reported as missing or unreadable
        problem = compare_page(facts, pn, h)
        if problem:
            report.add("record_page_mismatch", source.where(page_rel), problem)
    _check_age(manifest, now or datetime.now(UTC), max_age_days, report)
