"""Typed errors cross process boundaries intact: the build's worker pool sends them pickled."""

from __future__ import annotations

import pickle

import pytest

from generator.errors import (
    DeadlineError,
    DownloadError,
    HttpStatusError,
    JsonError,
    MirrorIndexError,
    RecordError,
    ResponseError,
    TransportError,
    VerificationError,
)

ERRORS = [
    RecordError("rollback", "in.jsonl:3 (pith:2026:AAAA)", "pith/X/bundle.json: dropped"),
    JsonError("too_large", "rec.json", "17 MB (max 16 MB)"),
    VerificationError("bad_signature", "rec.json", "signature does not verify"),
    DownloadError("timeout", "https://pith.science/pith/X.json", "read timeout"),
    TransportError("connect_failed", "https://pith.science/", "reset"),
    ResponseError("not_json", "https://pith.science/pith/X.json", "an HTML page"),
    MirrorIndexError("index_malformed", "https://m.example/index.json", "no shards"),
    HttpStatusError("http_status", "https://pith.science/pith/X.json", "503 after 3 tries", 503),
    DeadlineError("deadline", "https://pith.science", "fetch stopped at its deadline of 600 s after 3 of 5"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: Exception) -> None:
    back = pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)  # code, where or url, detail (and status)
