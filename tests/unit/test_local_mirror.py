"""Mirror-shaped local trees: which files are records, which documents are attached to them."""

from __future__ import annotations

import json
from pathlib import Path

from generator.sources.local import integrity_index, is_mirror_tree, list_files, load_records
from generator.synth import TestKey as SigningKey
from generator.synth import dump_doc, make_record, mirror_files


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def _suffix(rec: dict[str, object]) -> str:
    return str(rec["pith_number"]).rsplit(":", 1)[1]


def test_flat_directory_is_unchanged(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_bytes(dump_doc(rec))
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "y.json").write_bytes(b"{}")
    assert not is_mirror_tree(tmp_path / "a")
    assert [p.name for p in list_files(tmp_path / "a")] == ["x.json", "y.json"]
    [raw, _other] = list(load_records([tmp_path / "a"]))
    assert raw.endpoints == ()


def test_mirror_tree_records_and_sidecars(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key, arxiv_id="2604.20237")
    files = mirror_files(test_key, rec)
    suffix = _suffix(rec)
    files[f"api/pith-number/{suffix}/graph.json"] = b'{"graph": 1}'
    files[f"api/pith-number/{suffix}/events.json"] = b'{"events": []}'
    files["pith/notarecord.json"] = b"{}"
    files["verification.json"] = b"{}"
    files[f"pith/{suffix}/index.html"] = b"<p>page</p>"
    _write(tmp_path, files)
    assert is_mirror_tree(tmp_path)
    assert [p.name for p in list_files(tmp_path)] == [f"{suffix}.json"]
    [raw] = list(load_records([tmp_path]))
    got = dict(raw.endpoints)
    assert sorted(got) == ["bundle", "events", "graph", "integrity", "state"]
    for kind, rel in (
        ("bundle", f"pith/{suffix}/bundle.json"),
        ("state", f"pith/{suffix}/state.json"),
        ("integrity", "pith/2604.20237/integrity.json"),
        ("graph", f"api/pith-number/{suffix}/graph.json"),
    ):
        assert got[kind] == files[rel]
    # one record file named directly also gets its sidecars
    [single] = list(load_records([tmp_path / "pith" / f"{suffix}.json"]))
    assert dict(single.endpoints) == got


def test_well_known_bundle_is_a_fallback(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key)
    files = mirror_files(test_key, rec, state={}, integrity={})
    suffix = _suffix(rec)
    files[f".well-known/pith/{suffix}/bundle.json"] = files.pop(f"pith/{suffix}/bundle.json")
    _write(tmp_path, files)
    [raw] = list(load_records([tmp_path]))
    assert [k for k, _ in raw.endpoints] == ["bundle"]


def test_old_style_integrity_and_index(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key, arxiv_id="hep-th/9901001", submitted_at="1999-01-01T00:00:00Z")
    _write(tmp_path, mirror_files(test_key, rec))
    (tmp_path / "pith" / "not..an.id").mkdir()
    (tmp_path / "pith" / "not..an.id" / "integrity.json").write_bytes(b"{}")
    index = integrity_index(tmp_path)
    assert list(index) == ["hep-th/9901001"]
    [raw] = list(load_records([tmp_path]))
    assert json.loads(dict(raw.endpoints)["integrity"])["arxiv_id"] == "hep-th/9901001"


def test_unparsable_record_gets_no_integrity(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key)
    files = mirror_files(test_key, rec)
    suffix = _suffix(rec)
    files[f"pith/{suffix}.json"] = files[f"pith/{suffix}.json"][:-1]
    _write(tmp_path, files)
    [raw] = list(load_records([tmp_path]))
    assert "integrity" not in dict(raw.endpoints)


def test_oversized_and_symlinked_sidecars(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key)
    files = mirror_files(test_key, rec, integrity={})
    suffix = _suffix(rec)
    files[f"pith/{suffix}/bundle.json"] = b" " * 5000
    _write(tmp_path, files)
    state = tmp_path / "pith" / suffix / "state.json"
    state.unlink()
    state.symlink_to(tmp_path / "pith" / f"{suffix}.json")
    [raw] = list(load_records([tmp_path], max_bytes=4000))
    got = dict(raw.endpoints)
    assert len(got["bundle"]) == 4001  # a bounded prefix: strict JSON names it too_large
    assert "state" not in got


def test_derived_files_of_a_built_site_are_not_endpoints(tmp_path: Path, test_key: SigningKey) -> None:
    rec = make_record(test_key)
    suffix = _suffix(rec)
    files = mirror_files(test_key, rec, bundle={}, integrity={})
    files[f"api/pith-number/{suffix}/graph.json"] = b'{\n "pith_mirror_derived": true\n}\n'
    _write(tmp_path, files)
    [raw] = list(load_records([tmp_path]))
    assert raw.endpoints == ()
