"""Site-wide steps give the same files from the stored columns as from plain summaries.

A build hands its steps a ``SummaryStore``, whose per-record columns (display rows, list items,
report entries and rows, mirror-index entries, search documents and terms) were made when each
record was rendered. Tools and tests hand a plain list of summaries, from which the steps make
the same things on the spot. Both must give byte-identical files."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from generator import synth
from generator.build import SITE_STEPS, SiteContext, run_build
from generator.config import Config
from generator.incremental import state_path
from generator.keyring import load_keyring
from generator.render.cached import CachedPage
from generator.render.site import OutputFile, Renderer
from generator.streamed import StreamedFile
from generator.summaries import SummaryStore
from generator.synth import dump_record, random_record


def _files(ctx: SiteContext) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for step in SITE_STEPS:
        for f in step(ctx):
            if isinstance(f, CachedPage):
                f = f.render()
            assert isinstance(f, OutputFile | StreamedFile)
            data = b"".join(f.chunks()) if isinstance(f, StreamedFile) else f.data
            out[f.dest_path] = data
    return out


def test_steps_from_columns_equal_steps_from_summaries(tmp_path: Path, test_key: synth.TestKey) -> None:
    rng = random.Random(11)
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(60):
        (folder / f"r{n}.json").write_bytes(dump_record(random_record(test_key, rng, n)))
    keyring = tmp_path / "keyring.json"
    keyring.write_bytes(test_key.keyring_json())
    cfg = Config(
        sources=(folder,),
        output=tmp_path / "site",
        keyring_files=(keyring,),
        jobs=1,
        source_date_epoch=1767225600,
        incremental=True,
        page_size=5,
        base_url="https://mirror.example/",
    )
    run_build(cfg, progress=False)
    # a copy of the build's state without the previous build's page keys: every step renders
    # all its files (no cached page or whole directory is kept)
    copy = tmp_path / "state.sqlite"
    copy.write_bytes(state_path(cfg.output).read_bytes())
    db = sqlite3.connect(copy, isolation_level=None)
    db.execute("DELETE FROM page_keys")
    store = SummaryStore(db)
    keys = load_keyring(cfg.keyring_files)
    renderer = Renderer(cfg, keys)
    common = (cfg, keys, renderer)
    from_store = _files(SiteContext(*common, store, [], "2026-01-01T00:00:00Z", cfg.output))
    from_list = _files(SiteContext(*common, list(store), [], "2026-01-01T00:00:00Z", cfg.output))
    assert len(from_store) > 100
    assert from_store.keys() == from_list.keys()
    differ = sorted(rel for rel in from_store if from_store[rel] != from_list[rel])
    assert differ == []
