"""``fetch --deadline``: a whole run bounded in time, against a slow server on 127.0.0.1.

At the deadline the fetch stops as SIGTERM stops it: requests in flight are dropped, every record
committed before is kept (whole, and it verifies), nothing of the others is stored, the exit status
is 124, and the next run fetches only the rest. A deadline that is not reached changes nothing.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import synth
from generator.cli import main
from generator.config import Config, load_config
from generator.errors import DeadlineError, UsageError
from generator.fetch import FetchReport
from generator.fetch_cli import _deadline
from generator.keyring import load_keyring
from generator.sources.remote import DEFAULT_KINDS, site_path
from generator.sources.store import load_store_records
from generator.store import Store
from generator.verify import verify_record
from tests.integration.pith_server import PithServer, Tree, build_tree, serve
from tests.integration.test_fetch_http import fetch
from tests.integration.test_fetch_resume import _interrupt

N = 8  # records served
QUICK = 3  # of them answered (a little late); the others drip one byte at a time
DEADLINE = 1.0
MARGIN = 0.75  # seconds a stop may take past the deadline (cancel, close, a loaded machine)


@pytest.fixture(scope="module")
def world(test_key: synth.TestKey) -> tuple[Tree, list[str]]:
    return build_tree(test_key, N, seed=11)


@pytest.fixture
def server(world: tuple[Tree, list[str]]) -> Iterator[PithServer]:
    tree, _ = world
    with serve(Tree(files=dict(tree.files), resolve=dict(tree.resolve))) as srv:
        srv.configure(latency=0.02, drip_delay=0.2)  # every answer late; a drip never ends in time
        yield srv


@pytest.fixture
def suffixes(world: tuple[Tree, list[str]]) -> list[str]:
    return world[1]


def _slow(server: PithServer, suffixes: list[str], times: int | None = 1) -> None:
    """Every record past the first QUICK drips (its first ``times`` requests; None: always)."""
    for suffix in suffixes[QUICK:]:
        server.fault(f"/pith/{suffix}.json", "drip", times)


def _args(server: PithServer, store: Path, keyring_file: Path, *extra: str) -> list[str]:
    return [
        "--upstream",
        server.url,
        "--store",
        str(store),
        "--keyring",
        str(keyring_file),
        "--rate",
        "0",
        "--retries",
        "0",
        "--no-fsync",
        "--no-progress",
        *extra,
    ]


def _urls(server: PithServer, suffix: str) -> list[str]:
    record = json.loads(server.tree.files[f"/pith/{suffix}.json"])
    arxiv = record["canonical_record"]["source"]["id"]
    return ["/" + site_path(kind, suffix, arxiv) for kind in ("record", *DEFAULT_KINDS)]


def _stored(store: Path) -> set[str]:
    with Store.open(store, readonly=True) as s:
        held = set(s.suffixes())
        assert all(s.complete(x, DEFAULT_KINDS) for x in held)  # whole records only
    assert not list((store / "objects").glob("*/.tmp-*"))
    return held


def test_deadline_stops_a_slow_fetch_keeps_what_was_done_and_the_next_run_resumes(
    tmp_path: Path,
    server: PithServer,
    suffixes: list[str],
    keyring_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = tmp_path / "store"
    _slow(server, suffixes)
    t0 = time.monotonic()
    rc = main(["fetch", *suffixes, *_args(server, store, keyring_file, "--deadline", f"{DEADLINE:g}")])
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 124, err
    assert DEADLINE <= took < DEADLINE + MARGIN, took
    assert (
        f"fetch stopped at its deadline of 1 s after {QUICK} of {N} record(s); every record fetched "
        "and verified so far is kept: run again to resume"
    ) in err
    assert f"fetch: {N} record(s) into {store}: {QUICK} new or changed" in err  # the summary, too

    # what was committed before the deadline is kept, whole, and verifies; nothing of the rest
    assert _stored(store) == set(suffixes[:QUICK])
    keyring = load_keyring([keyring_file])
    raws = list(load_store_records(store))
    assert sorted(verify_record(raw, keyring).suffix for raw in raws) == sorted(suffixes[:QUICK])
    for raw in raws:
        assert raw.data == server.tree.files[raw.where.removeprefix(server.url)]

    # the next run, without a deadline, fetches only the rest
    server.clear_faults()
    server.hits.clear()
    assert main(["fetch", *suffixes, *_args(server, store, keyring_file)]) == 0
    assert _stored(store) == set(suffixes)
    for suffix in suffixes[:QUICK]:
        assert [u for u in _urls(server, suffix) if server.hits[u]] == [], suffix
    for suffix in suffixes[QUICK:]:
        assert all(server.hits[u] == 1 for u in _urls(server, suffix)), suffix


def test_deadline_not_reached_changes_nothing(
    tmp_path: Path,
    server: PithServer,
    suffixes: list[str],
    keyring_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bounded, free = tmp_path / "bounded", tmp_path / "free"
    assert main(["fetch", *suffixes, *_args(server, bounded, keyring_file, "--deadline", "60")]) == 0
    err = capsys.readouterr().err
    assert "stopped at its deadline" not in err
    assert f"fetch: {N} record(s) into {bounded}: {N} new or changed, 0 unchanged" in err
    assert main(["fetch", *suffixes, *_args(server, free, keyring_file)]) == 0
    assert _stored(bounded) == _stored(free) == set(suffixes)
    objects = [
        sorted(p.relative_to(s).as_posix() for p in (s / "objects").rglob("*")) for s in (bounded, free)
    ]
    assert objects[0] == objects[1]
    for suffix in suffixes:
        with Store.open(bounded, readonly=True) as a, Store.open(free, readonly=True) as b:
            assert [(c.kind, c.url, c.sha256) for c in a.copies(suffix)] == [
                (c.kind, c.url, c.sha256) for c in b.copies(suffix)
            ]
    # a run that finds everything complete is not bounded by what it does not do
    assert main(["fetch", *suffixes, *_args(server, bounded, keyring_file, "--deadline", "0.5")]) == 0


def test_deadline_error_is_typed_and_carries_the_report(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring_file: Path
) -> None:
    _slow(server, suffixes, times=None)
    store = tmp_path / "store"
    with pytest.raises(DeadlineError) as caught:
        fetch(store, load_keyring([keyring_file]), server.url, suffixes, deadline=0.5)
    exc = caught.value
    assert (exc.code, exc.url, exc.exit_code) == ("deadline", server.url, 124)
    assert "deadline of 0.5 s after 3 of 8 record(s)" in str(exc)
    assert isinstance(exc.report, FetchReport)
    assert (exc.report.asked, exc.report.fetched, exc.report.failures) == (N, QUICK, [])
    assert exc.report.requests >= QUICK * 6
    assert _stored(store) == set(suffixes[:QUICK])


def test_deadline_from_the_config_file(
    tmp_path: Path,
    server: PithServer,
    suffixes: list[str],
    keyring_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _slow(server, suffixes, times=None)
    cfg = tmp_path / "pith-mirror.toml"
    cfg.write_text("[mirror]\nfetch_deadline = 0.5\n")
    store = tmp_path / "store"
    assert main(["fetch", *suffixes, "-c", str(cfg), *_args(server, store, keyring_file)]) == 124
    assert "deadline of 0.5 s after 3 of 8 record(s)" in capsys.readouterr().err
    assert _stored(store) == set(suffixes[:QUICK])


def test_sigterm_before_the_deadline_is_still_an_interruption(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring_file: Path
) -> None:
    _slow(server, suffixes, times=None)
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "generator", "fetch", *suffixes, *_args(server, store, keyring_file)]
    assert _interrupt([*cmd, "--deadline", "60"], store, signal.SIGTERM, after=QUICK, timeout=30) == 130
    assert _stored(store) == set(suffixes[:QUICK])


def test_deadline_before_another_mirror_says_how_much_it_holds(
    tmp_path: Path, keyring_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(files={"/mirror-index/index.json": b'{"index_type": "pith_mirror_index"}'})
    with serve(tree) as srv:
        srv.configure(drip_delay=0.2)
        srv.fault("/mirror-index/index.json", "drip")
        args = ["fetch", "--from", srv.url, "--store", str(tmp_path / "s"), "--keyring", str(keyring_file)]
        assert main([*args, "--deadline", "0.3", "--rate", "0"]) == 124
    err = capsys.readouterr().err
    assert "fetch stopped at its deadline of 0.3 s after 0 record(s); every record" in err
    assert _stored(tmp_path / "s") == set()


def _namespace(deadline: float | None) -> argparse.Namespace:
    return argparse.Namespace(deadline=deadline)


def test_deadline_flag_overrides_the_config_and_zero_means_none(tmp_path: Path) -> None:
    cfg = tmp_path / "pith-mirror.toml"
    cfg.write_text("[mirror]\nfetch_deadline = 3600\n")
    loaded = load_config(cfg)
    assert _deadline(_namespace(None), loaded) == 3600.0
    assert _deadline(_namespace(60), loaded) == 60.0
    assert _deadline(_namespace(0), loaded) is None
    assert _deadline(_namespace(None), Config()) is None
    cfg.write_text("[mirror]\nfetch_deadline = 0\n")
    assert _deadline(_namespace(None), load_config(cfg)) is None
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="--deadline must be a number of seconds"):
            _deadline(_namespace(bad), Config())


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("fetch_deadline = -5", "fetch_deadline must be a number of seconds"),
        ("fetch_deadline = nan", "fetch_deadline must be a number of seconds"),
        ("fetch_deadline = true", "fetch_deadline: wrong type bool"),
        ('fetch_deadline = "1h"', "fetch_deadline: wrong type str"),
    ],
)
def test_bad_deadline_is_a_usage_error(
    tmp_path: Path, setting: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "pith-mirror.toml"
    cfg.write_text(f"[mirror]\n{setting}\n")
    assert main(["fetch", "75T7H6BVKLX2X7KPYCGRY4USAC", "-c", str(cfg), "--store", str(tmp_path / "s")]) == 2
    assert problem in capsys.readouterr().err
    assert (
        main(["fetch", "75T7H6BVKLX2X7KPYCGRY4USAC", "--deadline", "-1", "--store", str(tmp_path / "s")]) == 2
    )
    assert not (tmp_path / "s").exists()
