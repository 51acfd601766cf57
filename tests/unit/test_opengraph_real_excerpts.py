"""The heads of real bundle.json / state.json documents agree with the rules the mirror checks."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from generator.identifiers import derived_aliases, pith_number, suffix_from_hash
from generator.keyring import PITH_KEY
from generator.strictjson import canonical_json
from generator.verify.bundle import BUNDLE_TYPE
from generator.verify.state import STATE_TYPE
from tests.conftest import FIXTURES


def _value_after(text: str, key: str, start: int = 0) -> Any:
    """The complete JSON value after the first ``"key":`` at or after ``start``."""
    at = text.index(f'"{key}":', start) + len(key) + 3
    value, _end = json.JSONDecoder().raw_decode(text, at)
    return value


def _aliases_derive(aliases: list[dict[str, Any]], suffix: str, arxiv_id: str, version: int) -> None:
    derived = derived_aliases(suffix, arxiv_id, version)
    assert {a["alias_kind"]: a["alias_value"] for a in aliases} == derived


def test_real_bundle_head() -> None:
    text = (FIXTURES / "excerpts" / "bundle.WKI4NW2L.head.txt").read_text()
    assert _value_after(text, "bundle_type") == BUNDLE_TYPE
    canonical = _value_after(text, "canonical_record")
    h = hashlib.sha256(canonical_json(canonical)).hexdigest()
    assert h == _value_after(text, "canonical_sha256")
    suffix = suffix_from_hash(h)
    assert _value_after(text, "pith_number") == pith_number(canonical["metadata"]["submitted_at"][:4], suffix)
    _aliases_derive(_value_after(text, "source_aliases"), suffix, "1604.01463", 1)
    # the record_created event carries the same record and hash
    events_at = text.index('"events":[')
    assert _value_after(text, "event_type", events_at) == "record_created"
    assert canonical_json(_value_after(text, "canonical_record", events_at)) == canonical_json(canonical)
    assert _value_after(text, "canonical_sha256", events_at) == h


@pytest.mark.parametrize("name", ["state.SCOG7NB4.head.txt", "state.Z6N6BOCX.head.txt"])
def test_real_state_head(name: str) -> None:
    text = (FIXTURES / "excerpts" / name).read_text()
    assert _value_after(text, "state_type") == STATE_TYPE
    current = text.index('"current":')
    canonical = _value_after(text, "canonical_record", current)
    suffix = suffix_from_hash(hashlib.sha256(canonical_json(canonical)).hexdigest())
    assert _value_after(text, "pith_number") == pith_number(canonical["metadata"]["submitted_at"][:4], suffix)
    source = canonical["source"]
    _aliases_derive(_value_after(text, "source_aliases", current), suffix, source["id"], source["version"])
    assert _value_after(text, "event_count") == _value_after(text, "valid_event_count") + _value_after(
        text, "invalid_event_count"
    )
    snapshots = text.index('"graph_snapshots":')
    signer = _value_after(text, "signer", snapshots)
    assert signer["public_key_fingerprint"] == PITH_KEY.fingerprint_hex
    assert signer["key_id"] == PITH_KEY.key_id
