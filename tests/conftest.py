"""Shared fixtures: real Pith records, a test signing key, helpers to write records to disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from generator.synth import TestKey, dump_record, make_record

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parent.parent
RECORDS = REPO / "content" / "records"
FIXTURES = REPO / "tests" / "fixtures"
# the read-only shared fixtures beside the checkout, when present; tests use the bundled copies
SEED = RECORDS / "75T7H6BVKLX2X7KPYCGRY4USAC.json"
UNSIGNED = FIXTURES / "unsigned"

os.environ.pop("SOURCE_DATE_EPOCH", None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright, one per test module. There is no skip: without
    Chromium the browser tests fail (CI installs it, see .ci/run)."""
    from playwright.sync_api import sync_playwright

    from tests.chromium import ARGS, CHROMIUM

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def test_key() -> TestKey:
    return TestKey.from_seed(b"pith-mirror tests", "test-key-1")


@pytest.fixture(scope="session")
def other_key() -> TestKey:
    return TestKey.from_seed(b"not pinned", "test-key-1")


@pytest.fixture
def keyring_file(tmp_path: Path, test_key: TestKey) -> Path:
    path = tmp_path / "keyring.json"
    path.write_bytes(test_key.keyring_json())
    return path


class WriteRecords(Protocol):
    def __call__(self, records: list[dict[str, Any]], dirname: str = "in") -> Path: ...


@pytest.fixture
def write_records(tmp_path: Path) -> WriteRecords:
    """write_records([record, ...], dirname) -> directory holding one file per record."""

    def _write(records: list[dict[str, Any]], dirname: str = "in") -> Path:
        folder = tmp_path / dirname
        folder.mkdir(parents=True, exist_ok=True)
        for rec in records:
            name = rec.get("canonical_sha256", "x")[:16] + ".json"
            (folder / name).write_bytes(dump_record(rec))
        return folder

    return _write


@pytest.fixture
def synth(test_key: TestKey) -> Callable[..., dict[str, Any]]:
    def _make(**kw: Any) -> dict[str, Any]:
        return make_record(test_key, **kw)

    return _make


def load_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _reader_sites(tmp: Path, n: int) -> dict[str, Path]:
    from tests.sitegen import build_site

    return {
        "dirs": build_site(
            tmp,
            n,
            link_files=False,
            base_url="https://example.org/mirror/",
            cname="mirror.example.org",
            page_size=12,  # many listing pages: the pager is exercised
        ),
        "files": build_site(tmp, n, link_files=True),
    }


@pytest.fixture(scope="session")
def reader_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A synthetic site of 300 signed records (plus special and real ones) built twice from the
    same inputs: ``dirs`` (directory links, --base-url, CNAME, 12 records a listing page) and
    ``files`` (--link-style file)."""
    return _reader_sites(tmp_path_factory.mktemp("reader"), 300)


@pytest.fixture(scope="session")
def reader_sites_1000(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same with 1,000 synthetic records (slow tests)."""
    return _reader_sites(tmp_path_factory.mktemp("reader1000"), 1000)
