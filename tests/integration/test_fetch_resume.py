"""Interrupt a fetch (Ctrl-C, SIGTERM, then SIGKILL at a random point) and run it again: it completes,
asks for no record again that was complete, and the site equals one from an uninterrupted fetch."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from generator import synth
from generator.cli import main
from generator.sources.remote import site_path
from generator.store import Store
from tests.conftest import REPO
from tests.integration.pith_server import PithServer, build_tree, serve


def _records_in(store: Path) -> int:
    db = store / "store.sqlite"
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    except sqlite3.Error:
        return 0


def _fetch_cmd(server: PithServer, listing: Path, store: Path, keyring: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "generator",
        "fetch",
        "--list",
        str(listing),
        "--upstream",
        server.url,
        "--store",
        str(store),
        "--keyring",
        str(keyring),
        "--rate",
        "0",
        "--retries",
        "0",
        "-q",
    ]


def _interrupt(cmd: list[str], store: Path, sig: int, after: int, timeout: float = 120) -> int:
    """Run ``cmd`` and send ``sig`` once the store holds ``after`` records; its exit code."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < end:
            if _records_in(store) >= after:
                proc.send_signal(sig)
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


_FETCH_TIME = re.compile(rb' on <time datetime="[0-9TZ:-]+">[0-9TZ:-]+</time>')
MANIFEST = ".well-known/pith-mirror/manifest.json"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _site_differences(a: Path, b: Path) -> list[str]:
    """Paths whose bytes differ. The one difference allowed is when each record was downloaded:
    record pages show it (masked here), so the manifest's hashes of those pages differ too."""
    fa, fb = _files(a), _files(b)
    diffs = sorted(set(fa) ^ set(fb))
    for rel in sorted(set(fa) & set(fb)):
        x, y = fa[rel], fb[rel]
        if rel.endswith(".html"):
            x, y = _FETCH_TIME.sub(b" on <time>", x), _FETCH_TIME.sub(b" on <time>", y)
        elif rel == MANIFEST:
            ma, mb = json.loads(x), json.loads(y)
            for m in (ma, mb):
                m.pop("root_hash", None)
                for f in m.get("files", []):
                    if f["path"].endswith(".html"):
                        f.pop("sha256")
            x, y = json.dumps(ma, sort_keys=True).encode(), json.dumps(mb, sort_keys=True).encode()
        if x != y:
            diffs.append(rel)
    return diffs


def _urls_of(suffix: str, arxiv: str) -> list[str]:
    return [
        "/" + site_path(k, suffix, arxiv)
        for k in ("record", "graph", "events", "bundle", "state", "integrity")
    ]


def run_interrupted_fetch(tmp_path: Path, key: synth.TestKey, n: int, seed: int) -> None:
    rng = random.Random(seed)
    tree, suffixes = build_tree(key, n, seed=seed)
    arxiv = {}
    for path, body in tree.files.items():
        if path.endswith(".json") and path.count("/") == 2 and path.startswith("/pith/"):
            doc = json.loads(body)
            arxiv[doc["pith_number"].split(":")[2]] = doc["canonical_record"]["source"]["id"]
    keyring = tmp_path / "keyring.json"
    keyring.write_bytes(key.keyring_json())
    listing = tmp_path / "list.txt"
    listing.write_text("# records to mirror\n" + "\n".join(suffixes) + "\n")
    store = tmp_path / "store"
    with serve(tree) as server:
        cmd = _fetch_cmd(server, listing, store, keyring)
        # each response a little late while the runs are stopped part-way: on loopback a whole
        # fetch can otherwise end between two looks at the store, before the signal is sent
        server.configure(latency=0.005)
        # Ctrl-C, then SIGTERM, part-way: clean stops that keep what was committed
        rc = _interrupt(cmd, store, signal.SIGINT, after=rng.randint(1, n // 8))
        assert rc == 130, rc
        rc = _interrupt(cmd, store, signal.SIGTERM, after=rng.randint(n // 8 + 1, n // 4))
        assert rc == 130, rc
        # SIGKILL at a random point of the third run
        rc = _interrupt(cmd, store, signal.SIGKILL, after=rng.randint(n // 4 + 1, 3 * n // 4))
        assert rc == -signal.SIGKILL, rc
        with Store.open(store, readonly=True) as s:
            complete = set(s.suffixes())
            assert all(s.complete(x, ("graph", "events", "bundle", "state", "integrity")) for x in complete)
        assert 0 < len(complete) < n
        server.configure(latency=0.0)
        server.hits.clear()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert done.returncode == 0, done.stderr.decode()
        hits: Counter[str] = Counter(server.hits)
        for suffix in complete:
            asked = [u for u in _urls_of(suffix, arxiv[suffix]) if hits[u]]
            assert asked == [], f"{suffix} was complete but fetched again: {asked}"
        for suffix in set(suffixes) - complete:
            assert hits[f"/pith/{suffix}.json"] == 1

        # the same list, uninterrupted, into another store
        clean = tmp_path / "clean"
        done = subprocess.run(
            _fetch_cmd(server, listing, clean, keyring),
            cwd=REPO,
            capture_output=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        assert done.returncode == 0, done.stderr.decode()
    assert not list((store / "objects").glob("*/.tmp-*"))
    site_a, site_b = tmp_path / "site-a", tmp_path / "site-b"
    for st, site in ((store, site_a), (clean, site_b)):
        assert main(["build", "--store", str(st), "-o", str(site), "--keyring", str(keyring), "-q"]) == 0
    assert _site_differences(site_a, site_b) == []
    assert len(list((site_a / "pith").glob("*.json"))) == n


def test_interrupted_fetch_resumes(tmp_path: Path, test_key: synth.TestKey) -> None:
    seed = int(os.environ.get("PITH_MIRROR_TEST_SEED", str(random.randrange(1 << 30))))
    print(f"seed {seed}")
    run_interrupted_fetch(tmp_path, test_key, 150, seed)


@pytest.mark.slow
def test_interrupted_fetch_resumes_2000(tmp_path: Path, test_key: synth.TestKey) -> None:
    seed = int(os.environ.get("PITH_MIRROR_TEST_SEED", str(random.randrange(1 << 30))))
    print(f"seed {seed}")
    run_interrupted_fetch(tmp_path, test_key, 2000, seed)
