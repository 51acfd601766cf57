"""Property: whatever text the open-graph documents carry, the record page has no active content."""

from __future__ import annotations

import copy
import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.config import Config
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
    sign_integrity_event,
)
from generator.verify import verify_record
from tests.htmlcheck import assert_inert, parse_strict

KEY = SigningKey.from_seed(b"pith-mirror tests", "test-key-1")
KEYRING = Keyring([PITH_KEY, PinnedKey(KEY.key_id, KEY.public_bytes)])
RECORD = make_record(KEY, arxiv_id="2604.00006", title="Property")
BUNDLE = make_bundle(KEY, RECORD)
RENDERER = Renderer(Config(), KEYRING)

FRAGMENTS = [
    "<script>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    '"',
    "'",
    "javascript:",
    "JaVaScRiPt:alert(1)",
    "java\tscript:",
    "data:text/html,",
    "https://ok.example/",
    "\u202e",
    "\u200b",
    "{{",
    "{%",
    "&amp;",
    "<!--",
    " onmouseover=",
    "<a href=",
    ">",
]
hostile = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=6).map("".join)


def _page(strings: list[str]) -> bytes:
    s = itertools.cycle(strings)
    bundle = copy.deepcopy(BUNDLE)
    event = copy.deepcopy(bundle["events"][1])
    event.update(event_type=next(s), target=next(s), created_at=next(s), event_id=next(s))
    event["signer"] = {"signer_id": next(s), "key_id": next(s)}
    bundle["events"].append(event)
    finding = make_finding(
        "2604.00006", note=next(s), detector=next(s), finding_type=next(s), severity=next(s)
    )
    finding["external_url"] = next(s)
    integrity = make_integrity(KEY, "2604.00006", [finding])
    integrity["events"].append(
        dict(sign_integrity_event(KEY, finding, 2), event_id=next(s), signature_b64="AA==")
    )
    integrity["integrity"]["findings"].append({"note": next(s), "detector": next(s)})
    state = make_state(bundle)
    state["merge_version"] = next(s)
    raw = RawRecord(
        dump_record(RECORD),
        "property",
        endpoints=(
            ("bundle", dump_doc(bundle)),
            ("state", dump_doc(state)),
            ("integrity", dump_doc(integrity)),
        ),
    )
    files, _summary = RENDERER.render_record(verify_record(raw, KEYRING))
    [page] = [
        f.data
        for f in files
        if f.dest_path.endswith("/index.html")
        and f.dest_path.startswith("pith/")
        and len(f.dest_path) == len("pith/") + 26 + len("/index.html")
    ]
    return page


def _check(strings: list[str]) -> None:
    page = _page(strings)
    parse_strict(page, "record page")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.html"
        path.write_bytes(page)
        assert_inert(path)


@settings(max_examples=25, deadline=None)
@given(st.lists(hostile, min_size=1, max_size=8))
def test_open_graph_text_is_inert(strings: list[str]) -> None:
    _check(strings)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(st.lists(hostile, min_size=1, max_size=8))
def test_open_graph_text_is_inert_long(strings: list[str]) -> None:
    _check(strings)


def test_page_is_deterministic_and_own_data_only() -> None:
    a = _page(["x"])
    b = _page(["x"])
    assert a == b
    other: dict[str, Any] = make_record(KEY, arxiv_id="2604.00007", title="Other")
    assert other["canonical_sha256"].encode() not in a
