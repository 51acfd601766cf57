"""The site manifest, /pith-mirrors.json, signing keys, and what record pages may depend on."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from generator.errors import JsonError, UsageError
from generator.manifest import (
    MANIFEST_PATH,
    PUBLIC_KEY_PATH,
    SIGNATURE_PATH,
    FileEntry,
    parse_manifest,
    root_hash,
    scan_site,
)
from generator.signing import generate_key, load_public_key, load_signing_key, parse_public_key

RECORDS = Path(__file__).parents[2] / "content" / "records"
FIXTURE_MIRRORS = Path(__file__).parents[1] / "fixtures" / "pith-mirrors.json"


def test_root_hash_is_the_documented_rule() -> None:
    entries = [
        FileEntry("b/x.html", 3, "b" * 64),
        FileEntry("a.json", 0, "a" * 64),
        FileEntry("a/z", 1, "c" * 64),
    ]
    lines = f"{'a' * 64} 0 a.json\n{'c' * 64} 1 a/z\n{'b' * 64} 3 b/x.html\n"
    assert root_hash(entries) == hashlib.sha256(lines.encode()).hexdigest()
    assert root_hash(reversed(entries)) == root_hash(entries)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("manifest")
    generate_key(root / "op.key")
    out = root / "site"
    assert main(["build", "-o", str(out), "--sign-key", str(root / "op.key"), "-q"]) == 0
    return {"root": root, "site": out}


def test_manifest_lists_every_file_but_itself(built: dict[str, Path]) -> None:
    site = built["site"]
    raw = (site / MANIFEST_PATH).read_bytes()
    manifest = parse_manifest(raw, "m")
    listed = {e.path for e in manifest.files}
    on_disk = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert on_disk - listed == {MANIFEST_PATH, SIGNATURE_PATH, PUBLIC_KEY_PATH}
    assert listed <= on_disk
    for e in manifest.files:
        data = (site / e.path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (e.size, e.sha256)
    assert manifest.root_hash == root_hash(scan_site(site))
    doc = json.loads(raw)
    assert doc["generator"].startswith("pith-mirror/")
    assert doc["upstream"] == "https://pith.science"
    assert doc["build_time"] == "2026-05-26T02:04:46Z"
    assert [k["fingerprint_sha256_hex"] for k in doc["keyring"]] == ["8d4b5ee74e4693bcd1df2446408b0d54"]
    assert doc["record_count"] == 3
    pub = load_signing_key(built["root"] / "op.key").public
    assert doc["operator_key"]["public_key_hex"] == pub.hex
    assert pub.verify((site / SIGNATURE_PATH).read_bytes(), raw)
    assert parse_public_key((site / PUBLIC_KEY_PATH).read_bytes(), "pem") == pub


def test_signed_builds_are_byte_identical(built: dict[str, Path], tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["build", "-o", str(again), "--sign-key", str(built["root"] / "op.key"), "-q"]) == 0
    for rel in (MANIFEST_PATH, SIGNATURE_PATH, PUBLIC_KEY_PATH, "pith-mirrors.json"):
        assert (again / rel).read_bytes() == (built["site"] / rel).read_bytes(), rel


def test_pith_mirrors_json_has_pith_shape(built: dict[str, Path]) -> None:
    ours = json.loads((built["site"] / "pith-mirrors.json").read_bytes())
    pith = json.loads(FIXTURE_MIRRORS.read_bytes())
    assert set(pith) - {"generated_at"} <= set(ours)
    assert ours["manifest_type"] == pith["manifest_type"]
    this, upstream = ours["mirrors"]
    # the upstream entry is Pith's own, field for field
    assert upstream == pith["mirrors"][0]
    assert set(pith["mirrors"][0]) <= set(this)
    assert this["status"] == "mirror"
    assert this["public_key"] == pith["mirrors"][0]["public_key"]
    assert this["bundle_pattern"] == "/pith/{suffix}/bundle.json"
    assert this["site_manifest"] == "/" + MANIFEST_PATH


def test_pith_mirrors_json_uses_base_url(tmp_path: Path) -> None:
    out = tmp_path / "s"
    assert main(["build", "-o", str(out), "--base-url", "https://m.example.org/x/", "-q"]) == 0
    this = json.loads((out / "pith-mirrors.json").read_bytes())["mirrors"][0]
    assert this["base_url"] == "https://m.example.org/x"
    assert this["state_pattern"] == "https://m.example.org/x/pith/{suffix}/state.json"
    assert this["operator_key"] is None
    manifest = json.loads((out / MANIFEST_PATH).read_bytes())
    assert manifest["operator_key"] is None and not (out / SIGNATURE_PATH).exists()


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(manifest_type="x"), "manifest_type"),
        (
            lambda d: d["files"].append({"path": "../etc/passwd", "size": 1, "sha256": "0" * 64}),
            "plain relative",
        ),
        (lambda d: d["files"].append(dict(d["files"][0])), "listed twice"),
        (lambda d: d["files"][0].update(size=-1), "size"),
        (lambda d: d["files"][0].update(sha256="Z" * 64), "sha256"),
        (
            lambda d: d["files"].append({"path": MANIFEST_PATH, "size": 1, "sha256": "0" * 64}),
            "manifest file",
        ),
        (lambda d: d.pop("root_hash"), "root_hash"),
    ],
)
def test_parse_manifest_refuses_bad_shapes(
    built: dict[str, Path], mutate: Callable[[dict[str, Any]], object], needle: str
) -> None:
    doc = json.loads((built["site"] / MANIFEST_PATH).read_bytes())
    mutate(doc)
    with pytest.raises(JsonError) as err:
        parse_manifest(json.dumps(doc).encode(), "m")
    assert err.value.code == "manifest_invalid"
    assert needle in err.value.detail


def test_public_key_forms(tmp_path: Path) -> None:
    pub = generate_key(tmp_path / "k")
    assert load_public_key(pub.hex) == pub
    assert load_public_key(str(tmp_path / "k.pub")) == pub
    (tmp_path / "hex").write_text(pub.hex + "\n")
    assert load_public_key(str(tmp_path / "hex")) == pub
    with pytest.raises(UsageError):
        load_public_key(str(tmp_path / "k"))  # the private key is not a public key
    with pytest.raises(UsageError):
        load_public_key(str(tmp_path / "missing"))


def test_record_pages_do_not_depend_on_build_time_or_other_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same record gives the same page whatever else is built with it, and whenever."""
    one = tmp_path / "one"
    one.mkdir()
    seed = sorted(RECORDS.glob("*.json"))[0]
    shutil.copy(seed, one / seed.name)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1900000000")
    assert main(["build", str(one), "-o", str(tmp_path / "a"), "-q"]) == 0
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert main(["build", str(RECORDS), "-o", str(tmp_path / "b"), "-q"]) == 0
    rel = f"pith/{seed.stem}/index.html"
    page_a = (tmp_path / "a" / rel).read_bytes()
    assert page_a == (tmp_path / "b" / rel).read_bytes()
    assert b"loaded from local files" in page_a
    index_a = (tmp_path / "a" / "index.html").read_text()
    assert "2030-03-17T17:46:40Z" in index_a  # site-wide pages show the build time
    assert "2030-03-17" not in page_a.decode()


@pytest.mark.parametrize(
    ("origin", "linked"),
    [("https://pith.science/pith/X.json", True), ("javascript:alert(1)//pith", False)],
)
def test_record_footer_shows_the_record_provenance(origin: str, linked: bool) -> None:
    from generator.config import Config
    from generator.keyring import Keyring
    from generator.render.site import Renderer
    from generator.sources import RawRecord
    from generator.verify import verify_record

    seed = sorted(RECORDS.glob("*.json"))[0]
    raw = RawRecord(seed.read_bytes(), str(seed), origin_url=origin, fetched_at="2026-05-27T10:00:00Z")
    rec = verify_record(raw, Keyring.default())
    files, _summary = Renderer(Config(), Keyring.default()).render_record(rec)
    page = next(f for f in files if f.dest_path.endswith(f"{seed.stem}/index.html")).data.decode()
    footer = page[page.index('<p class="provenance">') :]
    assert "was downloaded from" in footer
    assert "2026-05-27T10:00:00Z" in footer
    assert "pith-v1-2026-05" in footer
    assert (f'href="{origin}"' in footer) is linked
    assert "javascript:" not in footer.split("<code>")[0]


PN = "pith:2026:75T7H6BVKLX2X7KPYCGRY4USAC"
H = "ff67f3f83552efabfd4fc08d1c729200851a441688b80aa5cd932bb6e8a70dbc"


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        (
            f'<article title="a>b" data-pith-number="{PN}" data-canonical-sha256="{H}"><p>{PN}</p><i>{H}</i>',
            None,
        ),
        (f"<ARTICLE data-pith-number='{PN}' data-canonical-sha256={H}><p>{PN} {H}</p>", None),
        (f'<article data-pith-number="{PN}" data-canonical-sha256="{H}"><p>{PN}</p><!-- {H} -->', "hash"),
        (f'<article data-pith-number="{PN}" data-canonical-sha256="{H}"><script>"{PN} {H}"</script>', "pith"),
        (f'<article data-pith-number="{PN}" data-canonical-sha256="{H}"><p>{PN}</p><style>{H}', "hash"),
        (f'<article data-pith-number="{PN}" data-canonical-sha256="{H}"><p title="{H}">{PN}</p>', "hash"),
        (f"<main><p>{PN} {H}</p></main>", "no <article"),
        (
            f'<article data-pith-number="{PN}" data-canonical-sha256="{H.upper()}"><p>{PN} {H}</p>',
            "data-canonical",
        ),
    ],
)
def test_record_page_facts(page: str, problem: str | None) -> None:
    from generator.sitecheck import check_record_page

    found = check_record_page(page.encode(), PN, H)
    assert (found is None) if problem is None else (found is not None and problem in found), found


@pytest.mark.timeout(10)
def test_record_page_facts_are_linear_on_hostile_pages() -> None:
    from generator.sitecheck import read_page_facts

    for page in ("<article " * 200_000, "<script " * 200_000, "<!--" * 200_000, '<a "' + "<a " * 200_000):
        assert read_page_facts(page.encode()).problem is not None
