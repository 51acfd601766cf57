"""Hostile text in every unsigned field (and in the signed title) comes out inert."""

from __future__ import annotations

from pathlib import Path

from generator.cli import main
from generator.synth import TestKey, make_record
from tests.conftest import WriteRecords
from tests.htmlcheck import assert_inert, parse_strict

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "javascript:alert(3)",
    "JaVaScRiPt:alert(4)",
    "java\tscript:alert(5)",
    "data:text/html,<script>alert(6)</script>",
    "\u202eevil\u202c \u2066x\u2069 zero\u200bwidth",
    "' onmouseover='alert(7)",
    "{{ 7*7 }} {% raw %}",
    "A" * 100_000,
]


def hostile_record(key: TestKey, n: int, payload: str) -> dict[str, object]:
    rec = make_record(
        key,
        arxiv_id=f"2601.{n:05d}",
        title=f"Title {payload}",
        authors=payload,
        abstract=payload,
        extra={
            "links": {
                "html": payload,
                "json": "javascript:alert(1)",
                "paper": "JaVaScRiPt:x",
                "graph_json": "data:text/html,x",
                "events_json": " https://ok.example/",
            },
            "graph_snapshot": {
                "builder_version": payload,
                "claims": {"count": payload},
                "integrity": {"clean": payload, "summary": {"critical": payload}},
            },
            "inbound_citations": {"count": payload},
            "events": [{"event_type": payload, "payload": {"x": payload}}],
        },
    )
    paper = rec["paper"]
    assert isinstance(paper, dict)
    paper["headline"] = payload
    receipt = rec["receipt"]
    assert isinstance(receipt, dict)
    receipt["builder_version"] = payload
    aliases = rec["aliases"]
    assert isinstance(aliases, list)
    aliases.append({"alias_kind": payload, "alias_value": payload, "created_at": payload})
    return rec


def test_hostile_text_is_inert(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, write_records: WriteRecords
) -> None:
    src = write_records([hostile_record(test_key, i, p) for i, p in enumerate(PAYLOADS)])
    out = tmp_path / "site"
    assert main(["build", str(src), "-o", str(out), "--keyring", str(keyring_file), "-q"]) == 0
    pages = sorted(out.rglob("*.html"))
    record_pages = [p for p in pages if p.parent.parent.name == "pith" and len(p.parent.name) == 26]
    assert len(record_pages) == len(PAYLOADS)
    for page in pages:
        parse_strict(page.read_bytes(), str(page))
        assert_inert(page)
        text = page.read_text()
        assert "<script>alert" not in text
    # the payload is still shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in "".join(p.read_text() for p in record_pages)
