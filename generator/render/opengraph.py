"""The open graph on a record's page and in the output tree.

Byte copies of every fetched document that is published (see ``verify.outcome``: a document that
is not strict JSON or claims to be another record is not), at Pith's paths:

    /pith/{SUFFIX}/bundle.json  and  /.well-known/pith/{SUFFIX}/bundle.json
    /pith/{SUFFIX}/state.json
    /pith/{arxiv_id}/integrity.json

and a view for ``templates/_opengraph.html``: every string from a document passes ``clean_text``
(then autoescape), every URL ``safe_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from generator import paths
from generator.keyring import Keyring
from generator.merge import MERGE_NOTE
from generator.render.filters import clean_text, safe_url
from generator.verify.events import EVENT_ID_RULE, SCHEME_UNKNOWN
from generator.verify.integrity import BINDING_RULE_NOTE, IntegrityResult
from generator.verify.opengraph import OpenGraph, verify_open_graph
from generator.verify.outcome import (
    CARRIED,
    DOC_FAILED,
    DOC_REFUSED,
    DOC_VERIFIED,
    FAILED,
    NOT_CHECKED,
    VERIFIED,
    WARNING,
    DocResult,
)

if TYPE_CHECKING:
    from generator.verify.record import VerifiedRecord

MAX_EVENTS_SHOWN = 500
MAX_FINDINGS_SHOWN = 500

# status -> (css class of .check, words a reader sees)
EVENT_WORDS = {
    VERIFIED: ("verified", "signed and verified"),
    SCHEME_UNKNOWN: ("not-checked", "claims a pinned key; signature scheme unknown"),
    CARRIED: ("carried", "carried, not independently verified"),
    FAILED: ("failed", "failed"),
}
CHECK_WORDS = {
    VERIFIED: ("verified", "verified"),
    CARRIED: ("carried", "carried"),
    NOT_CHECKED: ("not-checked", "not checked"),
    WARNING: ("warning", "warning"),
    FAILED: ("failed", "failed"),
}
DOC_WORDS = {
    DOC_VERIFIED: ("verified", "every check with a published rule passed"),
    DOC_FAILED: ("failed", "published as fetched, but checks failed (below)"),
    DOC_REFUSED: ("failed", "not published: not strict JSON or about another record"),
}


def _checks(result: DocResult) -> list[dict[str, Any]]:
    return [
        {
            "name": clean_text(c.name, 200),
            "css": CHECK_WORDS[c.status][0],
            "word": CHECK_WORDS[c.status][1],
            "detail": clean_text(c.detail, 600),
            "code": c.code,
        }
        for c in result.checks
    ]


def _document(result: DocResult, dests: list[str]) -> dict[str, Any]:
    css, word = DOC_WORDS[result.status]
    return {
        "kind": result.kind,
        "css": css,
        "word": word,
        "codes": list(result.codes),
        "paths": dests if result.publish else [],
        "checks": _checks(result),
    }


def _text(value: Any, limit: int = 300) -> str:
    return clean_text(value, limit) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _integrity_view(res: IntegrityResult) -> dict[str, Any]:
    doc = res.doc or {}
    summary_src = doc.get("integrity") if isinstance(doc.get("integrity"), dict) else {}
    assert isinstance(summary_src, dict)
    counts_src = summary_src.get("summary") if isinstance(summary_src.get("summary"), dict) else {}
    assert isinstance(counts_src, dict)
    clean = summary_src.get("clean")
    detectors = []
    for d in _list(summary_src.get("detectors_run")):
        if isinstance(d, dict):
            detectors.append(
                {k: _text(d.get(k), 120) for k in ("name", "version", "status", "ran_at", "findings_count")}
            )
    signed, failed, carried = [], [], []
    matched: set[tuple[str, str, str]] = set()
    for e in res.events:
        if e.status == VERIFIED and e.payload is not None:
            p = e.payload
            matched.add((_text(p.get("detector")), _text(p.get("finding_type")), _text(p.get("note"), 2000)))
            signed.append(
                {
                    "event_id": _text(e.event_id, 80),
                    "severity": _text(p.get("severity"), 40),
                    "detector": _text(p.get("detector"), 120),
                    "finding_type": _text(p.get("finding_type"), 120),
                    "note": _text(p.get("note"), 2000),
                    "audited_at": _text(p.get("audited_at"), 60),
                    "created_at": _text(e.created_at, 60),
                    "external_url": safe_url(p.get("external_url")),
                    "external_text": _text(p.get("external_url"), 300),
                    "key_id": _text(e.key_id, 80),
                    "bound": bool(e.bound),
                }
            )
        elif e.status == FAILED:
            failed.append(
                {"event_id": _text(e.event_id, 80), "detail": clean_text(e.detail, 400), "code": e.code}
            )
        else:
            carried.append({"event_id": _text(e.event_id, 80), "detail": clean_text(e.detail, 400)})
    unsigned = []
    for f in _list(summary_src.get("findings")):
        if not isinstance(f, dict):
            continue
        key = (_text(f.get("detector")), _text(f.get("finding_type")), _text(f.get("note"), 2000))
        if key in matched:
            continue
        unsigned.append(
            {
                "severity": _text(f.get("severity"), 40),
                "detector": key[0],
                "finding_type": key[1],
                "note": key[2],
                "audited_at": _text(f.get("audited_at"), 60),
            }
        )
    return {
        "clean": clean if isinstance(clean, bool) else None,
        "counts": {k: _text(counts_src.get(k), 20) for k in ("critical", "advisory", "informational")},
        "detectors": detectors[:100],
        "signed": signed[:MAX_FINDINGS_SHOWN],
        "failed": failed[:MAX_FINDINGS_SHOWN],
        "carried": carried[:MAX_FINDINGS_SHOWN],
        "unsigned": unsigned[:MAX_FINDINGS_SHOWN],
        "binding_note": BINDING_RULE_NOTE,
        "checks": _checks(res.result),
    }


def open_graph_view(
    rec: VerifiedRecord, og: OpenGraph
) -> tuple[list[tuple[str, bytes]], dict[str, tuple[str, bool]], dict[str, Any]]:
    """(files to publish, copies for the page's list, the template view) for one record."""
    files: list[tuple[str, bytes]] = []
    copies: dict[str, tuple[str, bool]] = {}
    documents: list[dict[str, Any]] = []
    if og.bundle is not None:
        dests = [paths.bundle_json(rec.suffix), paths.well_known_bundle_json(rec.suffix)]
        documents.append(_document(og.bundle.result, dests))
        if og.bundle.result.publish:
            data = rec.endpoint("bundle")
            assert data is not None
            files += [(d, data) for d in dests]
            copies["bundle"] = (dests[0], False)
    if og.state is not None:
        dest = paths.state_json(rec.suffix)
        documents.append(_document(og.state, [dest]))
        if og.state.publish:
            data = rec.endpoint("state")
            assert data is not None
            files.append((dest, data))
            copies["state"] = (dest, False)
    if og.integrity is not None:
        dest = paths.integrity_json(rec.arxiv_id)
        documents.append(_document(og.integrity.result, [dest]))
        if og.integrity.result.publish:
            data = rec.endpoint("integrity")
            assert data is not None
            files.append((dest, data))
            copies["integrity"] = (dest, False)

    events = []
    if og.bundle is not None:
        for e in og.bundle.events[:MAX_EVENTS_SHOWN]:
            css, word = EVENT_WORDS[e.status]
            events.append(
                {
                    "identity": clean_text(e.identity, 90),
                    "type": _text(e.event_type, 80),
                    "target": _text(e.target, 80),
                    "time": _text(e.created_at, 60),
                    "signer": _text(e.signer, 120),
                    "css": css,
                    "word": word,
                    "detail": clean_text(e.detail, 600),
                    "code": e.code,
                }
            )
    view = None
    if og.bundle is not None and og.bundle.view is not None:
        v = og.bundle.view
        times = {m.identity: m.created_at for m in v.events}
        view = {
            "note": MERGE_NOTE,
            "rule": v.rule,
            "event_count": v.event_count,
            "duplicates": len(v.duplicates),
            "conflicts": len(v.conflicts),
            "current": [
                {"target": _text(t, 80), "identity": clean_text(i, 90), "time": _text(times.get(i), 60)}
                for t, i in v.current[:50]
            ],
        }
    tally = {"verified": 0, "carried": 0, "failed": 0}
    statuses = [e.status for e in og.bundle.events] if og.bundle is not None else []
    statuses += [e.status for e in og.integrity.events] if og.integrity is not None else []
    for status in statuses:
        tally["verified" if status == VERIFIED else "failed" if status == FAILED else "carried"] += 1
    return (
        files,
        copies,
        {
            "tally": tally,
            "documents": documents,
            "events": events,
            "events_more": (len(og.bundle.events) - len(events)) if og.bundle is not None else 0,
            "event_id_rule": EVENT_ID_RULE,
            "view": view,
            "bundle": _checks(og.bundle.result) if og.bundle is not None else None,
            "state": _checks(og.state) if og.state is not None else None,
            "integrity": _integrity_view(og.integrity) if og.integrity is not None else None,
        },
    )


def render_open_graph(
    rec: VerifiedRecord, keyring: Keyring
) -> tuple[list[tuple[str, bytes]], dict[str, tuple[str, bool]], dict[str, Any], OpenGraph]:
    og = verify_open_graph(rec, keyring)
    files, copies, view = open_graph_view(rec, og)
    return files, copies, view, og
