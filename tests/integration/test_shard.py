"""Sharding by SUFFIX prefix: shards partition the records; a false claim is refused by one shard."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from generator import synth
from generator.build import run_build
from generator.cli import main
from generator.config import Config
from generator.shard import check_prefixes, claimed_suffix, outside_shard
from generator.synth import dump_record, random_record

FIRST = tuple("ABCDEFGHIJKLMNOP")
SECOND = tuple("QRSTUVWXYZ234567")


def _inputs(folder: Path, key: synth.TestKey, n: int) -> list[dict[str, Any]]:
    folder.mkdir(parents=True)
    rng = random.Random(11)
    recs = [random_record(key, rng, i) for i in range(n)]
    for i, rec in enumerate(recs):
        (folder / f"{i:03d}.json").write_bytes(dump_record(rec))
    return recs


def _published(out: Path) -> set[str]:
    return {p.stem for p in (out / "pith").glob("*.json")}


def test_shards_partition_the_records(tmp_path: Path, test_key: synth.TestKey, keyring_file: Path) -> None:
    recs = _inputs(tmp_path / "in", test_key, 24)
    suffixes = {claimed_suffix(dump_record(r)) for r in recs}
    outs = []
    for i, prefixes in enumerate((FIRST, SECOND)):
        out = tmp_path / f"shard{i}"
        cfg = Config(
            sources=(tmp_path / "in",),
            output=out,
            keyring_files=(keyring_file,),
            jobs=1,
            suffix_prefixes=prefixes,
        )
        report = run_build(cfg, progress=False)
        assert report.outside_shard + len(report.published) == 24
        assert all(s.startswith(prefixes) for s in _published(out))
        outs.append(_published(out))
    assert outs[0] | outs[1] == suffixes and not outs[0] & outs[1]


def test_false_claim_is_refused_by_one_shard(
    tmp_path: Path, test_key: synth.TestKey, keyring_file: Path
) -> None:
    recs = _inputs(tmp_path / "in", test_key, 4)
    bad = dict(recs[0])
    bad["canonical_sha256"] = "0" * 64  # claims shard "A": every copy of the claim agrees
    bad["receipt"] = {**bad["receipt"], "canonical_sha256": "0" * 64}
    (tmp_path / "in" / "000.json").write_bytes(dump_record(bad))
    assert claimed_suffix(dump_record(bad)) == "A" * 26
    codes = []
    for prefixes in (("A",), tuple(p for p in FIRST + SECOND if p != "A")):
        cfg = Config(
            sources=(tmp_path / "in",),
            output=tmp_path / "o",
            keyring_files=(keyring_file,),
            jobs=1,
            suffix_prefixes=prefixes,
        )
        report = run_build(cfg, write=False, progress=False)
        codes.append([f.code for f in report.failures])
    assert codes[0] == ["hash_mismatch"] and codes[1] == []


def test_unreadable_claim_is_verified_everywhere() -> None:
    assert (
        claimed_suffix(
            b'{"canonical_sha256":"' + b"1" * 64 + b'","x":{"canonical_sha256":"' + b"2" * 64 + b'"}}'
        )
        is None
    )
    assert not outside_shard(b"not json", ("A",))
    assert not outside_shard(json.dumps({"canonical_sha256": "0" * 64}).encode(), ("A",))
    assert outside_shard(json.dumps({"canonical_sha256": "0" * 64}).encode(), ("B",))


def test_prefix_validation(tmp_path: Path) -> None:
    assert check_prefixes(("AB", "7")) is None
    assert check_prefixes(("ab",)) and check_prefixes(("A1",)) and check_prefixes(("",))
    assert main(["build", "--suffix-prefix", "a/", "-o", str(tmp_path / "o"), "-q"]) == 2
    toml = tmp_path / "pith-mirror.toml"
    toml.write_text('[mirror]\nsuffix_prefixes = ["A", "x"]\n')
    assert main(["build", "-c", str(toml), "-o", str(tmp_path / "o"), "-q"]) == 2


@pytest.mark.parametrize("prefix", ["A", "Q"])
def test_shard_build_from_cli(
    tmp_path: Path, test_key: synth.TestKey, keyring_file: Path, prefix: str
) -> None:
    _inputs(tmp_path / "in", test_key, 10)
    out = tmp_path / "site"
    args = ["build", str(tmp_path / "in"), "-o", str(out), "--keyring", str(keyring_file), "-q"]
    assert main([*args, "--suffix-prefix", prefix]) == 0
    assert all(s.startswith(prefix) for s in _published(out))
