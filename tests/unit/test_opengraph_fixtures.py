"""Every named open-graph fixture (tests/fixtures/opengraph) ends in its documented status and codes."""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict

import pytest

from generator.errors import CODES
from generator.keyring import load_keyring
from generator.sources import RawRecord
from generator.verify import verify_record
from generator.verify.bundle import verify_bundle
from generator.verify.integrity import verify_integrity
from generator.verify.outcome import DocResult
from generator.verify.state import verify_state
from tests.opengraph_cases import HERE, build


class Case(TypedDict):
    """One entry of cases.json: what verifying the fixture of that name must give."""

    codes: list[str]
    document: str
    status: str
    keyring: NotRequired[str]  # a keyring file beside the fixtures, in place of keyring.json


CASES: dict[str, Case] = json.loads((HERE / "cases.json").read_text())
KEYRING = load_keyring([HERE / "keyring.json"])
REC = verify_record(RawRecord((HERE / "record.json").read_bytes(), "record.json"), KEYRING)
BUNDLE = verify_bundle((HERE / "bundle-for-state.json").read_bytes(), REC, KEYRING)


def test_fixtures_are_what_the_builder_makes() -> None:
    """The committed bytes are reproducible (signatures are deterministic): no silent drift."""
    for rel, data in build().items():
        assert (HERE / rel).read_bytes() == data, rel


def test_every_failure_code_has_a_fixture() -> None:
    covered = {c for case in CASES.values() for c in case["codes"]}
    og_codes = {c for c in CODES if c.split("_")[0] in ("bundle", "state", "integrity")}
    assert og_codes - covered == set()
    assert len(CASES) >= 50


def _check(name: str) -> DocResult:
    data = (HERE / f"{name}.json").read_bytes()
    document = CASES[name]["document"]
    if document == "bundle":
        return verify_bundle(data, REC, KEYRING).result
    if document == "state":
        return verify_state(data, REC, BUNDLE)
    keyring = load_keyring([HERE / str(CASES[name]["keyring"])]) if "keyring" in CASES[name] else KEYRING
    return verify_integrity(data, REC, keyring).result


@pytest.mark.parametrize("name", sorted(CASES))
def test_named_fixture(name: str) -> None:
    result = _check(name)
    assert result.kind == CASES[name]["document"]
    assert result.status == CASES[name]["status"], (name, result.checks)
    assert list(result.codes) == CASES[name]["codes"], (name, result.checks)
    assert result.publish == (result.status != "refused")
