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
