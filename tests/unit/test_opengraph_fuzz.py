"""Fuzz: any mutation of a bundle, state or integrity document ends in a result, never a crash."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.config import Config
from generator.errors import CODES
from generator.keyring import PITH_KEY, Keyring, PinnedKey
from generator.render.site import Renderer
from generator.sources import RawRecord
from generator.synth import TestKey as SigningKey
from generator.synth import (
    dump_doc,
    dump_record,
    make_bundle,
    make_finding,
    make_integrity,
    make_record,
    make_state,
)
from generator.verify import verify_record
from generator.verify.outcome import DOC_FAILED, DOC_REFUSED, DOC_VERIFIED

KEY = SigningKey.from_seed(b"pith-mirror tests", "test-key-1")
KEYRING = Keyring([PITH_KEY, PinnedKey(KEY.key_id, KEY.public_bytes)])
RECORD = make_record(KEY, arxiv_id="2604.00008", title="Fuzz")
BUNDLE = make_bundle(KEY, RECORD, graph_snapshots=2)
STATE = make_state(BUNDLE)
INTEGRITY = make_integrity(
    KEY, "2604.00008", [make_finding("2604.00008"), make_finding("2604.00008", ref_index=3)]
)
RENDERER = Renderer(Config(), KEYRING)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "2026-05-18T01:16:39Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "pith-v1-2026-05",
            "test-key-1",
            KEY.fingerprint,
            "record_created",
            "graph",
            "pith.integrity.v1",
            "2604.00008",
            "0" * 64,
            "AAAA",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _mutate(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4))):
        parent: Any = None
        key: Any = None
        node = doc
        while isinstance(node, dict | list) and node and data.draw(st.booleans()):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, data.draw(st.sampled_from(keys))
            node = node[key]
        if parent is None:
            continue
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[key]
        elif isinstance(parent, list) and data.draw(st.booleans()):
            parent.append(copy.deepcopy(parent[key]))  # a duplicate
        else:
            parent[key] = data.draw(json_values)
    return doc


def _run(data: st.DataObject) -> None:
    docs = {"bundle": BUNDLE, "state": STATE, "integrity": INTEGRITY}
    endpoints = []
    for kind, doc in docs.items():
        if data.draw(st.booleans()):
            doc = _mutate(doc, data)
        endpoints.append((kind, dump_doc(doc) if data.draw(st.integers(0, 9)) else dump_doc(doc)[:-1]))
    rec = verify_record(RawRecord(dump_record(RECORD), "fuzz", endpoints=tuple(endpoints)), KEYRING)
    files, summary = RENDERER.render_record(rec)
    assert len(summary.open_graph) == 3
    for kind, status, codes in summary.open_graph:
        assert status in (DOC_VERIFIED, DOC_FAILED, DOC_REFUSED)
        assert all(c in CODES for c in codes)
        assert (status == DOC_VERIFIED) == (codes == ())
        published = {f.dest_path for f in files}
        wanted = {"bundle": f"pith/{rec.suffix}/bundle.json", "state": f"pith/{rec.suffix}/state.json"}.get(
            kind, "pith/2604.00008/integrity.json"
        )
        assert (wanted in published) == (status != DOC_REFUSED)
    page = next(f.data for f in files if f.dest_path == f"pith/{rec.suffix}/index.html")
    assert b'id="h-og"' in page


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_mutation_gives_a_result(data: st.DataObject) -> None:
    _run(data)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_mutation_gives_a_result_long(data: st.DataObject) -> None:
    _run(data)


def test_unmutated_documents_verify() -> None:
    endpoints = (("bundle", dump_doc(BUNDLE)), ("state", dump_doc(STATE)), ("integrity", dump_doc(INTEGRITY)))
    rec = verify_record(RawRecord(dump_record(RECORD), "fuzz", endpoints=endpoints), KEYRING)
    _files, summary = RENDERER.render_record(rec)
    assert [s for _k, s, _c in summary.open_graph] == [DOC_VERIFIED] * 3
    assert json.loads(dump_doc(BUNDLE)) == BUNDLE
