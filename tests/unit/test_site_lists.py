"""The two site-wide lists of everything, made in large chunks, give the per-item rule's bytes:
the manifest's file list (``generator.filelist``) and the verification report
(``generator.report``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import GENERATOR, filelist, report
from generator.build import SiteContext, _report_head
from generator.columns import report_entry, report_text
from generator.config import Config
from generator.incremental import DELTA_TRIGGERS
from generator.keyring import load_keyring
from generator.manifest import UNLISTED, manifest_chunks, path_key, table_manifest_chunks
from generator.manifest import FileEntry as Entry
from generator.render.cached import CachedPage
from generator.render.site import RecordSummary, Renderer
from generator.summaries import FileHashes, SummaryStore, add_pending, connect, settle
from tests.unit.test_scale_parts import _summary as plain_summary

FIELDS: dict[str, Any] = {
    "build_time": "2026-01-01T00:00:00Z",
    "build_time_basis": "SOURCE_DATE_EPOCH",
    "upstream": "https://pith.science",
    "base_url": None,
    "record_count": 3,
    "keyring": [],
    "operator_key": None,
}

# what a path may not hold in a site (paths.safe_rel) but the table could: every character JSON
# escapes, the separators the fast path splits at, UTF-8 of 2, 3 and 4 bytes, and the code points
# whose UTF-16 order differs from their UTF-8 order
TRICKY = [
    "a.html",
    "pith/ABC/index.html",
    'quote"d.html',
    "back\\slash.html",
    "new\nline.html",
    "tab\there.html",
    "nul\x00byte.html",
    "ctl\x01\x1f.html",
    "del\x7f.html",
    "sp ace.html",
    "caf\u00e9.html",
    "\u65e5\u672c.html",
    "line\u2028sep.html",
    "\uffff.html",
    "\U00010000.html",
    "\U0001f600/x.html",
    "",
    *UNLISTED,
]


def _line(rel: str, sha: str, size: int) -> str:
    return json.dumps({"path": rel, "sha256": sha, "size": size}, ensure_ascii=False, separators=(",", ":"))


def reference_manifest(files: list[tuple[str, str, int]]) -> bytes:
    """The manifest by the plain per-file rule, with no shortcut: entries sorted by the UTF-8 bytes
    of their paths, one ``json.dumps`` line each, the root hash over one line per file."""
    listed = sorted((f for f in files if f[0] not in UNLISTED), key=lambda f: f[0].encode("utf-8"))
    lines = "".join(f"{sha} {size} {rel}\n" for rel, sha, size in listed).encode("utf-8")
    doc = {
        "manifest_type": "pith_mirror_site_manifest",
        "manifest_version": "1",
        "generator": GENERATOR,
        **FIELDS,
        "unlisted": ["/" + p for p in UNLISTED],
        "root_hash": {
            "algorithm": "sha256",
            "rule": "sha256 over the files sorted by UTF-8 path, one line each: '<sha256> <size> <path>\\n'",
            "value": hashlib.sha256(lines).hexdigest(),
        },
        "file_count": len(listed),
        "total_bytes": sum(f[2] for f in listed),
    }
    head = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False)
    body = ",\n".join(
        json.dumps({"path": r, "sha256": h, "size": n}, ensure_ascii=False, separators=(",", ":"))
        for r, h, n in listed
    )
    text = f'{head[:-2]},\n "files": [\n{body}\n ]\n}}\n' if listed else f'{head[:-2]},\n "files": []\n}}\n'
    return text.encode("utf-8")


def _table(files: list[tuple[str, str, int]]) -> sqlite3.Connection:
    db = connect(None)
    FileHashes(db).record_many(files)
    return db


def _fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for each chunk, whether the fast path made it."""
    calls: list[bool] = []
    real = filelist._fast

    def spy(*args: Any) -> tuple[bytes, bytes] | None:
        made = real(*args)
        calls.append(made is not None)
        return made

    monkeypatch.setattr(filelist, "_fast", spy)
    return calls


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 4096])
def test_manifest_from_the_table_is_the_per_file_rule(
    rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(rows)
    plain = [(f"p/{i:03d}/index.html", f"{i:064x}", rng.randrange(10**12)) for i in range(40)]
    tricky = [(rel, hashlib.sha256(rel.encode()).hexdigest(), i) for i, rel in enumerate(TRICKY)]
    odd = [("odd-sha.html", 'not "hex"', 5), ("negative.html", "ab" * 32, -1), ("big", "cd" * 32, 2**62)]
    files = plain + tricky + odd
    rng.shuffle(files)
    calls = _fast_calls(monkeypatch)
    got = b"".join(table_manifest_chunks(_table(files), tmp_path, rows=rows, **FIELDS))
    assert got == reference_manifest(files)
    # the streamed per-entry form of the same list (the manifest before the table shortcut)
    entries = sorted(
        (Entry(r, n, h) for r, h, n in files if r not in UNLISTED), key=lambda e: path_key(e.path)
    )
    assert got == b"".join(manifest_chunks(lambda: iter(entries), **FIELDS))
    # small chunks: plain ones are joined as they are, the others made file by file
    assert (True in calls, False in calls) == (rows < 4096, True)
    assert list(tmp_path.iterdir()) == []  # the spool leaves nothing behind
    # chunks kept in the database for the next build, streamed from there: the same bytes
    assert b"".join(table_manifest_chunks(_table(files), tmp_path, rows=rows, keep=True, **FIELDS)) == got


def test_plain_paths_take_the_fast_path_and_others_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fast_calls(monkeypatch)
    plain = [(f"a/{i}.html", "ef" * 32, i) for i in range(10)]
    db = _table(plain)
    assert [c.count for c in filelist.list_chunks(db, UNLISTED, 4)] == [4, 4, 2]
    assert calls == [True, True, True]
    for bad in ('q"', "b\\s", "n\nl", "z\x00", "c\x1b"):
        calls.clear()
        chunks = list(filelist.list_chunks(_table([*plain, (bad, "ef" * 32, 1)]), UNLISTED, 100))
        assert calls == [False] and chunks[0].count == 11
        assert bad in [e["path"] for e in json.loads(b"[" + chunks[0].listed + b"]")]
    # a chunk out of path order is never joined as it is
    assert filelist._fast(b"b\na", b"1 2", b"3 4", 2) is None
    assert filelist._fast(b"a\nb", b"1 2", b"3 4", 2) == (
        b"1 3 a\n2 4 b\n",
        b'{"path":"a","sha256":"1","size":3},\n{"path":"b","sha256":"2","size":4}',
    )


def test_empty_table_lists_no_file(tmp_path: Path) -> None:
    got = b"".join(table_manifest_chunks(_table([(UNLISTED[0], "00" * 32, 1)]), tmp_path, **FIELDS))
    assert got == reference_manifest([]) and got.endswith(b'"files": []\n}\n')


_paths = st.text(
    alphabet=st.sampled_from(
        ["a", "b", "/", ".", " ", "\u00e9", "\U0001f600", '"', "\\", "\n", "\x00", "\x7f"]
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(_paths | st.sampled_from(UNLISTED), st.integers(-5, 2**40), max_size=25),
    st.integers(1, 6),
)
def test_any_table_gives_the_per_file_rule(sizes: dict[str, int], rows: int) -> None:
    files = [(rel, hashlib.sha256(rel.encode()).hexdigest(), n) for rel, n in sizes.items()]
    db = _table(files)
    chunks = list(filelist.list_chunks(db, UNLISTED, rows))
    listed = sorted((f for f in files if f[0] not in UNLISTED), key=lambda f: f[0].encode())
    assert b"".join(c.hashed for c in chunks) == "".join(f"{h} {n} {r}\n" for r, h, n in listed).encode()
    assert b",\n".join(c.listed for c in chunks) == ",\n".join(_line(*f) for f in listed).encode()
    assert [sum(c.count for c in chunks), sum(c.total for c in chunks)] == [
        len(listed),
        sum(f[2] for f in listed),
    ]


def _joined(chunks: list[filelist.ListChunk]) -> tuple[bytes, bytes, int, int]:
    return (
        b"".join(c.hashed for c in chunks),
        b",\n".join(c.listed for c in chunks),
        sum(c.count for c in chunks),
        sum(c.total for c in chunks),
    )


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(_paths | st.sampled_from(UNLISTED), st.integers(0, 2**40), max_size=30),
    st.lists(st.tuples(_paths | st.sampled_from(UNLISTED), st.integers(-1, 40)), max_size=12),
    st.integers(1, 5),
)
def test_kept_chunks_follow_every_change(
    sizes: dict[str, int], changes: list[tuple[str, int]], rows: int
) -> None:
    """The manifest's chunks kept for the next build, after files are added, changed and
    removed (noted in ``delta_files`` by the incremental build's triggers), give the file list
    made from nothing; the chunks no change touched are not made again."""
    db = _table([(rel, hashlib.sha256(rel.encode()).hexdigest(), n) for rel, n in sizes.items()])
    db.executescript(DELTA_TRIGGERS)
    first = list(filelist.kept_list_chunks(db, UNLISTED, rows, changed=False))
    assert _joined(first) == _joined(list(filelist.list_chunks(db, UNLISTED, rows)))
    db.execute("DELETE FROM delta_files")
    for rel, n in changes:
        if n < 0:
            db.execute("DELETE FROM files WHERE rel = ?", (rel,))
        else:
            db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (rel, "ab" * 32, n))
    made: list[str] = []
    real = filelist._chunk

    def counted(
        db: sqlite3.Connection, present: Sequence[str], cond: str, after: str, upto: str | None
    ) -> filelist.ListChunk:
        made.append(after)
        return real(db, present, cond, after, upto)

    filelist._chunk = counted
    try:
        again = list(filelist.kept_list_chunks(db, UNLISTED, rows))
        touched = len(made)
        db.execute("DELETE FROM delta_files")
        made.clear()
        third = list(filelist.kept_list_chunks(db, UNLISTED, rows))
    finally:
        filelist._chunk = real
    expected = _joined(list(filelist.list_chunks(db, UNLISTED, rows)))
    assert _joined(again) == expected
    assert _joined(third) == expected and made == []  # nothing changed: every chunk kept
    # read without their JSON lines, then the lines in order: the same list
    hashed, _none, count, total = _joined(list(filelist.kept_list_chunks(db, UNLISTED, rows, lists=False)))
    assert (hashed, count, total) == (expected[0], expected[2], expected[3])
    assert b",\n".join(filelist.kept_lists(db)) == expected[1]
    kept = db.execute("SELECT count(*) FROM manifest_chunks").fetchone()[0]
    assert touched <= len({rel for rel, _n in changes}) * (1 + (len(sizes) + len(changes)) // rows) + 1
    assert kept >= 1


# -- the verification report -------------------------------------------------------------------
def _summary(i: int, rng: random.Random) -> RecordSummary:
    """A summary with characters the report escapes, and open-graph documents and notes."""
    s = plain_summary(i, rng)
    og: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        (("bundle", "verified", ()), ("integrity", "failed", ("integrity_bad_signature",)))
        if i % 4 == 1
        else ()
    )
    return dataclasses.replace(
        s,
        title=f'T\u00eftle {i} "q" \\ <b>\n',
        checks=(("receipt", "verified", "ok"), ("title", "warning", 'diff\u00e9rent "x" \\ \x01 <i>')),
        open_graph=og,
        notes=("upstream said: \u2028 <script>",) if i % 5 == 2 else (),
    )


def _bytes_of(rel: str) -> bytes:
    return b'{"rel": "' + rel.encode() + b'"}'


def _files(files: Any) -> dict[str, bytes]:
    out = {}
    for f in files:
        if isinstance(f, CachedPage):
            f = f.render()
        out[f.dest_path] = f.data
    return out


def _keys(files: Any) -> dict[str, str]:
    return {f.dest_path: f.key for f in files if isinstance(f, CachedPage)}


def _store(summaries: list[RecordSummary], renderer: Renderer) -> SummaryStore:
    db = connect(None)
    for seq, s in enumerate(summaries):
        add_pending(db, seq, s, f"key{seq}", data_of=_bytes_of, renderer=renderer)
    settle(db, strict=False)
    return SummaryStore(db)


@pytest.mark.parametrize("count", [0, 1, 9, 40])
def test_report_shards_from_the_table_are_the_per_record_report(count: int, tmp_path: Path) -> None:
    rng = random.Random(count)
    summaries = [_summary(i, rng) for i in range(count)]
    cfg = Config()
    keyring = load_keyring(())
    renderer = Renderer(cfg, keyring)
    store = _store(summaries, renderer)
    assert len(store) == count

    def ctx(records: Any) -> SiteContext:
        return SiteContext(cfg, keyring, renderer, records, [], "2026-01-01T00:00:00Z", tmp_path)

    new = _files(report.verification_pages(ctx(store)))
    from_list = _files(report.verification_pages(ctx(summaries)))
    assert new == from_list
    assert _keys(report.verification_pages(ctx(store))) == _keys(report.verification_pages(ctx(summaries)))
    doc = json.loads(new["verification.json"])
    head = _report_head(cfg, keyring, count, [], "2026-01-01T00:00:00Z")
    assert {k: v for k, v in doc.items() if k != "record_shards"} == head
    prefixes = sorted({s.suffix[:2] for s in summaries})
    assert [sh["prefix"] for sh in doc["record_shards"]] == prefixes
    assert sum(sh["records"] for sh in doc["record_shards"]) == count
    entries = []
    for shard in doc["record_shards"]:
        data = new[shard["json"]]
        shard_doc = json.loads(data)
        # the shard is printed as json.dumps prints the whole document
        assert data == (json.dumps(shard_doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
        assert shard_doc["prefix"] == shard["prefix"] and len(shard_doc["records"]) == shard["records"]
        entries.extend(shard_doc["records"])
        page = new[shard["html"]].decode()
        assert page.count('<a class="mono"') >= shard["records"]
        members = [s for s in summaries if s.suffix[:2] == shard["prefix"]]
        assert ("Open graph documents" in page) == any(s.open_graph for s in members)
    by_suffix = sorted(summaries, key=lambda s: s.suffix)
    assert entries == [json.loads(report_text(report_entry(s))) for s in by_suffix]
    index = new["verification/index.html"].decode()
    assert all(f'verification/{sh["prefix"]}.html"' in index for sh in doc["record_shards"])


def test_a_changed_record_changes_only_its_report_shard(tmp_path: Path) -> None:
    rng = random.Random(5)
    summaries = [_summary(i, rng) for i in range(30)]
    cfg = Config()
    keyring = load_keyring(())
    renderer = Renderer(cfg, keyring)

    def keys(records: list[RecordSummary]) -> dict[str, str]:
        ctx = SiteContext(cfg, keyring, renderer, _store(records, renderer), [], "t", tmp_path)
        return _keys(report.verification_pages(ctx))

    before = keys(summaries)
    changed = list(summaries)
    changed[7] = dataclasses.replace(changed[7], notes=("a note the report shows",))
    after = keys(changed)
    prefix = summaries[7].suffix[:2]
    assert {rel for rel in before if before[rel] != after[rel]} == {
        f"verification/{prefix}.json",
        f"verification/{prefix}.html",
    }
