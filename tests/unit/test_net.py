"""The careful HTTP client, against httpx.MockTransport (the real-server cases are in
tests/integration/test_fetch_http.py)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from generator.errors import HttpStatusError, ResponseError, TransportError
from generator.net import HttpClient, HttpSettings, Response, parse_retry_after

Handler = Callable[[httpx.Request], httpx.Response]


def R(status: int, content: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose body is still to be streamed, as from a real connection."""
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))


BODY = b'{"ok": true}'


def get(
    handler: Handler, url: str = "https://pith.science/pith/X.json", **kw: Any
) -> tuple[Response, list[float]]:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    settings = HttpSettings(rate=0, retries=3, backoff=0.5, retry_after_max=60, max_body_bytes=1000)

    async def run() -> Response:
        async with HttpClient(settings, transport=httpx.MockTransport(handler), sleep=sleep) as http:
            return await http.get(url, **kw)

    return asyncio.run(run()), slept


def test_user_agent_and_accept() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return R(200, content=BODY)

    resp, _ = get(handler)
    assert resp.body == BODY and resp.status == 200
    assert seen[0].headers["user-agent"] == "pith-mirror/0.1.0"
    assert seen[0].headers["accept"] == "application/json"


def test_https_to_http_redirect_is_refused() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return R(301, headers={"Location": "http://pith.science/pith/X.json"})

    with pytest.raises(ResponseError) as info:
        get(handler)
    assert info.value.code == "redirect_refused" and info.value.url == "https://pith.science/pith/X.json"


def test_redirect_to_another_port_is_refused() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return R(302, headers={"Location": "https://pith.science:8443/x"})

    with pytest.raises(ResponseError) as info:
        get(handler)
    assert info.value.code == "redirect_refused"


def test_redirect_without_location() -> None:
    with pytest.raises(ResponseError) as info:
        get(lambda req: R(302))
    assert info.value.code == "redirect_refused"


def test_retries_with_backoff_then_success() -> None:
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return R(500 if len(calls) < 3 else 200, content=BODY)

    resp, slept = get(handler)
    assert resp.body == BODY and len(calls) == 3
    assert len(slept) == 2 and 0.25 <= slept[0] <= 0.5 and 0.5 <= slept[1] <= 1.0


def test_retry_after_is_capped() -> None:
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return R(429, headers={"Retry-After": "86400"})
        return R(200, content=BODY)

    _, slept = get(handler)
    assert slept == [60]


def test_retries_exhausted() -> None:
    with pytest.raises(HttpStatusError) as info:
        get(lambda req: R(502))
    assert info.value.status == 502 and "after 4 attempts" in info.value.detail


def test_connection_error_is_retried() -> None:
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=req)
        return R(200, content=BODY)

    resp, slept = get(handler)
    assert resp.body == BODY and len(slept) == 1


def test_client_errors_are_not_retried() -> None:
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return R(403)

    with pytest.raises(HttpStatusError) as info:
        get(handler)
    assert info.value.code == "http_status" and len(calls) == 1


def test_missing_ok() -> None:
    resp, _ = get(lambda req: R(404, content=b"<html>"), missing_ok=True)
    assert resp.status == 404 and resp.body == b""
    with pytest.raises(HttpStatusError) as info:
        get(lambda req: R(410))
    assert info.value.code == "not_found"


def test_declared_length_over_the_cap() -> None:
    with pytest.raises(ResponseError) as info:
        get(lambda req: R(200, content=b"{" + b" " * 2000 + b"}"))
    assert info.value.code == "body_too_large"


@pytest.mark.parametrize(
    "encoding,encode",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("gzip", lambda b: gzip.compress(b[:5]) + gzip.compress(b[5:])),  # two members
    ],
)
def test_encodings_are_decoded(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    resp, _ = get(lambda req: R(200, content=encode(BODY), headers={"Content-Encoding": encoding}))
    assert resp.body == BODY
    assert resp.header("content-encoding") == encoding


def test_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"{" + b" " * 10_000_000 + b"}")
    assert len(bomb) < 1000 * 20

    def handler(req: httpx.Request) -> httpx.Response:
        return R(200, content=bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(ResponseError) as info:
        get(handler, url="https://pith.science/x")
    assert info.value.code == "body_too_large"


def test_truncated_gzip() -> None:
    data = gzip.compress(BODY)[:-6]

    def handler(req: httpx.Request) -> httpx.Response:
        return R(200, content=data, headers={"Content-Encoding": "gzip"})

    with pytest.raises(TransportError) as info:
        get(handler)
    assert info.value.code == "truncated"


def test_unknown_encoding() -> None:
    with pytest.raises(ResponseError) as info:
        get(lambda req: R(200, content=BODY, headers={"Content-Encoding": "br"}))
    assert info.value.code == "not_json" and "br" in info.value.detail


@pytest.mark.parametrize("body", [b"<!doctype html><p>error", b"OK", b"", b"\xef\xbb\xbfnope"])
def test_non_json_with_200(body: bytes) -> None:
    with pytest.raises(ResponseError) as info:
        get(lambda req: R(200, content=body, headers={"Content-Type": "text/html"}))
    assert info.value.code == "not_json" and "text/html" in info.value.detail


def test_not_json_allowed_when_not_expected() -> None:
    resp, _ = get(lambda req: R(200, content=b"<p>"), expect_json=False)
    assert resp.body == b"<p>"


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30)), now.timestamp()) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30)), now.timestamp()) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_settings_problems() -> None:
    assert HttpSettings().problems() == []
    assert len(HttpSettings(concurrency=0, rate=-1, total_timeout=0, retries=-1).problems()) == 4


def test_connect_timeout_is_retried_then_named() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=req)

    with pytest.raises(TransportError) as info:
        get(handler)
    assert info.value.code == "timeout" and "after 4 attempts" in info.value.detail


def test_read_timeout_mid_body() -> None:
    class Stalling(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"a": '
            raise httpx.ReadTimeout("stalled")

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Stalling())

    with pytest.raises(TransportError) as info:
        get(handler)
    assert info.value.code == "timeout" and "stalled" in info.value.detail
