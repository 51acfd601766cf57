from __future__ import annotations

import copy
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.errors import ConfigError, RecordError, VerificationError
from generator.identifiers import suffix_from_hash, title_canon_sha256
from generator.keyring import PITH_KEY, Keyring, load_keyring
from generator.sources import RawRecord
from generator.strictjson import canonical_json, loads_strict
from generator.synth import TestKey, dump_record, make_record
from generator.verify import verify_record
from tests.conftest import RECORDS, UNSIGNED

MIRRORS = Path(__file__).resolve().parent.parent / "fixtures" / "pith-mirrors.json"


@pytest.mark.parametrize("path", sorted(RECORDS.glob("*.json")), ids=lambda p: p.stem[:8])
def test_real_records_verify_with_pith_key(path: Path) -> None:
    rec = verify_record(RawRecord(path.read_bytes(), str(path)), Keyring.default())
    assert rec.suffix == path.stem
    assert rec.key.key_id == "pith-v1-2026-05"
    assert rec.raw == path.read_bytes()
    assert {c.name for c in rec.checks} >= {"canonical_sha256", "receipt", "title", "aliases"}


@pytest.mark.parametrize("path", sorted(UNSIGNED.glob("*.json")), ids=lambda p: p.stem[:8])
def test_real_unsigned_records_are_refused(path: Path) -> None:
    with pytest.raises(VerificationError) as info:
        verify_record(RawRecord(path.read_bytes(), str(path)), Keyring.default())
    assert info.value.code == "no_receipt"
    assert path.stem in str(info.value)


def test_builtin_key_matches_published_manifest() -> None:
    manifest = json.loads(MIRRORS.read_bytes())
    key = manifest["mirrors"][0]["public_key"]
    assert PITH_KEY.public_key_hex == key["public_key_hex"]
    assert PITH_KEY.fingerprint_hex == key["fingerprint_sha256_hex"]
    assert PITH_KEY.fingerprint_b32 == key["fingerprint_sha256_b32_first128bits"]
    assert PITH_KEY.key_id == key["key_id"]


def test_seed_identifiers_derive() -> None:
    h = "ff67f3f83552efabfd4fc08d1c729200851a441688b80aa5cd932bb6e8a70dbc"
    assert suffix_from_hash(h) == "75T7H6BVKLX2X7KPYCGRY4USAC"
    title = "Towards the Connection between Activation Sparsity and Flat Minima"
    assert title_canon_sha256(title) == "8e540298417cbebf33070bdd0f44dbec78357ad63138bfada1770212da995b12"


def _title_rule(title: str) -> str:
    """The published title rule, spelled as PROTOCOL.md gives it."""
    return hashlib.sha256(re.sub(r"\s+", " ", title.lower()).strip().encode("utf-8")).hexdigest()


def test_title_hash_collapses_every_whitespace_code_point() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(c))]
    assert len(spaces) > 20  # tabs, line ends, the separators, NBSP, the U+2000 block...
    for space in spaces:
        title = f"{space}A{space * 2}Title{space}"
        assert title_canon_sha256(title) == _title_rule(title) == title_canon_sha256("a title"), repr(space)
    assert title_canon_sha256("a\u200bb") == _title_rule("a\u200bb")  # not whitespace: kept


@settings(max_examples=500, deadline=None)
@given(
    title=st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(" \t\n\x1c\x85\xa0\u2028\u3000"))
)
def test_title_hash_is_the_published_rule(title: str) -> None:
    assert title_canon_sha256(title) == _title_rule(title)


@pytest.mark.parametrize(
    ("place", "path"),
    [
        (lambda c: c["source"].__setitem__("version", 1.0), "canonical_record.source.version"),
        (
            lambda c: c["metadata"].__setitem__("cross_cats_sorted", ["cs.AI", 2.5]),
            "canonical_record.metadata.cross_cats_sorted[1]",
        ),
    ],
)
def test_a_float_in_the_canonical_record_is_named_by_its_path(place: Any, path: str) -> None:
    from generator.verify.record import check_canonical_shape

    canonical = copy.deepcopy(
        json.loads((RECORDS / sorted(p.name for p in RECORDS.glob("*.json"))[0]).read_bytes())[
            "canonical_record"
        ]
    )
    place(canonical)
    with pytest.raises(RecordError) as caught:
        check_canonical_shape(canonical, "rec.json")
    assert caught.value.code == "float_in_canonical"
    assert f"float at {path}:" in str(caught.value)


def test_key_id_is_only_a_hint(test_key: TestKey, keyring_file: Path) -> None:
    rec = make_record(test_key)
    rec["receipt"]["key_id"] = "pith-v1-2026-05"  # lies; the fingerprint decides
    out = verify_record(RawRecord(dump_record(rec), "x"), load_keyring([keyring_file]))
    assert out.key.fingerprint_hex == test_key.fingerprint


def _ring(tmp_path: Path, key: TestKey, **window: str | None) -> Keyring:
    path = tmp_path / "ring.json"
    path.write_bytes(key.keyring_json(**window))
    return load_keyring([path])


def test_key_validity_window(tmp_path: Path, test_key: TestKey) -> None:
    data = dump_record(make_record(test_key, signed_at="2026-05-26T02:04:46Z"))
    ok = _ring(tmp_path, test_key, not_before="2026-05-01T00:00:00Z", not_after="2026-06-01T00:00:00Z")
    assert verify_record(RawRecord(data, "x"), ok).key.not_after is not None
    for window in ({"not_before": "2026-06-01T00:00:00Z"}, {"not_after": "2026-05-01T00:00:00Z"}):
        with pytest.raises(VerificationError) as info:
            verify_record(RawRecord(data, "x"), _ring(tmp_path, test_key, **window))
        assert info.value.code == "key_not_valid"


def test_rotation_two_keys(tmp_path: Path, test_key: TestKey) -> None:
    new_key = TestKey.from_seed(b"rotated", "test-key-2")
    path = tmp_path / "ring.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    {
                        "key_id": test_key.key_id,
                        "public_key_hex": test_key.public_bytes.hex(),
                        "not_after": "2026-03-01T00:00:00Z",
                    },
                    {
                        "key_id": new_key.key_id,
                        "public_key_hex": new_key.public_bytes.hex(),
                        "not_before": "2026-03-01T00:00:00Z",
                    },
                ]
            }
        )
    )
    ring = load_keyring([path])
    old = make_record(test_key, signed_at="2026-02-01T00:00:00Z")
    new = make_record(new_key, signed_at="2026-04-01T00:00:00Z")
    assert verify_record(RawRecord(dump_record(old), "old"), ring).key.key_id == "test-key-1"
    assert verify_record(RawRecord(dump_record(new), "new"), ring).key.key_id == "test-key-2"
    late = make_record(test_key, signed_at="2026-04-01T00:00:00Z")  # retired key used after rotation
    with pytest.raises(VerificationError) as info:
        verify_record(RawRecord(dump_record(late), "late"), ring)
    assert info.value.code == "key_not_valid"


def test_bad_keyring_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    {"key_id": "", "public_key_hex": "00"},
                    {"key_id": "k2", "public_key_hex": "11" * 32, "not_before": "yesterday"},
                    "nonsense",
                ]
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        load_keyring([path])
    assert len(info.value.problems) == 4


def test_receipt_without_time_and_windowed_key_fails_closed(tmp_path: Path, test_key: TestKey) -> None:
    rec = make_record(test_key)
    del rec["receipt"]["signed_at"]
    ring = _ring(tmp_path, test_key, not_before="2020-01-01T00:00:00Z")
    with pytest.raises(VerificationError) as info:
        verify_record(RawRecord(dump_record(rec), "x"), ring)
    assert info.value.code == "key_not_valid"


def test_unsigned_field_disagreeing_with_signed_is_a_warning(test_key: TestKey, keyring_file: Path) -> None:
    rec = make_record(test_key)
    rec["paper"]["primary_cat"] = "hep-th"
    out = verify_record(RawRecord(dump_record(rec), "x"), load_keyring([keyring_file]))
    assert ("paper.primary_cat", "warning") in {(c.name, c.status) for c in out.checks}


# -- properties ---------------------------------------------------------------------------------
_CANON_PATHS = [
    ("source", "id"),
    ("source", "version"),
    ("metadata", "license"),
    ("metadata", "primary_cat"),
    ("metadata", "submitted_at"),
    ("metadata", "cross_cats_sorted"),
    ("metadata", "title_canon_sha256"),
    ("metadata", "abstract_canon_sha256"),
    ("schema_version",),
]
_VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**40), 2**40),
    st.lists(st.text(max_size=8), max_size=3),
    st.booleans(),
    st.none(),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(_CANON_PATHS), value=_VALUES)
def test_any_change_to_a_canonical_field_is_caught(
    where: tuple[str, ...], value: Any, test_key: TestKey, keyring_file: Path
) -> None:
    rec = make_record(test_key, cross_cats=["cs.AI"])
    target: dict[str, Any] = rec["canonical_record"]
    for part in where[:-1]:
        target = target[part]
    if target[where[-1]] == value:
        return
    target[where[-1]] = value
    with pytest.raises(RecordError):
        verify_record(RawRecord(dump_record(rec), "x"), load_keyring([keyring_file]))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=1000, deadline=None)
@given(value=_JSON)
def test_canonical_json_is_a_fixed_point(value: Any) -> None:
    """Parsing canonical bytes strictly and re-canonicalising gives the same bytes."""
    data = canonical_json(value)
    assert canonical_json(loads_strict(data, "prop")) == data


def test_copy_is_not_shared() -> None:
    """Two verifications of the same input share no mutable state with each other or with the
    input: changing one result's parsed document leaves the other, and the input, as they were."""
    seed = sorted(RECORDS.glob("*.json"))[0].read_bytes()
    raw = RawRecord(seed, "a")
    a = verify_record(raw, Keyring.default())
    b = verify_record(raw, Keyring.default())
    pristine = copy.deepcopy(b.doc)
    assert a.doc == pristine and a.doc is not b.doc
    a.doc["paper"]["title"] = "changed"
    a.doc["aliases"].append({"alias_kind": "x"})
    a.canonical["metadata"]["primary_cat"] = "changed"
    a.canonical["metadata"]["cross_cats_sorted"].append("changed")
    a.doc["receipt"]["signature_b64"] = "changed"
    assert b.doc == pristine
    assert b.canonical == pristine["canonical_record"] and b.canonical is b.doc["canonical_record"]
    assert raw.data == seed and a.raw == seed and b.raw == seed
    # a third verification of the same input is unaffected too
    assert verify_record(raw, Keyring.default()).doc == pristine


def test_receipt_without_fingerprint_is_matched_by_signature(test_key: TestKey, keyring_file: Path) -> None:
    rec = make_record(test_key)
    del rec["receipt"]["public_key_fingerprint"]
    out = verify_record(RawRecord(dump_record(rec), "x"), load_keyring([keyring_file]))
    assert out.key.fingerprint_hex == test_key.fingerprint
