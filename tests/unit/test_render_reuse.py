"""Pages the renderer takes from another render instead of rendering again are the same bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from generator.config import Config
from generator.keyring import load_keyring
from generator.render.site import Renderer, record_view
from generator.sources import RawRecord
from generator.synth import TestKey, dump_record, make_record, random_record
from generator.verify.record import verify_record
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("base_url", "link_files"),
    [(None, False), (None, True), ("https://mirror.example/", False), ("https://mirror.example/sub/", True)],
)
def test_paper_page_equals_its_own_render(
    tmp_path: Path, test_key: TestKey, base_url: str | None, link_files: bool
) -> None:
    keyring_path = tmp_path / "keyring.json"
    keyring_path.write_bytes(test_key.keyring_json())
    keyring = load_keyring((keyring_path,))
    renderer = Renderer(Config(base_url=base_url, link_files=link_files), keyring)
    rng = random.Random(3)
    docs = [random_record(test_key, rng, i) for i in range(20)]
    docs.append(make_record(test_key, title='<script>alert(1)</script> & $x^2$ "quoted"'))
    docs.append(make_record(test_key, arxiv_id="2601.00002", title=""))
    for doc in docs:
        rec = verify_record(RawRecord(dump_record(doc), "test"), keyring)
        files, summary = renderer.render_record(rec)
        by_path = {f.dest_path: f.data for f in files}
        short8 = rec.short_pith_number[5:]
        expected = renderer.paper_redirect(short8, [(rec.suffix, summary.title)])
        assert by_path[expected.dest_path] == expected.data


def test_canonical_text_on_the_record_page_is_json_dumps(tmp_path: Path, test_key: TestKey) -> None:
    """The record page's canonical record is ``json.dumps(indent=2, sort_keys=True,
    ensure_ascii=False)`` of it, for the bundled Pith records and for varied synthetic ones."""
    keyring_path = tmp_path / "keyring.json"
    keyring_path.write_bytes(test_key.keyring_json())
    keyring = load_keyring((keyring_path,))  # Pith's own key and the test key
    raws = [RawRecord(p.read_bytes(), p.name) for p in sorted((REPO / "content" / "records").glob("*.json"))]
    assert raws
    rng = random.Random(5)
    raws += [RawRecord(dump_record(random_record(test_key, rng, i)), "test") for i in range(30)]
    for rec in (verify_record(raw, keyring) for raw in raws):
        expected = json.dumps(rec.canonical, indent=2, sort_keys=True, ensure_ascii=False)
        assert record_view(rec)["canonical_pretty"] == expected
