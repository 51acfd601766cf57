"""Time the search index step (``generator.render.search.build_search``) on the state of a built
site, in phases.

    python benchmarks/search_step_bench.py SITE_STATE.sqlite [--repeat 3]

``SITE_STATE.sqlite`` is the build state of any incremental build (``.<site>.state.sqlite``
beside the site), opened read-only. Prints, for each run, the CPU seconds of: reading the
records' documents and terms oldest first, building the postings, laying them out by term,
splitting the leaves, the leaves' keys and the document shards' keys (together: what an
incremental build pays when no shard changed), and rendering every shard (what a clean build
adds). The script holds every row in memory to time the phases apart; the step itself streams
the documents into their shards.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.render import search
from generator.summaries import SummaryStore


def run(store: SummaryStore) -> dict[str, float]:
    clock = time.process_time
    t0 = clock()
    rows = list(search._with_terms(store))
    t1 = clock()
    postings = search.Postings()
    for n, (_doc, terms) in enumerate(rows):
        postings.add_document(n, terms)
    t2 = clock()
    postings.finish()
    t3 = clock()
    leaves = search._split_leaves(postings)
    t4 = clock()
    leaf_pages = [search._leaf(postings, prefix, lo, hi) for prefix, lo, hi in leaves]
    t5 = clock()
    docs = [doc for doc, _terms in rows]
    step = search.DOCS_PER_SHARD
    doc_pages = [search._doc_shard(k // step, docs[k : k + step]) for k in range(0, len(docs), step)]
    t6 = clock()
    for page in (*doc_pages, *leaf_pages):
        page.render()
    t7 = clock()
    return {
        "read": t1 - t0,
        "postings": t2 - t1,
        "by term": t3 - t2,
        "leaves": t4 - t3,
        "leaf keys": t5 - t4,
        "doc keys": t6 - t5,
        "keys only": t6 - t0,
        "render all": t7 - t6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db = sqlite3.connect(f"file:{args.state}?mode=ro", uri=True, isolation_level=None)
    db.execute("PRAGMA cache_size=-16384")  # as summaries.connect
    store = SummaryStore(db)
    print(f"{len(store)} records")
    for _ in range(args.repeat):
        times = run(store)
        print(" | ".join(f"{k} {v:.3f}" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
