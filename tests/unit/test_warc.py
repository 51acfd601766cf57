"""The WARC writer, against the StoredResponse shape, read back with warcio."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from generator.errors import UsageError
from generator.warc import archived_headers, write_warc


@dataclass(frozen=True)
class Resp:
    url: str
    fetched_at: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


RESPONSES = [
    Resp(
        "https://pith.science/pith/75T7H6BVKLX2X7KPYCGRY4USAC.json",
        "2026-05-26T02:10:00Z",
        200,
        "OK",
        (("Content-Type", "application/json"), ("ETag", '"abc"'), ("X-Odd", "a: b")),
        '{"title":"Über \\u2028 𝔊","n":1}\n'.encode(),
    ),
    Resp(
        "https://pith.science/pith/QVJLU2XL6QPRVRKFFVZUINAMO6/state.json",
        "2026-05-26T02:10:01Z",
        200,
        "OK",
        (("Content-Type", "application/json"), ("Content-Length", "5")),
        bytes(range(256)) + b"\r\n\r\nHTTP/1.1 200 OK\r\n",
    ),
    Resp("https://pith.science/pith/ZZZZ.json", "2026-05-26T02:10:02Z", 404, "Not Found", (), b""),
]
GZIPPED = Resp(
    "https://pith.science/pith/TTYI7NZGRJCYDJBU7M5DRFVICE.json",
    "2026-05-26T02:10:03Z",
    200,
    "OK",
    (
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", "12"),
        ("Transfer-Encoding", "chunked"),
        ("Vary", "Accept-Encoding"),
    ),
    b'{"decoded": "body as stored"}',
)


# (record type, WARC-Date, target URI, HTTP status, payload, HTTP headers)
WarcRecord = tuple[str, str, str | None, str | None, bytes, list[tuple[str, str]]]


def _records(path: Path) -> list[WarcRecord]:
    out: list[WarcRecord] = []
    with path.open("rb") as fh:
        for rec in ArchiveIterator(fh, check_digests=True):
            uri = rec.rec_headers.get_header("WARC-Target-URI")
            status = rec.http_headers.get_statuscode() if rec.http_headers else None
            headers = list(rec.http_headers.headers) if rec.http_headers else []
            body = rec.raw_stream.read()
            out.append((rec.rec_type, rec.rec_headers.get_header("WARC-Date"), uri, status, body, headers))
    return out


def test_warc_holds_the_exact_bytes_and_headers(tmp_path: Path) -> None:
    out = tmp_path / "m.warc.gz"
    assert write_warc(RESPONSES, out) == 3
    recs = _records(out)
    assert recs[0][0] == "warcinfo"
    for resp, (kind, date, uri, status, body, headers) in zip(RESPONSES, recs[1:], strict=True):
        assert kind == "response"
        assert uri == resp.url
        assert date == resp.fetched_at
        assert status == str(resp.status)
        assert body == resp.body
        assert hashlib.sha256(body).digest() == hashlib.sha256(resp.body).digest()
        assert headers == archived_headers(resp.headers, len(resp.body))
    assert recs[1][5] == list(RESPONSES[0].headers)  # nothing wire-only: exactly as received
    assert ("X-Archive-Orig-Content-Length", "5") in recs[2][5]  # the store's body is not 5 bytes


def test_warcio_check_accepts_it(tmp_path: Path) -> None:
    out = tmp_path / "m.warc.gz"
    write_warc(RESPONSES, out)
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from warcio.cli import main; main(sys.argv[1:])",
            "check",
            "-v",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("digest pass") >= 3


def test_wire_only_headers_are_kept_under_the_archive_prefix(tmp_path: Path) -> None:
    """The stored body is decoded: a reader must not gunzip or de-chunk it again."""
    out = tmp_path / "m.warc.gz"
    write_warc([GZIPPED], out)
    with out.open("rb") as fh:
        rec = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        assert rec.http_headers.headers == [
            ("Content-Type", "application/json"),
            ("X-Archive-Orig-Content-Encoding", "gzip"),
            ("X-Archive-Orig-Content-Length", "12"),
            ("X-Archive-Orig-Transfer-Encoding", "chunked"),
            ("Vary", "Accept-Encoding"),
        ]
        assert rec.content_stream().read() == GZIPPED.body


def test_warc_is_deterministic(tmp_path: Path) -> None:
    write_warc(RESPONSES, tmp_path / "a" / "m.warc.gz")
    write_warc(iter(RESPONSES), tmp_path / "b" / "m.warc.gz")
    assert (tmp_path / "a" / "m.warc.gz").read_bytes() == (tmp_path / "b" / "m.warc.gz").read_bytes()


def test_no_responses_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_warc([], tmp_path / "m.warc.gz")
    assert not (tmp_path / "m.warc.gz").exists()
