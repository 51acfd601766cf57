from __future__ import annotations

import hashlib
from pathlib import Path

from generator.cli import main
from tests.conftest import RECORDS, SEED, UNSIGNED


def test_build_bundled_records(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert main(["build", "-o", str(out), "-q"]) == 0
    assert (out / "pith/75T7H6BVKLX2X7KPYCGRY4USAC.json").read_bytes() == SEED.read_bytes()
    for rec in sorted(RECORDS.glob("*.json")):
        suffix = rec.stem
        assert (out / f"pith/{suffix}/index.html").is_file()
        assert (out / f"paper/{suffix[:8]}/index.html").is_file()
    assert (out / ".nojekyll").exists()
    page = (out / "pith/75T7H6BVKLX2X7KPYCGRY4USAC/index.html").read_text()
    assert "ff67f3f83552efabfd4fc08d1c729200851a441688b80aa5cd932bb6e8a70dbc" in page
    assert hashlib.sha256(SEED.read_bytes()).hexdigest() in page


def test_unsigned_refused(tmp_path: Path) -> None:
    assert main(["verify", str(UNSIGNED), "-q"]) == 1
    out = tmp_path / "site"
    assert main(["build", str(UNSIGNED), "-o", str(out), "-q"]) == 1
    assert not out.exists()
