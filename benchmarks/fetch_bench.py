"""Benchmark (not a test): fetch N records from a loopback server, against a plain loop.

    python benchmarks/fetch_bench.py [N] [--endpoints all|none] [--concurrency 8] [--latency MS]

A pith.science-like tree of N records signed by a test key is served on 127.0.0.1 by a separate
process (the threaded test server, tests/integration/pith_server.py). In the same run the script
measures:

1. a plain sequential ``httpx.Client`` loop over the same URLs (no verification, no storage):
   the floor a naive downloader reaches against this server;
2. ``pith-mirror fetch`` into a fresh store (verify every record, check every endpoint copy,
   content-addressed objects, one SQLite transaction per record), with and without fsync;
3. a re-run over the complete store (nothing is requested).

and prints records per second for each.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from generator.fetch import FetchOptions  # noqa: E402
from generator.fetch_cli import fetch_into  # noqa: E402
from generator.keyring import load_keyring  # noqa: E402
from generator.net import HttpSettings  # noqa: E402
from generator.sources.remote import parse_kinds, parse_wanted  # noqa: E402
from generator.store import Store  # noqa: E402
from generator.synth import TestKey  # noqa: E402

SEED = b"pith-mirror fetch benchmark"

# what the server process sends once it listens: its URL, the record SUFFIXes and every path
Served = tuple[str, list[str], list[str]]


def _serve(n: int, latency: float, ready: Queue[Served], stop: Event) -> None:
    from tests.integration.pith_server import build_tree, serve

    tree, suffixes = build_tree(TestKey.from_seed(SEED), n)
    with serve(tree) as server:
        server.configure(latency=latency)
        ready.put((server.url, suffixes, sorted(tree.files)))
        stop.wait()


def _plain(urls: list[str]) -> float:
    t0 = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for url in urls:
            resp = client.get(url)
            resp.raise_for_status()
    return time.perf_counter() - t0


def _fetch(store: Path, base: str, names: list[str], kinds: str, concurrency: int, durable: bool) -> float:
    keyring_file = store.parent / "keyring.json"
    keyring_file.write_bytes(TestKey.from_seed(SEED).keyring_json())
    keyring = load_keyring([keyring_file])
    options = FetchOptions(base_url=base, kinds=parse_kinds(kinds))
    settings = HttpSettings(concurrency=concurrency, rate=0)
    wanted = [parse_wanted(n) for n in names]
    t0 = time.perf_counter()
    with Store.open(store, durable=durable) as st:
        st.lock()
        report = asyncio.run(fetch_into(st, keyring, options, settings, wanted, progress=False))
    elapsed = time.perf_counter() - t0
    if report.failures:
        raise SystemExit(f"fetch failed: {report.failures[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("n", nargs="?", type=int, default=10_000, help="records (default 10,000)")
    parser.add_argument("--endpoints", default="all", help="endpoints per record: all or none (default all)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="milliseconds the server waits before each answer (default 0)",
    )
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    ready: Queue[Served] = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(args.n, args.latency / 1000, ready, stop), daemon=True)
    proc.start()
    base, suffixes, paths = ready.get(timeout=600)
    kinds = parse_kinds(args.endpoints)
    if not kinds:
        paths = [f"/pith/{s}.json" for s in suffixes]
    urls = [base + p for p in paths]
    work = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    try:
        plain = _plain(urls)
        fsync = _fetch(work / "store-fsync", base, suffixes, args.endpoints, args.concurrency, True)
        nofsync = _fetch(work / "store", base, suffixes, args.endpoints, args.concurrency, False)
        rerun = _fetch(work / "store", base, suffixes, args.endpoints, args.concurrency, False)
    finally:
        stop.set()
        proc.join(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    n = args.n
    print(
        f"{n} records, endpoints {args.endpoints}: {len(urls)} URLs, loopback server in its own process, "
        f"{args.latency:g} ms added latency"
    )
    print(f"{'':44}{'seconds':>10}{'records/s':>12}{'requests/s':>12}")
    rows = [
        ("plain sequential httpx loop (no checks)", plain, len(urls)),
        (f"pith-mirror fetch, concurrency {args.concurrency}, fsync", fsync, len(urls)),
        (f"pith-mirror fetch, concurrency {args.concurrency}, --no-fsync", nofsync, len(urls)),
        ("re-run over the complete store", rerun, 0),
    ]
    for label, secs, requests in rows:
        print(f"{label:44}{secs:10.2f}{n / secs:12,.0f}{requests / secs:12,.0f}")


if __name__ == "__main__":
    main()
