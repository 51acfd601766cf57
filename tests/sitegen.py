"""Build real test sites from signed synthetic records (plus the bundled real ones)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from generator.build import run_build
from generator.config import Config
from generator.synth import TestKey, dump_record, make_record, random_record
from tests.conftest import RECORDS

KEY = TestKey.from_seed(b"pith-mirror tests", "test-key-1")

# Records with known content that tests look for.
SPECIAL: list[dict[str, Any]] = [
    {
        "arxiv_id": "cs/0004010",
        "title": "An old-style identifier: Ren\\'e and the $\\alpha$-$\\beta$ pruning",
        "authors": "Q. Oldstyle",
        "submitted_at": "2000-04-11T10:00:00Z",
        "primary_cat": "cs.AI",
    },
    {
        "arxiv_id": "2402.01234",
        "version": 2,
        "title": "Zebrafish morphogenesis with $\\sqrt{x^2+1}$ and <script>alert(1)</script>",
        "authors": "Z. Uniqueauthor, <img src=x onerror=alert(1)>",
        "submitted_at": "2024-02-03T04:05:06Z",
        "primary_cat": "q-bio.TO",
        "cross_cats": ["cs.LG"],
    },
    {
        "arxiv_id": "2402.01234",
        "version": 1,
        "title": "Zebrafish morphogenesis, first version",
        "authors": "Z. Uniqueauthor",
        "submitted_at": "2024-02-03T04:05:06Z",
        "primary_cat": "q-bio.TO",
    },
]


def write_inputs(folder: Path, n: int, seed: int = 7) -> Path:
    """``n`` random signed records, the SPECIAL ones and the bundled real records."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n):
        rec = random_record(KEY, rng, i + 1)
        (folder / f"r{i:06d}.json").write_bytes(dump_record(rec))
    for i, kw in enumerate(SPECIAL):
        (folder / f"special{i}.json").write_bytes(dump_record(make_record(KEY, **kw)))
    for src in sorted(RECORDS.glob("*.json")):
        (folder / src.name).write_bytes(src.read_bytes())
    return folder


def build_site(tmp: Path, n: int, *, link_files: bool, base_url: str | None = None, **kw: Any) -> Path:
    inputs = tmp / "inputs"
    if not inputs.exists():
        write_inputs(inputs, n)
    keyring = tmp / "keyring.json"
    keyring.write_bytes(KEY.keyring_json())
    out = tmp / ("site-files" if link_files else "site-dirs")
    cfg = Config(
        sources=(inputs,),
        output=out,
        keyring_files=(keyring,),
        link_files=link_files,
        base_url=base_url,
        jobs=2,
        source_date_epoch=1_790_000_000,
        **kw,
    )
    run_build(cfg, progress=False)
    return out
