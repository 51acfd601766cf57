"""Mirror of a mirror: site A (fetched from an upstream, then built) is served on 127.0.0.1;
B fetches from A through A's mirror index, trusting only the keyring."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import synth
from generator.cli import main
from generator.errors import MirrorIndexError, VerificationError
from generator.keyring import load_keyring
from generator.mirror_index import TOP
from generator.store import Store
from tests.conftest import SEED
from tests.integration.pith_server import (
    Tree,
    add_raw_record,
    add_record,
    build_tree,
    old_style_record,
    serve,
)
from tests.integration.test_fetch_http import fetch


@pytest.fixture(scope="module")
def site_a(tmp_path_factory: pytest.TempPathFactory, test_key: synth.TestKey) -> tuple[Path, Path, list[str]]:
    """Site A, built from a store fetched from a pith.science-like upstream."""
    tmp = tmp_path_factory.mktemp("a")
    keyring = tmp / "keyring.json"
    keyring.write_bytes(test_key.keyring_json())
    tree, suffixes = build_tree(test_key, 8, seed=3)
    add_record(tree, old_style_record(test_key))
    add_raw_record(tree, SEED.read_bytes())
    with serve(tree) as upstream:
        args = ["--upstream", upstream.url, "--store", str(tmp / "store-a"), "--keyring", str(keyring)]
        names = [*suffixes, "cs/0004010", "75T7H6BVKLX2X7KPYCGRY4USAC"]
        assert main(["fetch", *names, *args, "-q", "--rate", "0"]) == 0
    site = tmp / "site-a"
    assert (
        main(["build", "--store", str(tmp / "store-a"), "-o", str(site), "--keyring", str(keyring), "-q"])
        == 0
    )
    return site, keyring, suffixes


def index_files(site: Path) -> Iterator[tuple[str, dict[str, object]]]:
    top = json.loads((site / TOP).read_bytes())
    for shard in top["shards"]:
        for rec in json.loads((site / shard["path"]).read_bytes())["records"]:
            for f in rec["files"]:
                yield rec["suffix"], f


def test_mirror_of_a_mirror_is_byte_identical(tmp_path: Path, site_a: tuple[Path, Path, list[str]]) -> None:
    site, keyring, _ = site_a
    listed = list(index_files(site))
    kinds = {f["kind"] for _, f in listed}
    assert {"record", "graph", "events"} <= kinds
    with serve(Tree(root=site)) as mirror:
        store_b = tmp_path / "store-b"
        args = ["--from", mirror.url, "--store", str(store_b), "--keyring", str(keyring), "-q", "--rate", "0"]
        assert main(["fetch", *args]) == 0
        requested = sum(mirror.hits.values())
        # everything is complete: a second run reads the index and asks for nothing else
        mirror.hits.clear()
        report = fetch(store_b, load_keyring([keyring]), mirror.url, [], from_mirror=True)
        assert report.skipped == 10 and report.failures == []
        assert all(path.startswith("/mirror-index/") for path in mirror.hits)
        # a refresh compares the index with the store: nothing changed, nothing fetched
        mirror.hits.clear()
        assert main(["fetch", *args, "--refresh"]) == 0
        assert all(path.startswith("/mirror-index/") for path in mirror.hits)
    assert requested >= len(listed)
    site_b = tmp_path / "site-b"
    assert main(["build", "--store", str(store_b), "-o", str(site_b), "--keyring", str(keyring), "-q"]) == 0
    for _suffix, f in listed:
        path = str(f["path"])
        assert (site_b / path).read_bytes() == (site / path).read_bytes(), path
    for shard in (site / "mirror-index").iterdir():
        assert (site_b / "mirror-index" / shard.name).read_bytes() == shard.read_bytes()


def test_named_records_from_a_mirror(tmp_path: Path, site_a: tuple[Path, Path, list[str]]) -> None:
    site, keyring, suffixes = site_a
    with serve(Tree(root=site)) as mirror:
        report = fetch(
            tmp_path / "s",
            load_keyring([keyring]),
            mirror.url,
            [suffixes[0], f"pith:{suffixes[1][:8]}", "cs/0004010"],
            from_mirror=True,
        )
    assert report.failures == [] and report.fetched == 3
    with Store.open(tmp_path / "s", readonly=True) as s:
        assert len(s.suffixes()) == 3


def _tamper(site: Path, rel: str, old: bytes, new: bytes, after: bytes = b"") -> None:
    path = site / rel
    data = path.read_bytes()
    start = data.index(after)
    assert old in data[start:]
    path.write_bytes(data[:start] + data[start:].replace(old, new, 1))


def _rewrite_index(site: Path, suffix: str, rel: str) -> None:
    """Make the index agree with a tampered file (a mirror that lies consistently)."""
    data = (site / rel).read_bytes()
    top_path = site / TOP
    top = json.loads(top_path.read_bytes())
    for shard in top["shards"]:
        if suffix.startswith(shard["prefix"]):
            doc = json.loads((site / shard["path"]).read_bytes())
            for rec in doc["records"]:
                for f in rec["files"]:
                    if f["path"] == rel:
                        f["size"], f["sha256"] = len(data), hashlib.sha256(data).hexdigest()
            body = (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()
            (site / shard["path"]).write_bytes(body)
            shard["size"], shard["sha256"] = len(body), hashlib.sha256(body).hexdigest()
    top_path.write_bytes(json.dumps(top).encode())


@pytest.mark.parametrize("case", ["record", "events", "record+index"])
def test_tampered_mirror_is_refused(tmp_path: Path, site_a: tuple[Path, Path, list[str]], case: str) -> None:
    site, keyring, suffixes = site_a
    bad = tmp_path / "site-bad"
    shutil.copytree(site, bad)
    victim = suffixes[2]
    if case == "record":
        rel = f"pith/{victim}.json"
        _tamper(
            bad, rel, b'"authors_text":"', b'"authors_text":"X'
        )  # unsigned text: only the index catches it
    elif case == "events":
        rel = f"api/pith-number/{victim}/events.json"
        _tamper(bad, rel, b'"event_type":"graph_snapshot"', b'"event_type":"graph_snapshoT"')
    else:
        rel = f"pith/{victim}.json"
        _tamper(bad, rel, b'"primary_cat":"', b'"primary_cat":"x', after=b'"canonical_record"')
        _rewrite_index(bad, victim, rel)
    with serve(Tree(root=bad)) as mirror:
        report = fetch(tmp_path / "s", load_keyring([keyring]), mirror.url, [], from_mirror=True)
    assert len(report.failures) == 1, report.failures
    err = report.failures[0]
    if case == "record+index":
        assert isinstance(err, VerificationError) and err.code in ("hash_mismatch", "canonical_schema")
        assert err.where.startswith(f"{mirror.url}/{rel}")
    else:
        assert isinstance(err, MirrorIndexError) and err.code == "index_mismatch"
        assert err.url == f"{mirror.url}/{rel}"
    with Store.open(tmp_path / "s", readonly=True) as s:
        assert victim not in s.suffixes()
        assert len(s.suffixes()) == 9  # every other record was taken


def test_malformed_index(tmp_path: Path, site_a: tuple[Path, Path, list[str]]) -> None:
    site, keyring, _ = site_a
    bad = tmp_path / "site-bad"
    shutil.copytree(site, bad)
    top = json.loads((bad / TOP).read_bytes())
    top["shards"][0]["path"] = "../../etc/passwd"
    (bad / TOP).write_bytes(json.dumps(top).encode())
    with serve(Tree(root=bad)) as mirror:
        rc = main(
            ["fetch", "--from", mirror.url, "--store", str(tmp_path / "s"), "--keyring", str(keyring), "-q"]
        )
    assert rc == 1
