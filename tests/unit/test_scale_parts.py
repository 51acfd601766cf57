"""The parts that make large builds cheap must not change what is built or what is refused."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import strictjson
from generator.columns import report_entry, report_text, row_of
from generator.config import Config
from generator.errors import JsonError
from generator.incremental import CHECK_BATCH, _listed_files, input_key, unlike_listed
from generator.keyring import load_keyring
from generator.render.search import terms_text
from generator.render.site import RecordSummary, Renderer
from generator.sources import RawRecord
from generator.streamed import dumps_indented
from generator.summaries import FileHashes, SummaryStore, add_pending, connect, settle

# -- strict JSON: the shortcuts decide exactly as the full walk does ---------------------------
_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["\ud800", "\udfff", "\U0001f600", "\\ud800", "caf\u00e9"]
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=40,
)


def _reference(data: bytes, max_depth: int) -> object:
    """The original rule: parse, then one full walk for depth and lone surrogates."""
    value = json.loads(data.decode("utf-8"), object_pairs_hook=strictjson._pairs)
    strictjson._check(value, 0, max_depth)
    return value


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(1, 6), st.booleans())
def test_fast_checks_decide_like_the_full_walk(value: object, max_depth: int, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        expected: object = _reference(data, max_depth)
    except strictjson._Reject as exc:
        expected = exc.code
    except UnicodeDecodeError:
        expected = "invalid_utf8"
    try:
        got: object = strictjson.loads_strict(data, "t", max_depth=max_depth)
    except JsonError as exc:
        got = exc.code
    assert got == expected


def test_fast_checks_named_cases() -> None:
    for data, code in [
        (b'{"a":1,"a":2}', "duplicate_key"),
        (b'{"x":{"b":1,"b":1}}', "duplicate_key"),
        (b'["\\ud800"]', "lone_surrogate"),
        (b'{"k\\uDC00":1}', "lone_surrogate"),
        (b"[" * 65 + b"]" * 65, "too_deep"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "too_deep"),
    ]:
        with pytest.raises(JsonError) as info:
            strictjson.loads_strict(data, "t")
        assert info.value.code == code
    assert strictjson.loads_strict(b'["\\ud83d\\ude00", "\\\\ud800"]', "t") == ["\U0001f600", "\\ud800"]
    assert strictjson.loads_strict(b"[" * 64 + b"]" * 64, "t") is not None


# -- streamed report: the same bytes as the whole-document form --------------------------------
def _summary(i: int, rng: random.Random) -> RecordSummary:
    suffix = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(26))
    return RecordSummary(
        suffix=suffix,
        pith_number=f"pith:2026:{suffix}",
        arxiv_id=f"2601.{i:05d}",
        version=1,
        title=f"Tïtle {i} $\\eta$ <b>",
        authors="A. Müller",
        submitted_at=f"2026-01-{1 + i % 28:02d}T00:00:00Z",
        primary_cat="cs.LG",
        canonical_sha256=f"{i:064x}",
        raw_sha256=f"{i + 1:064x}",
        key_id="k",
        key_fingerprint="f" * 32,
        signed_at=None if i % 3 == 0 else f"2026-05-{1 + i % 27:02d}T02:04:46Z",
        where=f"in/{i}.json",
        checks=(("receipt", "verified", "ok"), ("title", "warning", "différent")),
        outputs=(f"pith/{suffix}.json", f"pith/{suffix}/index.html"),
    )


def _bytes_of(rel: str) -> bytes:
    return b'{"rel": "' + rel.encode() + b'"}'


# -- the summary store behaves as a sequence in SUFFIX order -----------------------------------
RENDERER = Renderer(Config(), load_keyring(()))


def test_summary_store_sequence_and_settling(tmp_path: Path) -> None:
    rng = random.Random(3)
    summaries = [_summary(i, rng) for i in range(25)]
    db = connect(None)
    for seq, s in enumerate(summaries):
        add_pending(db, seq, s, f"key{seq}", data_of=_bytes_of, renderer=RENDERER)
    # the same record twice with the same bytes: the first is kept
    add_pending(db, 100, summaries[4], "dup", data_of=_bytes_of, renderer=RENDERER)
    # a different copy of one record: both refused
    clash = RecordSummary(**{**summaries[9].__dict__, "raw_sha256": "e" * 64, "where": "other.json"})
    add_pending(db, 101, clash, "clash", data_of=_bytes_of, renderer=RENDERER)
    settled = settle(db, strict=False)
    assert [f.code for f in settled.failures] == ["conflicting_copies"]
    assert "other.json" in settled.failures[0].detail
    store = SummaryStore(db)
    kept = sorted((s for i, s in enumerate(summaries) if i != 9), key=lambda s: s.suffix)
    assert len(store) == 24
    assert list(store) == kept
    assert store[0] == kept[0] and store[-1] == kept[-1] and store[3:6] == kept[3:6]
    assert kept[5] in store and summaries[9] not in store
    newest = sorted(kept, key=lambda s: (s.submitted_at, s.suffix), reverse=True)
    assert list(store.ordered("submitted_at", reverse=True)) == newest
    # the stored columns are the ones made from each summary
    assert list(store.rows("submitted_at", reverse=True)) == [row_of(s) for s in newest]
    assert [t for _s, t in store.texts("report", "suffix")] == [report_text(report_entry(s)) for s in kept]
    assert [t for _r, t in store.pairs("row", "terms", "suffix")] == [terms_text(row_of(s)) for s in kept]
    made = [json.loads(t) for _s, t in store.texts("report_html", "suffix")]
    assert made == [list(RENDERER.report_rows(report_entry(s))) for s in kept]
    with pytest.raises(IndexError):
        store[24]
    hashes = FileHashes(db)
    hashes.record("pith/X/index.html", "ab" * 32, 10)
    assert hashes["pith/X/index.html"] == "ab" * 32 and "pith/X/index.html" in hashes and len(hashes) == 1
    # ``add`` notes a file once and reports what was noted before
    assert hashes.add("pith/X/index.html", "cd" * 32, 11) == "ab" * 32
    assert hashes.add("pith/Y.json", "ef" * 32, 12) is None
    assert hashes.sized["pith/X/index.html"] == ("ab" * 32, 10)
    assert hashes.among(["pith/Y.json", "pith/Z.json"]) == {"pith/Y.json": "ef" * 32}


def test_strict_settling_refuses_warnings() -> None:
    rng = random.Random(4)
    s = _summary(1, rng)
    db = connect(None)
    add_pending(db, 0, s, "k", data_of=_bytes_of, renderer=RENDERER)
    settled = settle(db, strict=True)
    assert [f.code for f in settled.failures] == ["unsigned_field_mismatch"]
    assert settled.refused_files == list(s.outputs)
    assert len(SummaryStore(db)) == 0


_doc = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_doc, st.integers(0, 3))
def test_dumps_indented_is_json_dumps(value: object, level: int) -> None:
    expected = json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False).replace(
        "\n", "\n" + " " * level
    )
    assert dumps_indented(value, 1, level) == expected


def test_clean_text_drops_noncharacters() -> None:
    from generator.render.filters import clean_text

    assert clean_text("a\ufdd0b\uffff\U0010fffe c\U0001f600") == "ab c\U0001f600"


@given(st.binary(max_size=300))
def test_input_key_of_a_plain_record_is_the_general_rule(data: bytes) -> None:
    """``input_key`` hashes a record without endpoints, notes or provenance in one shortcut;
    it is the general rule's digest (length-prefixed bytes, two zero counts, two absent
    extras), and any endpoint, note or provenance changes it."""
    h = hashlib.sha256()
    h.update(len(data).to_bytes(8, "big") + data)
    h.update(bytes(4) + bytes(4))  # no endpoints, no notes
    h.update(((1).to_bytes(8, "big") + b"\x00") * 2)  # no origin URL, no fetch time
    assert input_key(RawRecord(data, "here")) == h.hexdigest()
    assert input_key(RawRecord(data, "elsewhere")) == h.hexdigest()
    others = [
        RawRecord(data, "w", endpoints=(("bundle", b""),)),
        RawRecord(data, "w", notes=("n",)),
        RawRecord(data, "w", origin_url="https://pith.science/x"),
        RawRecord(data, "w", fetched_at="2026-01-01T00:00:00Z"),
    ]
    assert len({input_key(r) for r in others} | {h.hexdigest()}) == 5


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.text(alphabet="ab/\n é", min_size=1, max_size=5), st.integers(0, 2**40), max_size=30),
    st.integers(1, 7),
)
def test_listed_files_read_in_batches_give_every_row(sizes: dict[str, int], rows: int) -> None:
    """The spare check's batched read of the file list (two joined texts a batch, split here)
    gives every path and size once, in path order, also paths with a line feed."""
    db = connect(None)
    db.executemany("INSERT INTO files VALUES (?, ?, ?)", [(r, "00" * 32, n) for r, n in sizes.items()])
    got = [
        (rel.decode("utf-8"), int(size))
        for rels, lengths in _listed_files(db, rows)
        for rel, size in zip(rels, lengths, strict=True)
    ]
    assert got == sorted(sizes.items(), key=lambda item: item[0].encode())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from("xyz")), max_size=12),
    st.lists(st.tuples(st.sampled_from("abcdefg"), st.sampled_from("xyz")), max_size=12),
    st.booleans(),
)
def test_add_many_reports_what_add_reports(
    before: list[tuple[str, str]], batch: list[tuple[str, str]], based: bool
) -> None:
    """A chunk's files noted in one statement give the same table and the same clashes (a path
    noted already with other bytes) as noting them one by one, with or without a previous tree."""

    def noted(through_many: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
        db = connect(None)
        hashes = FileHashes(db, based=based)
        if based:  # the previous build's list
            db.execute("INSERT INTO files VALUES ('a', 'old', 1), ('g', 'x', 1)")
        for rel, sha in before:
            hashes.add(rel, sha, 1, "k0", "p0")
        rows = [(rel, sha, 2, f"k{i}", f"p{i}") for i, (rel, sha) in enumerate(batch)]
        if through_many:
            clashes = hashes.add_many(rows)
        else:
            clashes = [(r[0], r[4]) for r in rows if (n := hashes.add(*r)) is not None and n != r[1]]
        return clashes, list(hashes.items_sized())

    assert noted(True) == noted(False)


@pytest.mark.parametrize(("threads", "slow"), [(1, 0.0), (3, 0.0), (8, 0.0), (8, 1e-12), (8, 1.0)])
def test_unlike_listed_on_threads_finds_each_difference_in_path_order(
    tmp_path: Path, threads: int, slow: float
) -> None:
    """The spare check runs its ``lstat``s on one thread, or on threads with batches read ahead
    (from the start, or from the first slow batch): it reports every file that is missing, of
    another size, hard-linked, a symlink or a directory, once and in path order, across many
    batches; a caller that stops early is not kept waiting."""
    db = connect(None)
    root = tmp_path / "tree"
    rels = [f"d{i % 37:02d}/f{i:05d}" for i in range(CHECK_BATCH * 2 * 8 + 321)]
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * (len(rel) % 5))
    db.executemany("INSERT INTO files VALUES (?, ?, ?)", [(r, "00" * 32, len(r) % 5) for r in rels])
    rng = random.Random(threads)
    picked = rng.sample(rels, 25)
    expected: dict[str, bool] = {}
    for k, rel in enumerate(picked):
        path = root / rel
        match k % 5:
            case 0:
                path.unlink()
            case 1:
                path.write_bytes(b"y" * 9)
            case 2:
                (tmp_path / f"link{k}").hardlink_to(path)
            case 3:
                path.unlink()
                path.symlink_to(root / rels[0])
            case 4:
                path.unlink()
                path.mkdir()
        expected[rel] = k % 5 == 0
    got = list(unlike_listed(db, root, threads=threads, slow_seconds=slow))
    assert got == sorted(expected.items(), key=lambda item: item[0].encode())
    skip = frozenset(picked[:5])
    assert [rel for rel, _ in unlike_listed(db, root, skip, threads=threads, slow_seconds=slow)] == sorted(
        (r for r in expected if r not in skip), key=str.encode
    )
    first = unlike_listed(db, root, threads=threads, slow_seconds=slow)
    assert next(first) == got[0]
    first.close()  # queued batches are cancelled, the descriptor closed


def test_unlike_listed_raises_errors_that_are_not_a_missing_file(tmp_path: Path) -> None:
    """An ``lstat`` failing on a thread for another reason than a missing file reaches the
    caller (the check fails, it does not pass)."""
    db = connect(None)
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f").write_bytes(b"x")
    db.execute("INSERT INTO files VALUES (?, ?, ?)", ("a/f/g", "00" * 32, 1))
    for slow in (0.0, 1.0):
        with pytest.raises(NotADirectoryError):
            list(unlike_listed(db, root, missing_on=(FileNotFoundError,), slow_seconds=slow))
    assert list(unlike_listed(db, root)) == [("a/f/g", True)]
