"""Careful HTTP: the one client every download goes through.

What it promises (RELIABILITY.md rule 7):

- bounded concurrency (a semaphore) and a per-host request-rate cap;
- an honest ``User-Agent: pith-mirror/<version>``;
- connect, read and whole-request timeouts;
- retries with exponential backoff and jitter on connection errors, timeouts, 429 and 5xx,
  honouring ``Retry-After`` up to a cap;
- a cap on the body, counted on the wire *and* after decoding: the body is read raw and
  decompressed here with a bounded ``zlib`` decompressor, so a gzip bomb stops at the cap
  instead of filling memory;
- redirects followed by hand, only within the origin of the URL asked for (same scheme, host
  and port, so never from https to http), a few hops at most, loops detected;
- where JSON is expected, a body that is not JSON (an HTML error page sent with 200) is refused.

Every failure is a ``DownloadError`` naming the URL asked for (see ``generator.errors``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from generator import GENERATOR
from generator.errors import (
    DownloadError,
    HttpStatusError,
    ResponseError,
    TransportError,
)

log = logging.getLogger(__name__)

REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class HttpSettings:
    concurrency: int = 8  # requests in flight at once
    rate: float = 20.0  # requests started per second per host; 0 = no cap
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # longest silence while waiting for bytes
    total_timeout: float = 120.0  # one attempt, redirects and body included
    retries: int = 4  # attempts after the first
    backoff: float = 0.5  # first retry delay in seconds; doubles each retry, with jitter
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # longest Retry-After honoured
    max_body_bytes: int = 16 * 1024 * 1024  # decoded, and on the wire
    max_redirects: int = 3
    user_agent: str = GENERATOR

    def problems(self) -> list[str]:
        out = []
        if self.concurrency < 1:
            out.append("concurrency must be at least 1")
        if self.rate < 0:
            out.append("rate must be 0 (no cap) or more")
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, name) <= 0:
                out.append(f"{name} must be positive")
        if self.retries < 0:
            out.append("retries must be 0 or more")
        if self.max_body_bytes < 1:
            out.append("max_body_bytes must be positive")
        return out


@dataclass(frozen=True)
class Response:
    """A complete answer. ``body`` is decoded (Content-Encoding removed); ``headers`` are as
    received, in order, so they may name an encoding the body no longer has."""

    url: str  # the URL asked for
    final_url: str  # after same-origin redirects
    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: str  # ISO-8601 UTC, whole seconds

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value[:9]))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, delta)


class _Retry(Exception):
    def __init__(self, status: int, reason: str, retry_after: float | None) -> None:
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class _RateLimiter:
    """At most ``rate`` request starts per second per host (evenly spaced)."""

    def __init__(self, rate: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_slot: dict[tuple[str, str, int | None], float] = {}
        self.sleep = sleep

    async def wait(self, key: tuple[str, str, int | None]) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self.next_slot.get(key, now))
        self.next_slot[key] = slot + self.interval
        if slot > now:
            await self.sleep(slot - now)


class _BoundedDecoder:
    """Content-Encoding decoder that never produces more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self.url = url
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self.mode = "identity"
        elif enc in ("gzip", "x-gzip"):
            self.mode = "gzip"
        elif enc == "deflate":
            self.mode = "deflate"
        else:
            raise ResponseError("not_json", url, f"unsupported Content-Encoding {encoding[:40]!r}")
        self._d: zlib._Decompress | None = self._new() if self.mode != "identity" else None
        self._first = True

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self.mode == "gzip" else zlib.MAX_WBITS)

    def _add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise ResponseError(
                "body_too_large", self.url, f"decoded body passed {self.limit} bytes; download stopped"
            )
        if piece:
            self.parts.append(piece)

    def feed(self, data: bytes) -> None:
        if self._d is None:
            self._add(data)
            return
        if self.mode == "deflate" and self._first and data:
            # "deflate" is zlib-wrapped by the standard, raw in some servers: look at the header
            self._first = False
            if (data[0] & 0x0F) != 8:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
        buf = data
        try:
            while buf:
                if self._d.eof:
                    # a new gzip member after the previous one ended
                    buf = self._d.unused_data + buf if self._d.unused_data else buf
                    self._d = self._new()
                piece = self._d.decompress(buf, self.limit - self.size + 1)
                self._add(piece)
                buf = self._d.unconsumed_tail
                if self._d.eof and self._d.unused_data:
                    buf = self._d.unused_data + buf
                    self._d = self._new()
        except zlib.error as exc:
            raise ResponseError("not_json", self.url, f"body does not decode as {self.mode}: {exc}") from None

    def finish(self) -> bytes:
        if self._d is not None and not self._d.eof:
            raise TransportError("truncated", self.url, f"{self.mode} stream ends before its end marker")
        return b"".join(self.parts)


def _describe_body(body: bytes, content_type: str | None) -> str:
    head = body[:80].decode("utf-8", "replace")
    head = "".join(c if c.isprintable() else " " for c in head)
    return f"Content-Type {content_type or 'none'!r}, body starts {head!r}"


def looks_like_json(body: bytes) -> bool:
    stripped = body.lstrip(b" \t\r\n")
    return stripped[:1] in (b"{", b"[")


class HttpClient:
    """``async with HttpClient(settings) as http: resp = await http.get(url)``."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.settings = s = settings or HttpSettings()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(s.concurrency)
        self._rate = _RateLimiter(s.rate, sleep)
        self.requests = 0  # attempts sent (for reports and tests)
        self.retries = 0
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout, pool=s.total_timeout
            ),
            limits=httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency),
            follow_redirects=False,
            headers={
                "User-Agent": s.user_agent,
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
            },
            transport=transport,
            verify=verify,
            trust_env=True,
        )

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _delay(self, attempt: int) -> float:
        s = self.settings
        base = min(s.backoff_max, s.backoff * (2**attempt))
        return self._rng.uniform(base / 2, base)

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = True,
        missing_ok: bool = False,
    ) -> Response:
        """GET ``url``: a 200 (body read and bounded) or a 304 (to a conditional request); with
        ``missing_ok`` also a 404/410 (empty body). Anything else raises a ``DownloadError``."""
        s = self.settings
        key = origin(url)
        attempt = 0
        while True:
            try:
                async with self._sem:
                    await self._rate.wait(key)
                    return await self._attempt(url, headers or {}, expect_json, missing_ok)
            except TransportError as exc:
                if attempt >= s.retries:
                    if attempt:
                        raise type(exc)(
                            exc.code, url, f"{exc.detail} (after {attempt + 1} attempts)"
                        ) from None
                    raise
                delay = self._delay(attempt)
                log.debug("%s: %s; retry in %.2fs", url, exc.detail, delay)
            except _Retry as r:
                if attempt >= s.retries:
                    raise HttpStatusError(
                        "http_status",
                        url,
                        f"{r.status} {r.reason} (after {attempt + 1} attempts)",
                        r.status,
                    ) from None
                delay = self._delay(attempt)
                if r.retry_after is not None:
                    delay = max(delay, min(r.retry_after, s.retry_after_max))
                log.debug("%s: %d %s; retry in %.2fs", url, r.status, r.reason, delay)
            attempt += 1
            self.retries += 1
            await self._sleep(delay)

    async def _attempt(
        self, url: str, headers: Mapping[str, str], expect_json: bool, missing_ok: bool
    ) -> Response:
        s = self.settings
        try:
            async with asyncio.timeout(s.total_timeout):
                return await self._follow(url, headers, expect_json, missing_ok)
        except TimeoutError:
            raise TransportError(
                "timeout", url, f"no complete answer within {s.total_timeout:g}s (whole-request timeout)"
            ) from None

    async def _follow(
        self, url: str, headers: Mapping[str, str], expect_json: bool, missing_ok: bool
    ) -> Response:
        s = self.settings
        start_origin = origin(url)
        current = url
        seen: set[str] = set()  # filled on the first redirect
        for _hop in range(s.max_redirects + 1):
            self.requests += 1
            try:
                request = self._client.build_request("GET", current, headers=headers)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise ResponseError("redirect_refused", url, f"cannot request {current!r}: {exc}") from None
            resp = await self._send(request, url)
            try:
                status = resp.status_code
                if status in REDIRECT_STATUSES:
                    current = self._next_hop(url, current, resp, start_origin, seen)
                    continue
                if status == 429 or 500 <= status <= 599:
                    raise _Retry(
                        status, resp.reason_phrase, parse_retry_after(resp.headers.get("retry-after"))
                    )
                if status in (404, 410) and not missing_ok:
                    raise HttpStatusError("not_found", url, f"{status} {resp.reason_phrase}", status)
                if status not in (200, 304, 404, 410):
                    raise HttpStatusError("http_status", url, f"{status} {resp.reason_phrase}", status)
                body = await self._read_body(resp, url) if status == 200 else b""
                if status == 200 and expect_json and not looks_like_json(body):
                    raise ResponseError(
                        "not_json",
                        url,
                        "JSON expected; " + _describe_body(body, resp.headers.get("content-type")),
                    )
                return Response(
                    url=url,
                    final_url=current,
                    status=status,
                    reason=resp.reason_phrase,
                    http_version=resp.http_version,
                    headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw),
                    body=body,
                    fetched_at=utc_now(),
                )
            finally:
                await resp.aclose()
        raise ResponseError("too_many_redirects", url, f"more than {s.max_redirects} redirect(s)")

    def _next_hop(
        self,
        url: str,
        current: str,
        resp: httpx.Response,
        start_origin: tuple[str, str, int | None],
        seen: set[str],
    ) -> str:
        location = resp.headers.get("location")
        if not location:
            raise ResponseError("redirect_refused", url, f"{resp.status_code} without a Location header")
        target = urljoin(current, location.strip())
        if origin(target) != start_origin:
            scheme, host, port = start_origin
            raise ResponseError(
                "redirect_refused",
                url,
                f"redirect to {target[:200]!r} leaves the origin {scheme}://{host}:{port}",
            )
        if not seen:
            seen.add(str(httpx.URL(url).copy_with(fragment=None)))
        norm = str(httpx.URL(target).copy_with(fragment=None))
        if norm in seen:
            raise ResponseError("redirect_loop", url, f"redirect back to {target[:200]!r}")
        seen.add(norm)
        return norm

    async def _send(self, request: httpx.Request, url: str) -> httpx.Response:
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise TransportError("timeout", url, f"{type(exc).__name__}: {exc or 'timed out'}") from None
        except httpx.HTTPError as exc:
            raise TransportError("connect_failed", url, f"{type(exc).__name__}: {exc or 'failed'}") from None

    async def _read_body(self, resp: httpx.Response, url: str) -> bytes:
        limit = self.settings.max_body_bytes
        length = resp.headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise ResponseError("body_too_large", url, f"Content-Length {int(length)} > {limit} bytes")
        decoder = _BoundedDecoder(resp.headers.get("content-encoding", ""), limit, url)
        wire = 0
        try:
            async for chunk in resp.aiter_raw():
                wire += len(chunk)
                if wire > limit:
                    raise ResponseError("body_too_large", url, f"more than {limit} bytes on the wire")
                decoder.feed(chunk)
        except httpx.TimeoutException as exc:
            raise TransportError("timeout", url, f"body stalled: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise TransportError(
                "truncated", url, f"body broke off after {wire} byte(s): {type(exc).__name__}: {exc}"
            ) from None
        return decoder.finish()


__all__ = [
    "DownloadError",
    "HttpClient",
    "HttpSettings",
    "Response",
    "looks_like_json",
    "origin",
    "parse_retry_after",
]
