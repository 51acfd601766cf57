"""Record names, resolve answers, the append-only rule, the store and the mirror index reader."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from generator.errors import MirrorIndexError, ResponseError, StoreError, UsageError
from generator.mirror_index import ShardRef, parse_shard, parse_top, shard_path
from generator.sources.remote import (
    DEFAULT_KINDS,
    endpoint_url,
    parse_kinds,
    parse_wanted,
    read_list,
    resolve_url,
    suffix_from_resolve,
)
from generator.store import CopyUpdate, NewResponse, RecordRow, Store
from generator.verify.growth import refusal_reason

SUFFIX = "75T7H6BVKLX2X7KPYCGRY4USAC"


# -- names --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,kind,value,version",
    [
        (f"pith:2026:{SUFFIX}", "suffix", SUFFIX, None),
        (f"  {SUFFIX} ", "suffix", SUFFIX, None),
        ("pith:75T7H6BV", "short", "75T7H6BV", None),
        ("75T7H6BVKLX2", "short", "75T7H6BVKLX2", None),
        ("2604.20237", "arxiv", "2604.20237", None),
        ("arXiv:2604.20237v3", "arxiv", "2604.20237", 3),
        ("cs/0004010", "arxiv", "cs/0004010", None),
        ("math.AG/0309136v2", "arxiv", "math.AG/0309136", 2),
    ],
)
def test_parse_wanted(text: str, kind: str, value: str, version: int | None) -> None:
    w = parse_wanted(text)
    assert (w.kind, w.value, w.version) == (kind, value, version)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pith:26:ABC",
        "../etc/passwd",
        "75t7h6bv",
        "ABC",
        "2604.202",
        "cs/000401",
        "x" * 300,
        "pith:2026:" + "A" * 27,
    ],
)
def test_bad_names(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_wanted(text, "list.txt:3")
    assert "list.txt:3" in str(info.value)


def test_read_list_reports_every_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_text(f"# comment\n{SUFFIX}\nnonsense\n\n2604.20237 # trailing\nalso bad\n")
    with pytest.raises(UsageError) as info:
        read_list(path)
    assert f"{path}:3" in str(info.value) and f"{path}:6" in str(info.value)
    path.write_text(f"# comment\n{SUFFIX}\n\n2604.20237 # trailing\n")
    assert [w.value for w in read_list(path)] == [SUFFIX, "2604.20237"]


def test_parse_kinds() -> None:
    assert parse_kinds("all") == DEFAULT_KINDS
    assert parse_kinds("none") == ()
    assert parse_kinds("state,graph") == ("graph", "state")
    with pytest.raises(UsageError):
        parse_kinds("graph,secrets")


def test_urls() -> None:
    base = "https://pith.science"
    assert endpoint_url(base, "integrity", SUFFIX, "cs/0004010") == f"{base}/pith/cs/0004010/integrity.json"
    assert endpoint_url(base, "events", SUFFIX, "") == f"{base}/api/pith-number/{SUFFIX}/events.json"
    assert resolve_url(base, "cs/0004010") == f"{base}/api/pith-number/resolve?arxiv=cs%2F0004010&json=true"


@pytest.mark.parametrize(
    "answer",
    [
        {"pith_number": f"pith:2026:{SUFFIX}"},
        {"suffix": SUFFIX},
        {"url": f"https://pith.science/pith/{SUFFIX}"},
        {"result": {"links": f"/pith/{SUFFIX}.json"}},
        {"record": {"pith_number": f"pith:2026:{SUFFIX}", "short_pith_number": "pith:75T7H6BV"}},
    ],
)
def test_resolve_answers_that_name_a_record(answer: dict[str, object]) -> None:
    assert suffix_from_resolve(json.dumps(answer).encode(), "u") == SUFFIX


@pytest.mark.parametrize(
    "body",
    [
        b'{"found": false}',
        b"<html>",
        b'{"a": "pith:2026:' + b"A" * 26 + b'", "b": "pith:2026:' + b"B" * 26 + b'"}',
        b'{"a": {"b": {"c": "' + SUFFIX.encode() + b'"}}}',  # too deep to be plain
    ],
)
def test_resolve_answers_refused(body: bytes) -> None:
    with pytest.raises(ResponseError) as info:
        suffix_from_resolve(body, "https://x/resolve")
    assert info.value.code == "resolve_failed" and info.value.url == "https://x/resolve"


# -- append-only --------------------------------------------------------------------------------
def _doc(events: list[object], **extra: object) -> bytes:
    return json.dumps({"events": events, **extra}).encode()


def test_growth_rules() -> None:
    a, b = {"event_id": 1, "x": 1}, {"event_id": 2, "x": 2}
    assert refusal_reason("bundle", _doc([a]), _doc([a, b])) is None
    assert refusal_reason("bundle", _doc([a, b]), _doc([b, a])) is None  # order is not content
    reason = refusal_reason("bundle", _doc([a, b]), _doc([b]))
    assert reason is not None and "1 (missing)" in reason
    reason = refusal_reason("integrity", _doc([a]), _doc([{"event_id": 1, "x": 9}]))
    assert reason is not None and "(changed)" in reason
    assert refusal_reason("events", json.dumps([a]).encode(), b"<html>") is not None
    assert refusal_reason("graph", _doc([a]), _doc([])) is None  # no published rule for graphs
    state = json.dumps({"event_count": 5}).encode()
    assert refusal_reason("state", state, json.dumps({"event_count": 4}).encode()) is not None
    assert refusal_reason("state", state, json.dumps({"event_count": 6}).encode()) is None


# -- the store ----------------------------------------------------------------------------------
def _row(kinds: tuple[str, ...] = ("graph",)) -> RecordRow:
    return RecordRow(SUFFIX, f"pith:2026:{SUFFIX}", "0" * 64, "2604.20237", kinds, "https://x", "t")


def _resp(url: str, sha: str | None, status: int = 200) -> NewResponse:
    return NewResponse(
        url, status, "OK", "HTTP/1.1", [("ETag", '"e"')], sha, 3 if sha else None, "t", "verified"
    )


def test_store_objects_and_commit(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s", durable=True) as store:
        store.lock()
        sha = store.put_object(b"abc")
        assert store.read_object(sha) == b"abc" and sha == hashlib.sha256(b"abc").hexdigest()
        assert not store.complete(SUFFIX, ("graph",))
        store.commit_record(_row(()), [CopyUpdate("record", "https://x/r", _resp("https://x/r", sha))])
        assert store.complete(SUFFIX, ())
        assert not store.complete(SUFFIX, ("graph",))  # graph never asked for
        store.commit_record(
            _row(),
            [CopyUpdate("graph", "https://x/g", _resp("https://x/g", None, 404))],
            [("graph", "n", "t")],
        )
        assert store.complete(SUFFIX, ("graph",)) and not store.complete(SUFFIX, ("graph", "state"))
        assert store.notes(SUFFIX) == ["n"]
        cached = store.cached("https://x/r")
        assert cached is not None and cached.etag == '"e"'
        # an object that is damaged on disk is never handed out
        store.object_path(sha).write_bytes(b"abd")
        with pytest.raises(StoreError, match="damaged"):
            store.read_object(sha)
        assert store.put_object(b"abc") == sha  # and is repaired by the next write
        assert store.read_object(sha) == b"abc"
        with pytest.raises(StoreError):
            store.commit_record(_row(), [CopyUpdate("record", "u", _resp("u", "f" * 64))])


def test_store_lock(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as a, Store.open(tmp_path / "s") as b:
        a.lock()
        with pytest.raises(StoreError, match="another fetch"):
            b.lock()


def test_store_bad_object_name(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store, pytest.raises(StoreError):
        store.object_path("../../etc/passwd")


def test_readonly_store_must_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a pith-mirror store"):
        Store.open(tmp_path / "nothing", readonly=True)


# -- mirror index reader ------------------------------------------------------------------------
def _top(shards: list[dict[str, object]]) -> bytes:
    return json.dumps({"index_type": "pith_mirror_index", "index_version": "1", "shards": shards}).encode()


def test_index_top_is_strict() -> None:
    good = {"prefix": "75", "path": shard_path("75"), "records": 1, "size": 10, "sha256": "a" * 64}
    assert parse_top(_top([good]), "u")[0].prefix == "75"
    for bad in (
        {**good, "path": "../../etc/passwd"},
        {**good, "prefix": "7"},
        {**good, "prefix": "ab", "path": shard_path("ab")},
        {**good, "records": -1},
        {**good, "sha256": "x"},
    ):
        with pytest.raises(MirrorIndexError) as info:
            parse_top(_top([bad]), "u")
        assert info.value.code == "index_malformed"
    with pytest.raises(MirrorIndexError):
        parse_top(_top([good, good]), "u")
    with pytest.raises(MirrorIndexError):
        parse_top(b'{"index_type": "pith_mirror_index", "index_version": "9", "shards": []}', "u")


def test_index_shard_is_checked() -> None:
    entry: dict[str, object] = {
        "suffix": SUFFIX,
        "pith_number": f"pith:2026:{SUFFIX}",
        "arxiv_id": "2604.20237",
        "canonical_sha256": "b" * 64,
        "files": [{"kind": "record", "path": f"pith/{SUFFIX}.json", "size": 5, "sha256": "c" * 64}],
    }

    def shard(e: dict[str, object]) -> tuple[bytes, ShardRef]:
        doc = {"index_type": "pith_mirror_index_shard", "index_version": "1", "prefix": "75", "records": [e]}
        data = json.dumps(doc).encode()
        return data, ShardRef("75", shard_path("75"), 1, len(data), hashlib.sha256(data).hexdigest())

    data, ref = shard(entry)
    assert parse_shard(data, "u", ref)[0].file("record") is not None
    with pytest.raises(MirrorIndexError) as info:
        parse_shard(data + b" ", "u", ref)
    assert info.value.code == "index_mismatch"
    for bad in (
        {**entry, "files": [{"kind": "record", "path": "../x.json", "size": 5, "sha256": "c" * 64}]},
        {
            **entry,
            "files": [
                {
                    "kind": "graph",
                    "path": f"api/pith-number/{SUFFIX}/graph.json",
                    "size": 1,
                    "sha256": "c" * 64,
                }
            ],
        },
        {**entry, "suffix": "A" * 26},
        {**entry, "arxiv_id": "../../x"},
    ):
        data, ref = shard(bad)
        with pytest.raises(MirrorIndexError) as info:
            parse_shard(data, "u", ref)
        assert info.value.code == "index_malformed"
