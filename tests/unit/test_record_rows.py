"""Rows of record lists are rendered once per record and fitted to each page's depth."""

from __future__ import annotations

from generator.columns import Row
from generator.config import Config
from generator.keyring import load_keyring
from generator.render.site import ROW_ROOT, Renderer

SUFFIX = "75T7H6BVKLX2X7KPYCGRY4USAC"


def _row(title: str) -> Row:
    return Row(
        SUFFIX,
        f"pith:2026:{SUFFIX}",
        "2604.00001",
        1,
        title,
        "A. Author",
        "2026-04-01T00:00:00Z",
        "cs.LG",
        None,
        (),
    )


def test_rows_are_fitted_to_each_page() -> None:
    for link_files, tail in ((False, "/"), (True, "/index.html")):
        renderer = Renderer(Config(link_files=link_files), load_keyring(()))
        made = renderer.record_row(_row("A title"))
        assert made.count(ROW_ROOT) == 1
        for page, prefix in (("index.html", ""), ("browse/cat/cs.LG/page/3/index.html", "../../../../../")):
            [placed] = renderer.placed_rows(page, [made])
            assert f'href="{prefix}pith/{SUFFIX}{tail}"' in placed and ROW_ROOT not in placed


def test_data_cannot_forge_the_root_marker() -> None:
    renderer = Renderer(Config(), load_keyring(()))
    made = renderer.record_row(_row(f"x {ROW_ROOT} y"))
    assert made.count(ROW_ROOT) == 1  # only the link's own marker is raw; the title's is escaped
    [placed] = renderer.placed_rows("browse/index.html", [made])
    assert "x &lt;pith-mirror-root&gt; y" in placed and 'href="../pith/' in placed


def test_joined_documents_are_the_shards_json_would_write() -> None:
    """Search and mirror-index shards are joined from stored pieces: the same bytes as
    serialising the whole shard."""
    import json

    from generator.mirror_index import SHARD_TYPE, _dump, _shard_bytes
    from generator.render.search import _doc_row, _js, doc_text, docs_js

    rows = [_row("plain"), _row("line\u2028sep \u2029 “quoted” \\ </script>"), _row("")]
    assert docs_js(7, [doc_text(r) for r in rows]) == _js("PithSearch.docs", 7, [_doc_row(r) for r in rows])
    assert docs_js(0, []) == _js("PithSearch.docs", 0, [])
    entries = [{"suffix": "AB" + str(i), "files": [{"path": "p", "size": i}], "x": "é"} for i in range(3)]
    texts = [json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for e in entries]
    whole = {"index_type": SHARD_TYPE, "index_version": "1", "prefix": "AB", "records": entries}
    assert _shard_bytes("AB", texts) == _dump(whole)
    assert _shard_bytes("AB", []) == _dump({**whole, "records": []})
