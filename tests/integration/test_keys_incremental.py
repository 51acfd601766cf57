"""Keys and incremental builds: a record is published only when its receipt verifies with the
keyring of *this* build, whatever path it came by (a fetch store, a carried record of an
incremental build); a refused build leaves the live site and its build state as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.build import run_build
from generator.cli import main
from generator.config import Config
from generator.errors import BuildFailedError
from generator.incremental import spare_path
from generator.store import Store
from generator.synth import TestKey, dump_record, make_record
from tests.integration.pith_server import Tree, build_tree, serve
from tests.integration.test_incremental import Tree as Snapshot
from tests.integration.test_incremental import snapshot, state_bytes


def stray(parent: Path, name: str) -> list[str]:
    """Files beside the output other than the site, its state and its spare."""
    allowed = {name, f".{name}.state.sqlite", f".{name}.spare", f".{name}.spare-state.sqlite"}
    return sorted(p.name for p in parent.iterdir() if p.name not in allowed)


def suffix_of(rec: dict[str, Any]) -> str:
    return str(rec["pith_number"]).split(":")[2]


# -- (1) a store fetched with a test key, built with the default keyring only -----------------


def test_store_fetched_with_a_test_key_is_refused_without_it(
    tmp_path: Path, test_key: TestKey, keyring_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, suffixes = build_tree(test_key, 3)
    store = tmp_path / "store"
    with serve(Tree(files=dict(tree.files), resolve=dict(tree.resolve))) as server:
        args = ["--upstream", server.url, "--store", str(store), "--keyring", str(keyring_file)]
        assert main(["fetch", *suffixes, *args, "-q", "--rate", "0"]) == 0
    with Store.open(store, readonly=True) as s:
        assert sorted(s.suffixes()) == sorted(suffixes)

    out = tmp_path / "out" / "site"
    out.parent.mkdir()
    with pytest.raises(BuildFailedError) as info:
        run_build(Config(store=store, output=out, jobs=1), progress=False)  # Pith's key only
    failures = info.value.failures
    assert [f.code for f in failures] == ["unknown_key"] * 3
    named = sorted(s for f in failures for s in suffixes if f"{server.url}/pith/{s}.json" in f.where)
    assert named == sorted(suffixes)  # each names the URL the record was fetched from
    assert not out.exists() and stray(out.parent, "site") == []

    # the command line says the same, and exits 1
    assert main(["build", "--store", str(store), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("unknown_key") >= 3 and all(s in err for s in suffixes)
    assert not out.exists() and stray(out.parent, "site") == []

    # and an incremental build with the key pinned, then without: the live site stays
    run_build(
        Config(store=store, output=out, jobs=1, keyring_files=(keyring_file,), incremental=True),
        progress=False,
    )
    live, state = snapshot(out), state_bytes(out)
    assert {f"pith/{s}.json" for s in suffixes} <= set(live)
    with pytest.raises(BuildFailedError) as info:
        run_build(Config(store=store, output=out, jobs=1, incremental=True), progress=False)
    assert [f.code for f in info.value.failures] == ["unknown_key"] * 3
    assert snapshot(out) == live and state_bytes(out) == state


# -- incremental builds from a folder -----------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, test_key: TestKey, keyring_file: Path) -> dict[str, Any]:
    folder = tmp_path / "in"
    folder.mkdir()
    recs = [make_record(test_key, arxiv_id=f"2604.{i:05d}", title=f"Kept paper {i}") for i in range(8)]
    for i, rec in enumerate(recs):
        (folder / f"r{i}.json").write_bytes(dump_record(rec))
    (tmp_path / "out").mkdir()
    cfg = Config(
        sources=(folder,),
        output=tmp_path / "out" / "site",
        keyring_files=(keyring_file,),
        jobs=1,
        source_date_epoch=1767225600,
        incremental=True,
    )
    # two builds, the second after one unsigned change: the live site, its state, and a spare
    run_build(cfg, progress=False)
    recs[0]["paper"]["headline"] = "changed"
    (folder / "r0.json").write_bytes(dump_record(recs[0]))
    assert run_build(cfg, progress=False).incremental == {"inputs": 8, "carried": 7, "rebuilt": 1}
    assert spare_path(cfg.output).is_dir()
    return {"tmp": tmp_path, "in": folder, "recs": recs, "cfg": cfg}


def clean_build(cfg: Config, where: Path) -> Snapshot:
    run_build(Config(**{**cfg.__dict__, "output": where, "incremental": False}), progress=False)
    return snapshot(where)


def test_unsigned_record_added_to_an_incremental_build_fails_closed(
    world: dict[str, Any], test_key: TestKey
) -> None:
    cfg: Config = world["cfg"]
    live, state = snapshot(cfg.output), state_bytes(cfg.output)
    spare = snapshot(spare_path(cfg.output))

    bad = make_record(test_key, arxiv_id="2604.09999", title="No receipt")
    del bad["receipt"]
    bad_file = world["in"] / "unsigned.json"
    bad_file.write_bytes(dump_record(bad))
    with pytest.raises(BuildFailedError) as info:
        run_build(cfg, progress=False)
    assert [(f.code, f.where.split(" ")[0]) for f in info.value.failures] == [("no_receipt", str(bad_file))]
    assert bad["pith_number"] in info.value.failures[0].where
    assert snapshot(cfg.output) == live
    assert state_bytes(cfg.output) == state
    # the spare was the failed build's staging tree: whole as it was, or cleared; never half-updated
    assert not spare_path(cfg.output).exists() or snapshot(spare_path(cfg.output)) == spare
    assert not (cfg.output / f"pith/{suffix_of(bad)}.json").exists()
    assert stray(cfg.output.parent, "site") == []

    # the state still describes the live site: with the bad record gone, nothing is rebuilt
    bad_file.unlink()
    assert run_build(cfg, progress=False).incremental == {"unchanged": True, "inputs": 8}
    assert snapshot(cfg.output) == live == clean_build(cfg, world["tmp"] / "clean" / "site")
    # and a later change builds on it like a clean build
    world["recs"][1]["paper"]["headline"] = "changed too"
    (world["in"] / "r1.json").write_bytes(dump_record(world["recs"][1]))
    assert run_build(cfg, progress=False).incremental == {"inputs": 8, "carried": 7, "rebuilt": 1}
    assert snapshot(cfg.output) == clean_build(cfg, world["tmp"] / "clean2" / "site")


@pytest.mark.parametrize("change", ["other key", "Pith key only", "key expired"])
def test_carried_records_are_verified_again_when_the_keyring_changes(
    world: dict[str, Any], test_key: TestKey, other_key: TestKey, change: str
) -> None:
    """The keyring is part of the render fingerprint: a build whose keyring no longer accepts
    the key that signed the carried records refuses them all, and keeps the previous site."""
    cfg: Config = world["cfg"]
    tmp: Path = world["tmp"]
    live, state = snapshot(cfg.output), state_bytes(cfg.output)

    if change == "Pith key only":
        keyring_files: tuple[Path, ...] = ()
        code = "unknown_key"
    else:
        ring = tmp / "keyring2.json"
        if change == "other key":
            ring.write_bytes(other_key.keyring_json())
            code = "unknown_key"  # same key id, another public key: no pinned fingerprint matches
        else:  # the same file edited in place: the key is valid only until before the signing
            ring = cfg.keyring_files[0]
            ring.write_bytes(test_key.keyring_json(not_after="2026-01-01T00:00:00Z"))
            code = "key_not_valid"
        keyring_files = (ring,)
    cfg2 = Config(**{**cfg.__dict__, "keyring_files": keyring_files})
    with pytest.raises(BuildFailedError) as info:
        run_build(cfg2, progress=False)
    if change == "key expired":
        cfg.keyring_files[0].write_bytes(test_key.keyring_json())
    failures = info.value.failures
    assert [f.code for f in failures] == [code] * 8
    assert sorted(f.where.split(" ")[0] for f in failures) == sorted(
        str(world["in"] / f"r{i}.json") for i in range(8)
    )
    assert snapshot(cfg.output) == live
    assert state_bytes(cfg.output) == state
    assert stray(cfg.output.parent, "site") == []

    # with the first keyring again, the previous state is still good: nothing to rebuild
    assert run_build(cfg, progress=False).incremental == {"unchanged": True, "inputs": 8}
    assert snapshot(cfg.output) == live == clean_build(cfg, tmp / "clean" / "site")
