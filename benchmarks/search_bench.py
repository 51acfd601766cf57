"""Search index size and time to first results, at 100,000 records by default.

    python benchmarks/search_bench.py [--records 100000] [--out DIR]

Generates signed synthetic records (generator/synth.py), turns them into the same summaries a
build hands to site-wide steps, writes the search page and index with the build's own code,
then opens the page in Chromium from file:// and over HTTP (127.0.0.1) and times queries: from
submitting the query to the first results in the page (cold: nothing loaded yet; warm: the
manifest already loaded). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, sync_playwright

from generator.config import Config
from generator.identifiers import suffix_from_hash
from generator.keyring import load_keyring
from generator.reader_site import _tool_page
from generator.render.cached import CachedPage
from generator.render.search import build_search
from generator.render.site import OutputFile, RecordSummary, Renderer
from generator.serve import serve_in_thread
from generator.synth import TestKey, random_record
from tests.chromium import ARGS, CHROMIUM


def summaries(n: int) -> list[RecordSummary]:
    key = TestKey.from_seed(b"bench")
    rng = random.Random(1)
    out = []
    for i in range(n):
        rec = random_record(key, rng, i)
        h = rec["canonical_sha256"]
        paper = rec["paper"]
        out.append(
            RecordSummary(
                suffix=suffix_from_hash(h),
                pith_number=rec["pith_number"],
                arxiv_id=rec["source"]["id"],
                version=rec["source"]["version"],
                title=paper["title"],
                authors=paper["authors_text"],
                submitted_at=paper["submitted_at"],
                primary_cat=paper["primary_cat"],
                canonical_sha256=h,
                raw_sha256=h,
                key_id=key.key_id,
                key_fingerprint=key.fingerprint,
                signed_at=rec["receipt"]["signed_at"],
                where="bench",
                checks=(),
                outputs=(),
                cross_cats=tuple(paper["cross_cats"]),
            )
        )
    return out


def write_site(out: Path, records: list[RecordSummary]) -> dict[str, float]:
    cfg = Config(output=out)
    renderer = Renderer(cfg, load_keyring(()))
    t0 = time.monotonic()
    files = [_tool_page(renderer, "search.html", "search/index.html", total=len(records), query_value="")]
    for f in build_search(records):
        made = f.render() if isinstance(f, CachedPage) else f
        assert isinstance(made, OutputFile), made  # a full build keeps no previous search/
        files.append(made)
    build_s = time.monotonic() - t0
    for f in files:
        dest = out / f.dest_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.data)
    shutil.copytree(cfg.static_dir, out / "static")
    (out / "index.html").write_text("<!doctype html><title>bench</title>")
    index = [f for f in files if f.dest_path.startswith("search/") and f.dest_path.endswith(".js")]
    terms = [f for f in index if f.dest_path.startswith("search/t/")]
    docs = [f for f in index if f.dest_path.startswith("search/d/")]
    first = sum(len(f.data) for f in files if f.dest_path in ("search/index.html", "search/manifest.js"))
    first += sum((out / "static" / n).stat().st_size for n in ("search.js", "shards.js", "style.css"))
    total = sum(len(f.data) for f in index)
    return {
        "build_s": build_s,
        "files": len(index),
        "total": total,
        "per_record": total / len(records),
        "terms_total": sum(len(f.data) for f in terms),
        "docs_total": sum(len(f.data) for f in docs),
        "largest_term": max(len(f.data) for f in terms),
        "largest_doc": max(len(f.data) for f in docs),
        "first_download": first,
    }


def time_query(page: Page, query: str) -> tuple[float, int]:
    page.evaluate("() => document.getElementById('search-results').removeAttribute('data-ms')")
    page.fill("#q-page", query)
    t0 = time.perf_counter()
    page.press("#q-page", "Enter")
    page.wait_for_selector("#search-results[data-ms]", state="attached")
    ms = (time.perf_counter() - t0) * 1000
    return ms, page.locator("#search-results li").count()


QUERIES = ["quantum", "Müller", "lattice neural", "2305.00042", "cs.LG", "hilb"]


def run_browser(root_url: str) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"cold": [], "warm": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        for query in QUERIES:
            page = browser.new_page()
            page.goto(root_url + "search/index.html")
            cold, _ = time_query(page, query)
            warm, _ = time_query(page, QUERIES[(QUERIES.index(query) + 1) % len(QUERIES)])
            results["cold"].append(cold)
            results["warm"].append(warm)
            page.close()
        browser.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="search-bench-"))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    records = summaries(args.records)
    print(f"generated {len(records)} signed records in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    stats = write_site(out, records)
    file_times = run_browser(out.as_uri() + "/")
    server, url = serve_in_thread(out)
    try:
        http_times = run_browser(url)
    finally:
        server.shutdown()
        server.server_close()
    kb = 1024
    print(f"| records | {args.records:,} |")
    print("|---|---|")
    mb = kb * kb

    def row(label: str, value: str) -> None:
        print(f"| {label} | {value} |")

    row("index files (term + document shards)", f"{stats['files']:,}")
    row("index size, total", f"{stats['total'] / mb:.1f} MB ({stats['per_record']:.0f} bytes per record)")
    row(
        "of which terms / documents",
        f"{stats['terms_total'] / mb:.1f} MB / {stats['docs_total'] / mb:.1f} MB",
    )
    row(
        "largest term shard / document shard",
        f"{stats['largest_term'] / kb:.0f} KB / {stats['largest_doc'] / kb:.0f} KB",
    )
    row(
        "first download (page, search.js, shards.js, manifest, CSS)", f"{stats['first_download'] / kb:.0f} KB"
    )
    row("index build time", f"{stats['build_s']:.1f} s")
    for name, times in (("file://", file_times), ("HTTP 127.0.0.1", http_times)):
        for kind in ("cold", "warm"):
            t = times[kind]
            row(
                f"time to first results, {name}: {kind} median / max",
                f"{statistics.median(t):.0f} ms / {max(t):.0f} ms",
            )
    print(f"| queries | {', '.join('`' + q + '`' for q in QUERIES)} |")


if __name__ == "__main__":
    main()
