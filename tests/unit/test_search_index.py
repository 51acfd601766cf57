"""The search index is numbered oldest first and keyed so that unchanged shards are carried:
a new newest record changes only the last document shard, the leaves of its terms and the
manifest; a shard's key changes exactly when its bytes do."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.columns import row_of
from generator.render import search
from generator.render.cached import CachedPage
from generator.render.site import OutputFile, RecordSummary
from tests.unit.test_reader_parts import summary


def _records(n: int) -> list[RecordSummary]:
    return [
        summary(
            i,
            arxiv_id=f"2401.{i:05d}",
            title=f"word{i % 37} topic{i % 5} shared",
            submitted_at=f"20{10 + i % 13:02d}-0{1 + i % 9}-1{i % 10}T00:00:00Z",
        )
        for i in range(n)
    ]


def _build(records: Sequence[RecordSummary]) -> dict[str, tuple[str | None, bytes]]:
    """path -> (key, bytes) of every search file (key None for plain files)."""
    out: dict[str, tuple[str | None, bytes]] = {}
    for f in search.build_search(records):
        if isinstance(f, CachedPage):
            rendered = f.render()
            out[f.dest_path] = (f.key, rendered.data)
        else:
            assert isinstance(f, OutputFile)
            out[f.dest_path] = (None, f.data)
    return out


def _call(data: bytes) -> list[object]:
    m = re.fullmatch(rb"PithSearch\.\w+\((.*)\);\n", data, re.DOTALL)
    assert m, data[:80]
    args = json.loads(b"[" + m.group(1) + b"]")
    assert isinstance(args, list)
    return args


def _leaf_terms(data: bytes) -> set[str]:
    """The terms of one posting leaf (``search/t/``)."""
    _leaf, terms = _call(data)
    assert isinstance(terms, dict)
    return set(terms)


def _postings(files: dict[str, tuple[str | None, bytes]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for rel, (_key, data) in files.items():
        if rel.startswith("search/t/"):
            _leaf, terms = _call(data)
            assert isinstance(terms, dict)
            for term, deltas in terms.items():
                acc, ids = 0, []
                for d in deltas:
                    acc += d
                    ids.append(acc)
                out[term] = ids
    return out


def _docs(files: dict[str, tuple[str | None, bytes]]) -> list[list[object]]:
    docs: list[list[object]] = []
    n = 0
    while f"search/d/{n}.js" in files:
        _num, rows = _call(files[f"search/d/{n}.js"][1])
        assert isinstance(rows, list)
        docs.extend(rows)
        n += 1
    return docs


def test_documents_are_numbered_oldest_first() -> None:
    records = _records(300)
    files = _build(records)
    docs = _docs(files)
    want = sorted(records, key=lambda s: (s.submitted_at, s.suffix))
    assert [d[0] for d in docs] == [s.suffix for s in want]
    for ids in _postings(files).values():
        assert ids == sorted(set(ids))
    manifest = _call(files["search/manifest.js"][1])[0]
    assert isinstance(manifest, dict) and manifest["format"] == search.FORMAT == 2


def test_a_new_newest_record_appends() -> None:
    records = _records(300)  # 3 document shards, the last one partly filled
    newest = summary(5000, arxiv_id="2612.99999", title="Quasar shared", submitted_at="2026-12-30T00:00:00Z")
    before, after = _build(records), _build([*records, newest])
    changed = {rel for rel in after if before.get(rel) != after[rel]}
    new_terms = search.doc_terms(row_of(newest))
    touched_leaves = {
        rel
        for rel, (_k, data) in after.items()
        if rel.startswith("search/t/") and new_terms & _leaf_terms(data)
    }
    last = f"search/d/{(len(records)) // search.DOCS_PER_SHARD}.js"
    assert changed == {last, "search/manifest.js", *touched_leaves}
    assert len(touched_leaves) <= len(new_terms)
    old, new = _postings(before), _postings(after)
    for term, ids in old.items():
        assert new[term][: len(ids)] == ids  # postings only grow at the end
        assert new[term][len(ids) :] in ([], [len(records)])
    assert _docs(after)[-1][0] == newest.suffix


def test_a_changed_record_changes_its_shard_and_its_terms_leaves() -> None:
    records = _records(300)
    i = 123
    changed_rec = replace(records[i], authors=records[i].authors + ", X. Mzanzibarian")
    before = _build(records)
    after = _build([*records[:i], changed_rec, *records[i + 1 :]])
    changed = {rel for rel in after if before.get(rel) != after[rel]}
    docs = _docs(after)
    n = next(k for k, d in enumerate(docs) if d[0] == changed_rec.suffix)
    assert f"search/d/{n // search.DOCS_PER_SHARD}.js" in changed
    assert {rel for rel in changed if rel.startswith("search/d/")} == {
        f"search/d/{n // search.DOCS_PER_SHARD}.js"
    }
    leaves = {rel for rel in changed if rel.startswith("search/t/")}
    assert leaves == {"search/t/m.js"}  # "mzanzibarian" only; no other term changed
    assert "search/manifest.js" not in changed


def test_keys_change_exactly_when_bytes_change() -> None:
    records = _records(400)
    variants = [
        records,
        [*records, summary(7000, title="word3 shared late", submitted_at="2030-01-01T00:00:00Z")],
        [replace(s, title=s.title + " extra") if k % 50 == 0 else s for k, s in enumerate(records)],
        records[1:],
    ]
    built = [_build(v) for v in variants]
    for a in built:
        for b in built:
            for rel in a.keys() & b.keys():
                if a[rel][0] is not None:
                    assert (a[rel][0] == b[rel][0]) == (a[rel][1] == b[rel][1]), rel


def _reference_leaves(terms: dict[str, int]) -> dict[str, list[str]]:
    """The split as a plain dict of lists: group by first character, split a group one character
    deeper while it is over LEAF_BYTES (below MAX_LEAF_DEPTH); a term equal to a split prefix
    is a leaf of its own."""

    def size(ts: Sequence[str]) -> int:
        return sum(len(t) + 4 + 3 * terms[t] for t in ts)

    groups: dict[str, list[str]] = defaultdict(list)
    for t in sorted(terms):
        groups[t[:1]].append(t)
    leaves: dict[str, list[str]] = {}
    work = sorted(groups.items())
    while work:
        prefix, ts = work.pop()
        depth = len(prefix)
        if (
            size(ts) <= search.LEAF_BYTES
            or depth >= search.MAX_LEAF_DEPTH
            or all(len(t) <= depth for t in ts)
        ):
            leaves[prefix] = ts
            continue
        children: dict[str, list[str]] = defaultdict(list)
        for t in ts:
            children[t[: depth + 1]].append(t)
        for child, cts in sorted(children.items()):
            if child == prefix:
                leaves[prefix] = cts
            else:
                work.append((child, cts))
    return leaves


# split twice; a term equal to a split prefix; prefixes ending in the last code point
@example(
    {
        "ab": 4000,
        "aba": 4000,
        "abb": 4000,
        "abbb": 4000,
        "abba": 4000,
        "\U0010ffff": 9000,
        "\U0010ffffa": 9000,
    }
)
@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="aab\u00e9\U0010ffff", min_size=1, max_size=9),
        st.integers(min_value=1, max_value=1500),
        min_size=1,
        max_size=60,
    )
)
def test_leaf_split_by_runs_matches_the_plain_split(terms: dict[str, int]) -> None:
    postings = search.Postings()
    for doc in range(max(terms.values())):
        postings.add_document(doc, " ".join(t for t, c in sorted(terms.items()) if doc < c))
    postings.finish()
    got = {prefix: postings.terms[lo:hi] for prefix, lo, hi in search._split_leaves(postings)}
    assert got == _reference_leaves(terms)
    assert sum(hi - lo for _p, lo, hi in search._split_leaves(postings)) == len(terms)
    assert sorted(got) == [p for p, _lo, _hi in search._split_leaves(postings)]
