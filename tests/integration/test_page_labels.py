"""What the pages say about each copy and each field (PROTOCOL.md §3 and §8).

A graph or events file the mirror derived from the record's own fields says so inside it and on
the record page, and never poses as a byte copy; one fetched from Pith's endpoint is a byte copy
and the page says that. Unsigned upstream data (authors, abstract, graph snapshot) is marked
unsigned where it is shown."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import html5lib
import pytest

from generator.build import run_build
from generator.cli import main
from generator.config import Config
from generator.synth import TestKey, dump_record, make_record
from tests.integration.pith_server import Tree, add_record, serve

DERIVED_TEXT = "not a byte copy of Pith's endpoint"
FETCHED_TEXT = "byte-for-byte copy of Pith's endpoint as fetched"

GRAPH = {"claims": {"count": 3}, "references": {"count": 5, "resolved_work": 2}, "builder_version": "x"}
EVENTS = [
    {"event_type": "record_created", "target": "record", "created_at": "2026-05-26T02:04:46Z"},
    {"event_type": "graph_snapshot", "target": "graph", "created_at": "2026-05-27T00:00:00Z"},
]


def labelled_record(key: TestKey) -> dict[str, Any]:
    return make_record(
        key,
        arxiv_id="2605.01234",
        title="A labelled paper",
        authors="Ada Lovelace, Alan Turing",
        abstract="An abstract that is carried, not signed.",
        extra={"graph_snapshot": GRAPH, "events": EVENTS, "event_summary": {"count": 2}},
    )


def text(el: Any) -> str:
    return " ".join("".join(el.itertext()).split())


def page(path: Path) -> Any:
    return html5lib.parse(path.read_bytes(), namespaceHTMLElements=False)


def spans(el: Any) -> list[str]:
    """The classes of the signed/unsigned badges inside ``el``, in order."""
    return [s.get("class") for s in el.iter("span") if s.get("class") in ("signed", "unsigned")]


def copies_items(doc: Any) -> dict[str, str]:
    """``graph.json`` -> the text of its item in the "Copies and originals" list."""
    section = next(s for s in doc.iter("section") if s.get("aria-labelledby") == "h-copies")
    ul = section.find("ul")
    return {li.find("a").text: text(li) for li in ul.findall("li")}


def assert_unsigned_sections(doc: Any) -> None:
    facts: dict[str, Any] = {}  # <dt> text -> its <dd>
    for dl in doc.iter("dl"):
        kids = list(dl)
        for dt, dd in zip(kids[::2], kids[1::2], strict=False):
            if dt.tag == "dt" and dd.tag == "dd":
                facts.setdefault(text(dt), dd)
    assert spans(facts["Authors"]) == ["unsigned"]
    assert "Ada Lovelace, Alan Turing" in text(facts["Authors"])
    for signed in ("arXiv", "Submitted", "Primary category"):
        assert spans(facts[signed]) == ["signed"], signed
    abstract = next(h for h in doc.iter("h3") if text(h).startswith("Abstract"))
    assert spans(abstract) == ["unsigned"]
    graph = next(h for h in doc.iter("h2") if h.get("id") == "h-graph")
    assert spans(graph) == ["unsigned"] and text(graph).startswith("Graph snapshot")


def test_local_record_derived_graph_and_events_are_labelled(
    tmp_path: Path, test_key: TestKey, keyring_file: Path
) -> None:
    rec = labelled_record(test_key)
    data = dump_record(rec)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "r.json").write_bytes(data)
    out = tmp_path / "site"
    run_build(Config(sources=(folder,), output=out, keyring_files=(keyring_file,), jobs=1), progress=False)
    suffix = rec["pith_number"].split(":")[2]

    derived = {
        kind: json.loads((out / f"api/pith-number/{suffix}/{kind}.json").read_bytes())
        for kind in ("graph", "events")
    }
    for kind, field in (("graph", "graph_snapshot"), ("events", "events")):
        doc = derived[kind]
        assert doc["pith_mirror_derived"] is True, kind
        assert "not a byte copy" in doc["note"] and field in doc["note"], kind
        assert doc["pith_number"] == rec["pith_number"]
        assert doc["canonical_sha256"] == rec["canonical_sha256"]
        assert doc["derived_from"] == {
            "path": f"/pith/{suffix}.json",
            "sha256": hashlib.sha256(data).hexdigest(),
            "field": field,
        }
    assert derived["graph"]["graph_snapshot"] == GRAPH
    assert derived["events"]["events"] == EVENTS
    assert derived["events"]["event_summary"] == {"count": 2}

    assert_copies_say(out, suffix, DERIVED_TEXT, FETCHED_TEXT)


def assert_copies_say(out: Path, suffix: str, said: str, not_said: str) -> None:
    """The record page's list of copies says ``said`` of graph.json and events.json, the page
    nowhere says ``not_said``, and its unsigned sections are marked."""
    record_page = out / f"pith/{suffix}/index.html"
    doc = page(record_page)
    items = copies_items(doc)
    for name in ("graph.json", "events.json"):
        assert said in items[name] and not_said not in items[name], items[name]
    assert not_said not in record_page.read_text()
    assert_unsigned_sections(doc)


@pytest.fixture
def fetched_site(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> tuple[Path, dict[str, Any], Tree]:
    rec = labelled_record(test_key)
    tree = Tree()
    add_record(tree, rec)
    store = tmp_path / "store"
    out = tmp_path / "site"
    with serve(tree) as server:
        args = ["--upstream", server.url, "--store", str(store), "--keyring", str(keyring_file)]
        assert main(["fetch", rec["pith_number"], *args, "-q", "--rate", "0"]) == 0
    assert main(["build", "--store", str(store), "-o", str(out), "--keyring", str(keyring_file), "-q"]) == 0
    return out, rec, tree


def test_fetched_graph_and_events_are_byte_copies_and_say_so(
    fetched_site: tuple[Path, dict[str, Any], Tree],
) -> None:
    out, rec, tree = fetched_site
    suffix = rec["pith_number"].split(":")[2]
    for kind in ("graph", "events"):
        path = f"api/pith-number/{suffix}/{kind}.json"
        body = (out / path).read_bytes()
        assert body == tree.files["/" + path]
        assert b"pith_mirror_derived" not in body
    assert_copies_say(out, suffix, FETCHED_TEXT, DERIVED_TEXT)
