"""benchmarks/record_bench.py runs on a few records and prints every figure it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PARTS = {
    "floor: parse, hash, signature",
    "verify_record",
    "render_record (all its pages)",
    "  record view",
    "  record view + record page",
    "  short-number page",
    "columns for the site-wide steps",
    "writes: plain open/write",
    "writes: the build's put_file",
}


def test_record_bench_prints_every_part_and_the_ratio(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = REPO / "benchmarks" / "record_bench.py"
    run = subprocess.run(
        [sys.executable, str(script), "12", "--passes", "2", "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    out = run.stdout
    assert out.startswith("12 records, ") and "best of 2 passes" in out
    us = {k: float(v) for k, v in re.findall(r"^\| (.+?) \| ([0-9.]+) \|$", out, re.MULTILINE)}
    assert set(us) == PARTS
    assert all(v > 0 for v in us.values())
    python = us["verify_record"] + us["render_record (all its pages)"] + us["columns for the site-wide steps"]
    floor = us["floor: parse, hash, signature"]
    m = re.search(r"columns\): ([0-9.]+) µs, ([0-9.]+)x the floor's ([0-9.]+) µs", out)
    assert m is not None
    assert abs(float(m.group(1)) - python) < 0.2 and float(m.group(3)) == floor
    assert abs(float(m.group(2)) - python / floor) < 0.02
    # the inputs are cached in --work; no written tree is left behind
    assert (tmp_path / "work" / "inputs" / "records-12-1.jsonl").is_file()
    assert list(scratch.iterdir()) == []
