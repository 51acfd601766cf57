"""A WARC file of the upstream responses a mirror downloaded, for web archives to ingest.

Each stored response becomes one ``response`` record (gzip per record, as web archives expect):
the status line and the headers as they were received, then the body's exact bytes. The record
id is derived from the response (URL, time, body hash), so the same responses always give the
same file. A ``warcinfo`` record first names the generator.

A store keeps bodies decoded (gzip and chunking removed). Headers that describe the bytes on the
wire rather than those bytes would make a WARC reader decode them again, so they are kept under
the ``X-Archive-Orig-`` prefix that web archives use for such headers: ``Content-Encoding``
(other than identity), ``Transfer-Encoding``, and ``Content-Length`` when it differs from the
body's length. Every other header is written as received, in order.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from generator import GENERATOR
from generator.errors import UsageError


class StoredResponse(Protocol):
    """One upstream response as fetched (the shape ``generator.store.iter_responses`` yields)."""

    @property
    def url(self) -> str: ...
    @property
    def fetched_at(self) -> str: ...  # ISO-8601 UTC, e.g. 2026-05-26T02:04:46Z
    @property
    def status(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...
    @property
    def body(self) -> bytes: ...  # the body as stored (decoded)


ORIG_PREFIX = "X-Archive-Orig-"


def archived_headers(headers: Sequence[tuple[str, str]], body_length: int) -> list[tuple[str, str]]:
    """The headers to write: wire-only ones renamed (see the module docstring), order kept."""
    out: list[tuple[str, str]] = []
    for name, value in headers:
        low = name.lower()
        wire_only = (
            (low == "content-encoding" and value.strip().lower() not in ("", "identity"))
            or low == "transfer-encoding"
            or (low == "content-length" and value.strip() != str(body_length))
        )
        out.append((ORIG_PREFIX + name if wire_only else name, value))
    return out


def _record_id(resp: StoredResponse) -> str:
    h = hashlib.sha256()
    for part in (resp.url, resp.fetched_at, str(resp.status)):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(hashlib.sha256(resp.body).digest())
    return f"<urn:uuid:{uuid.UUID(bytes=h.digest()[:16], version=5)}>"


def _warc_date(text: str) -> str:
    """WARC-Date wants YYYY-MM-DDThh:mm:ss[.f]Z."""
    return text.replace("+00:00", "Z")


def write_warc(responses: Iterable[StoredResponse], out: Path) -> int:
    """Write ``out`` (a .warc.gz) atomically; return the number of response records."""
    it: Iterator[StoredResponse] = iter(responses)
    first = next(it, None)
    if first is None:
        raise UsageError("no stored responses to archive: WARC files are for mirrors filled by downloading")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    count = 0
    try:
        with tmp.open("wb") as fh:
            writer = WARCWriter(fh, gzip=True, warc_version="1.1")
            info_id = uuid.uuid5(uuid.NAMESPACE_URL, "warcinfo:" + out.name)
            info = f"software: {GENERATOR}\r\nformat: WARC File Format 1.1\r\n".encode()
            writer.write_record(
                writer.create_warc_record(
                    "",
                    "warcinfo",
                    payload=io.BytesIO(info),
                    length=len(info),
                    warc_content_type="application/warc-fields",
                    warc_headers_dict={
                        "WARC-Record-ID": f"<urn:uuid:{info_id}>",
                        "WARC-Date": _warc_date(first.fetched_at),
                        "WARC-Filename": out.name,
                    },
                )
            )
            for resp in _chain(first, it):
                http_headers = StatusAndHeaders(
                    f"{resp.status} {resp.reason}".strip(),
                    archived_headers(resp.headers, len(resp.body)),
                    protocol=str(getattr(resp, "http_version", None) or "HTTP/1.1"),
                )
                record = writer.create_warc_record(
                    resp.url,
                    "response",
                    payload=io.BytesIO(resp.body),
                    length=len(resp.body),
                    http_headers=http_headers,
                    warc_headers_dict={
                        "WARC-Record-ID": _record_id(resp),
                        "WARC-Date": _warc_date(resp.fetched_at),
                    },
                )
                writer.write_record(record)
                count += 1
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _chain(first: StoredResponse, rest: Iterator[StoredResponse]) -> Iterator[StoredResponse]:
    yield first
    yield from rest
