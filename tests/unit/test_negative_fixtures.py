"""Every named negative fixture fails with its own typed error code (tests/fixtures/negative)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.errors import CODES, JsonError, RecordError, VerificationError
from generator.keyring import load_keyring
from generator.sources import RawRecord
from generator.verify import verify_record

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "negative"
CASES: dict[str, dict[str, str]] = json.loads((HERE / "cases.json").read_text())
KEYRING = load_keyring([HERE / "keyring.json"])
JSON_CODES = {
    "invalid_utf8",
    "bom",
    "invalid_json",
    "duplicate_key",
    "non_finite_number",
    "number_too_large",
    "float_in_canonical",
    "lone_surrogate",
    "too_deep",
    "too_large",
    "not_an_object",
}


def test_there_are_many_named_cases() -> None:
    assert len(CASES) >= 60
    assert {c["code"] for c in CASES.values()} <= set(CODES)


def test_the_untampered_base_record_verifies() -> None:
    rec = verify_record(RawRecord((HERE / "valid.json.txt").read_bytes(), "valid"), KEYRING)
    assert rec.key.key_id == "negative-test-key"


@pytest.mark.parametrize("name", sorted(CASES))
def test_negative_fixture(name: str) -> None:
    expected = CASES[name]["code"]
    path = HERE / f"{name}.json"
    with pytest.raises(RecordError) as info:
        verify_record(RawRecord(path.read_bytes(), str(path)), KEYRING)
    err = info.value
    assert err.code == expected, f"{name}: {err}"
    assert isinstance(err, JsonError if expected in JSON_CODES else VerificationError)
    assert str(path) in str(err)  # the message names the input


def test_oversized_record_is_too_large() -> None:
    data = (HERE / "valid.json.txt").read_bytes()
    with pytest.raises(JsonError) as info:
        verify_record(RawRecord(data, "big"), KEYRING, max_bytes=len(data) - 1)
    assert info.value.code == "too_large"


def test_fixtures_do_not_verify_with_pith_key_only() -> None:
    """The fixtures are signed by a test key: the default keyring must not trust them."""
    from generator.keyring import Keyring

    with pytest.raises(VerificationError) as info:
        verify_record(RawRecord((HERE / "valid.json.txt").read_bytes(), "valid"), Keyring.default())
    assert info.value.code == "unknown_key"
