"""The issue's check: build, sign, archive, unpack elsewhere, verify-site; then tamper, one at a time."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from generator import synth as synthmod
from generator.cli import main
from generator.keyring import Keyring, load_keyring
from generator.manifest import MANIFEST_PATH, make_manifest, parse_manifest, scan_site
from generator.net import HttpSettings
from generator.signing import PublicKey, generate_key, load_signing_key
from generator.sitecheck import DirSource, HttpSource, verify_site
from generator.synth import dump_record, make_record

SEED_SUFFIX = "75T7H6BVKLX2X7KPYCGRY4USAC"
LATER = datetime(2026, 6, 1, tzinfo=UTC)  # a few days after the bundled records were signed
FAST = HttpSettings(rate=0, retries=1, backoff=0.01)  # loopback: no politeness delay needed


@pytest.fixture(scope="module")
def signed_build(tmp_path_factory: pytest.TempPathFactory, test_key: synthmod.TestKey) -> dict[str, Path]:
    """Bundled real records plus a synthetic one with non-ASCII text, built and signed once."""
    root = tmp_path_factory.mktemp("trust")
    inputs = root / "in"
    inputs.mkdir()
    for rec in sorted((Path(__file__).parents[2] / "content" / "records").glob("*.json")):
        shutil.copy(rec, inputs / rec.name)
    synth = make_record(
        test_key, title="Über café: $\\eta^\\prime$ 𝔊 «quoted» </script>", arxiv_id="2601.00042"
    )
    (inputs / "synth.json").write_bytes(dump_record(synth))
    keyring = root / "keyring.json"
    keyring.write_bytes(test_key.keyring_json())
    generate_key(root / "op.key")
    generate_key(root / "other.key")
    site = root / "site"
    argv = ["build", str(inputs), "-o", str(site), "--keyring", str(keyring), "-q"]
    assert main([*argv, "--sign-key", str(root / "op.key")]) == 0
    return {"root": root, "site": site, "keyring": keyring, "inputs": inputs}


def _verify(site: Path, keyring: Path, pub: Path | None) -> tuple[int, list[str]]:
    kr = load_keyring([keyring])
    key = PublicKey(load_signing_key(pub.with_suffix("")).public.raw) if pub else None
    report = verify_site(DirSource(site), kr, key=key, now=LATER)
    return (0 if report.ok else 1), sorted(p.code for p in report.problems)


@pytest.fixture
def unpacked(signed_build: dict[str, Path], tmp_path: Path) -> Path:
    """The signed site, archived, then unpacked somewhere else."""
    out = tmp_path / "dist" / "mirror"
    assert main(["archive", str(signed_build["site"]), "-o", str(out), "-q"]) == 0
    dest = tmp_path / "elsewhere"
    with tarfile.open(out.with_name("mirror.tar.gz")) as tar:
        tar.extractall(dest, filter="data")
    return dest / "mirror"


def test_signed_archive_unpacked_elsewhere_verifies(signed_build: dict[str, Path], unpacked: Path) -> None:
    root = signed_build["root"]
    argv = ["verify-site", str(unpacked), "--key", str(root / "op.key.pub"), "-q"]
    assert main([*argv, "--keyring", str(signed_build["keyring"])]) == 0
    report = verify_site(
        DirSource(unpacked),
        load_keyring([signed_build["keyring"]]),
        key=load_signing_key(root / "op.key").public,
        now=LATER,
    )
    assert report.ok, report.problems
    assert report.records_checked == 4
    assert report.signed_by == load_signing_key(root / "op.key").public.fingerprint_hex
    assert not any("days old" in w for w in report.warnings)


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("page_byte", ["file_hash_mismatch"]),
        ("json_byte", ["file_hash_mismatch", "invalid_json"]),
        ("manifest_byte", ["bad_manifest_signature"]),
        ("add_file", ["file_unlisted"]),
        ("delete_file", ["file_missing"]),
        ("other_key", ["signing_key_mismatch"]),
        ("unsigned", ["signature_missing"]),
    ],
)
def test_each_tampering_is_caught_and_named(
    signed_build: dict[str, Path], unpacked: Path, tamper: str, expected: list[str]
) -> None:
    root = signed_build["root"]
    page = unpacked / "pith" / SEED_SUFFIX / "index.html"
    copy = unpacked / "pith" / f"{SEED_SUFFIX}.json"
    wk = unpacked / ".well-known" / "pith-mirror"
    if tamper == "page_byte":
        _flip_byte(page)
    elif tamper == "json_byte":
        data = copy.read_bytes()
        copy.write_bytes(data.replace(b'"canonical_sha256":"', b'"canonical_sha256" "', 1))
    elif tamper == "manifest_byte":
        raw = (wk / "manifest.json").read_bytes()
        (wk / "manifest.json").write_bytes(
            raw.replace(b'"generator": "pith-mirror/', b'"generator": "pith-mirroR/')
        )
    elif tamper == "add_file":
        (unpacked / "pith" / "extra.html").write_text("<p>planted</p>")
    elif tamper == "delete_file":
        (unpacked / "robots.txt").unlink()
    elif tamper == "other_key":
        other = load_signing_key(root / "other.key")
        (wk / "manifest.sig").write_bytes(other.sign((wk / "manifest.json").read_bytes()))
        (wk / "signing-key.pem").write_bytes(other.public.pem())
    elif tamper == "unsigned":
        (wk / "manifest.sig").unlink()
        (wk / "signing-key.pem").unlink()
    rc, codes = _verify(unpacked, signed_build["keyring"], root / "op.key.pub")
    assert rc == 1
    assert codes == expected
    argv = ["verify-site", str(unpacked), "--key", str(root / "op.key.pub"), "-q"]
    assert main([*argv, "--keyring", str(signed_build["keyring"])]) == 1


def _reseal(site: Path, key_file: Path) -> None:
    """Rewrite the manifest and signature to match the tree (an attacker with the operator's key)."""
    wk = site / ".well-known" / "pith-mirror"
    old = parse_manifest((wk / "manifest.json").read_bytes(), "manifest")
    key = load_signing_key(key_file)
    data = make_manifest(
        scan_site(site),
        build_time=old.build_time,
        build_time_basis="test",
        upstream="https://pith.science",
        base_url=None,
        record_count=4,
        keyring=Keyring.default().describe(),
        operator_key=key.public,
    )
    (wk / "manifest.json").write_bytes(data)
    (wk / "manifest.sig").write_bytes(key.sign(data))


def test_records_are_checked_even_when_the_manifest_agrees(
    signed_build: dict[str, Path], unpacked: Path
) -> None:
    """A consistent manifest does not make a bad record good: each copy is re-verified."""
    root = signed_build["root"]
    copy = unpacked / "pith" / f"{SEED_SUFFIX}.json"
    doc = json.loads(copy.read_bytes())
    sig = bytearray(base64.b64decode(doc["receipt"]["signature_b64"]))
    sig[5] ^= 0x10
    doc["receipt"]["signature_b64"] = base64.b64encode(bytes(sig)).decode()
    copy.write_bytes(json.dumps(doc).encode())
    page = unpacked / "pith" / "QVJLU2XL6QPRVRKFFVZUINAMO6" / "index.html"
    html = page.read_text()
    page.write_text(html.replace('data-pith-number="pith:', 'data-pith-number="pith:X', 1))
    _reseal(unpacked, root / "op.key")
    rc, codes = _verify(unpacked, signed_build["keyring"], root / "op.key.pub")
    assert rc == 1
    assert codes == ["bad_signature", "record_page_mismatch"]


def test_unpinned_record_key_is_refused(signed_build: dict[str, Path], unpacked: Path) -> None:
    """Without the keyring that pins the synthetic record's key, that record does not verify."""
    report = verify_site(DirSource(unpacked), Keyring.default(), now=LATER)
    assert [p.code for p in report.problems] == ["unknown_key"]
    assert any("--key" in w for w in report.warnings)  # signature checked only against the site's own key


def test_missing_manifest_and_bad_root_hash(signed_build: dict[str, Path], unpacked: Path) -> None:
    wk = unpacked / ".well-known" / "pith-mirror"
    doc = json.loads((wk / "manifest.json").read_bytes())
    doc["root_hash"]["value"] = "0" * 64
    (wk / "manifest.json").write_text(json.dumps(doc))
    (wk / "manifest.sig").unlink()
    (wk / "signing-key.pem").unlink()
    report = verify_site(DirSource(unpacked), load_keyring([signed_build["keyring"]]), now=LATER)
    assert [p.code for p in report.problems] == ["root_hash_mismatch", "signature_missing"]
    (wk / "manifest.json").unlink()
    report = verify_site(DirSource(unpacked), load_keyring([signed_build["keyring"]]), now=LATER)
    assert [p.code for p in report.problems] == ["manifest_missing"]


def test_symlink_in_site_is_reported(signed_build: dict[str, Path], unpacked: Path) -> None:
    (unpacked / "robots.txt").unlink()
    (unpacked / "robots.txt").symlink_to("/etc/hostname")
    report = verify_site(DirSource(unpacked), load_keyring([signed_build["keyring"]]), now=LATER)
    assert [p.code for p in report.problems] == ["file_unreadable"]


def test_stale_mirror_warns(signed_build: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    report = verify_site(
        DirSource(signed_build["site"]),
        load_keyring([signed_build["keyring"]]),
        max_age_days=1,
        now=datetime(2026, 7, 1, tzinfo=UTC),
    )
    assert report.ok
    assert any("days old" in w and "--max-age 1" in w for w in report.warnings)
    argv = ["verify-site", str(signed_build["site"]), "--keyring", str(signed_build["keyring"])]
    assert main([*argv, "--max-age", "0"]) == 0
    assert "days old" in capsys.readouterr().err


@pytest.fixture
def http_site(signed_build: dict[str, Path]) -> Iterator[str]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(signed_build["site"]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_verify_over_http(signed_build: dict[str, Path], http_site: str) -> None:
    root = signed_build["root"]
    key = load_signing_key(root / "op.key").public
    with HttpSource(http_site, settings=FAST) as src:
        report = verify_site(src, load_keyring([signed_build["keyring"]]), key=key, now=LATER)
    assert report.ok, report.problems
    assert report.records_checked == 4
    assert any("cannot be listed" in w for w in report.warnings)
    argv = ["verify-site", http_site, "--key", key.hex, "--keyring", str(signed_build["keyring"]), "-q"]
    assert main(argv) == 0


def test_verify_over_http_names_missing_and_wrong_key(
    signed_build: dict[str, Path], http_site: str, tmp_path: Path
) -> None:
    other = generate_key(tmp_path / "k")
    with HttpSource(http_site + "nothing-here/", settings=FAST) as src:
        report = verify_site(src, load_keyring([signed_build["keyring"]]), now=LATER)
    assert [p.code for p in report.problems] == ["manifest_missing"]
    with HttpSource(http_site, settings=FAST) as src:
        report = verify_site(src, load_keyring([signed_build["keyring"]]), key=other, now=LATER)
    assert [p.code for p in report.problems] == ["signing_key_mismatch"]


def test_archives_are_byte_identical_and_hold_the_manifest(
    signed_build: dict[str, Path], tmp_path: Path
) -> None:
    site = signed_build["site"]
    assert main(["archive", str(site), "-o", str(tmp_path / "a" / "mirror"), "-q"]) == 0
    # a second build of the same input, in another place, archived again
    again = tmp_path / "site2"
    root = signed_build["root"]
    argv = ["build", str(signed_build["inputs"]), "-o", str(again), "--keyring", str(signed_build["keyring"])]
    assert main([*argv, "--sign-key", str(root / "op.key"), "-q"]) == 0
    assert main(["archive", str(again), "-o", str(tmp_path / "b" / "mirror"), "-q"]) == 0
    for ext in ("tar.gz", "zip"):
        a = (tmp_path / "a" / f"mirror.{ext}").read_bytes()
        b = (tmp_path / "b" / f"mirror.{ext}").read_bytes()
        assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest(), ext
    tgz = (tmp_path / "a" / "mirror.tar.gz").read_bytes()
    assert tgz[:4] == b"\x1f\x8b\x08\x00"  # gzip, no FNAME flag
    assert tgz[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    with tarfile.open(tmp_path / "a" / "mirror.tar.gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert f"mirror/{MANIFEST_PATH}" in names
        assert f"mirror/{MANIFEST_PATH[:-4]}sig" in names
        assert names == sorted(names, key=lambda n: n.encode()) or names[0] == "mirror"
        for m in members:
            assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 315532800)
            assert m.mode == (0o755 if m.isdir() else 0o644)
    with zipfile.ZipFile(tmp_path / "a" / "mirror.zip") as zf:
        infos = zf.infolist()
        assert f"mirror/{MANIFEST_PATH}" in zf.namelist()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        assert zf.read(f"mirror/{MANIFEST_PATH}") == (site / MANIFEST_PATH).read_bytes()


def test_archive_unpacked_from_zip_verifies(signed_build: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "mirror"
    assert main(["archive", str(signed_build["site"]), "-o", str(out), "-q"]) == 0
    with zipfile.ZipFile(tmp_path / "mirror.zip") as zf:
        zf.extractall(tmp_path / "x")
    rc, codes = _verify(
        tmp_path / "x" / "mirror", signed_build["keyring"], signed_build["root"] / "op.key.pub"
    )
    assert (rc, codes) == (0, [])


def test_archive_respects_source_date_epoch(
    signed_build: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
    assert main(["archive", str(signed_build["site"]), "-o", str(tmp_path / "m"), "-q"]) == 0
    with tarfile.open(tmp_path / "m.tar.gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {1767225600}


def test_archive_refuses_a_tree_that_differs_from_its_manifest(
    signed_build: dict[str, Path], unpacked: Path, tmp_path: Path
) -> None:
    _flip_byte(unpacked / "index.html")
    assert main(["archive", str(unpacked), "-o", str(tmp_path / "bad"), "-q"]) == 1
    assert not (tmp_path / "bad.tar.gz").exists()
    assert not (tmp_path / "bad.zip").exists()


def test_keygen_refuses_to_overwrite_and_keeps_the_key_private(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert main(["keygen", str(key), "-q"]) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    before = key.read_bytes()
    assert main(["keygen", str(key), "-q"]) == 1
    assert key.read_bytes() == before
    assert main(["build", "-o", str(tmp_path / "s"), "--sign-key", str(tmp_path / "missing"), "-q"]) == 2
    (tmp_path / "junk").write_text("not a key")
    assert main(["build", "-o", str(tmp_path / "s"), "--sign-key", str(tmp_path / "junk"), "-q"]) == 2
    assert not (tmp_path / "s").exists()


class _HostileHandler(SimpleHTTPRequestHandler):
    """Serves the site, except: robots.txt redirects to another origin, index.html never ends."""

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/robots.txt")
            self.end_headers()
            return
        if self.path == "/index.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(4096):  # 64 MiB if nobody stops reading
                    self.wfile.write(b"x" * 16384)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http_redirects_and_oversized_bodies_are_refused(signed_build: dict[str, Path]) -> None:
    handler = partial(_HostileHandler, directory=str(signed_build["site"]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        with HttpSource(base, settings=FAST) as src:
            report = verify_site(src, load_keyring([signed_build["keyring"]]), now=LATER)
    finally:
        server.shutdown()
        server.server_close()
    problems = {(p.code, p.where.rsplit("/", 1)[-1]) for p in report.problems}
    assert problems == {("file_unreadable", "robots.txt"), ("file_size_mismatch", "index.html")}
    detail = next(p.detail for p in report.problems if p.code == "file_size_mismatch")
    assert detail.startswith("more than 1048576 bytes")  # stopped at the bound, not read to the end
    unreadable = next(p.detail for p in report.problems if p.code == "file_unreadable")
    assert unreadable.startswith("redirect_refused")


def test_archives_do_not_depend_on_time_zone_umask_or_hash_seed(
    signed_build: dict[str, Path], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    assert main(["archive", str(signed_build["site"]), "-o", str(tmp_path / "a" / "m"), "-q"]) == 0
    env = {**os.environ, "TZ": "Asia/Tokyo", "PYTHONHASHSEED": "12345", "LC_ALL": "C"}
    env.pop("SOURCE_DATE_EPOCH", None)
    code = "import os,sys; os.umask(0o077); from generator.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "archive",
            str(signed_build["site"]),
            "-o",
            str(tmp_path / "b" / "m"),
            "-q",
        ],
        env=env,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert run.returncode == 0
    for ext in ("tar.gz", "zip"):
        assert (tmp_path / "a" / f"m.{ext}").read_bytes() == (tmp_path / "b" / f"m.{ext}").read_bytes()


def test_fetch_build_sign_archive_with_warc(tmp_path: Path, test_key: synthmod.TestKey) -> None:
    """A mirror filled by downloading: record pages say where and when each record was fetched,
    the WARC holds the upstream responses byte for byte, and the unpacked archive verifies."""
    from warcio.archiveiterator import ArchiveIterator

    from tests.integration.pith_server import build_tree, serve

    tree, suffixes = build_tree(test_key, 2)
    keyring = tmp_path / "keyring.json"
    keyring.write_bytes(test_key.keyring_json())
    generate_key(tmp_path / "op.key")
    store, site, out = tmp_path / "store", tmp_path / "site", tmp_path / "dist" / "m"
    with serve(tree) as server:
        args = [
            "--upstream",
            server.url,
            "--store",
            str(store),
            "--keyring",
            str(keyring),
            "--rate",
            "0",
            "-q",
        ]
        assert main(["fetch", *suffixes, *args]) == 0
    argv = ["build", "--store", str(store), "-o", str(site), "--keyring", str(keyring), "-q"]
    assert main([*argv, "--sign-key", str(tmp_path / "op.key")]) == 0
    page = (site / "pith" / suffixes[0] / "index.html").read_text()
    footer = page[page.index('<p class="provenance">') :]
    assert f'was downloaded from <a href="{server.url}/pith/{suffixes[0]}.json"' in footer
    assert re.search(r"on <time datetime=\"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\">", footer)

    assert main(["archive", str(site), "-o", str(out), "--warc", str(tmp_path / "nowhere"), "-q"]) == 2
    assert main(["archive", str(site), "-o", str(out), "--warc", str(store), "-q"]) == 0
    bodies = {}
    with (tmp_path / "dist" / "m.warc.gz").open("rb") as fh:
        for rec in ArchiveIterator(fh, check_digests=True):
            if rec.rec_type == "response":
                bodies[rec.rec_headers.get_header("WARC-Target-URI")] = rec.raw_stream.read()
    for suffix in suffixes:
        path = f"/pith/{suffix}.json"
        assert bodies[server.url + path] == tree.files[path] == (site / path.lstrip("/")).read_bytes()
    dest = tmp_path / "unpacked"
    with tarfile.open(tmp_path / "dist" / "m.tar.gz") as tar:
        tar.extractall(dest, filter="data")
    rc, codes = _verify(dest / "m", keyring, tmp_path / "op.key.pub")
    assert (rc, codes) == (0, [])


def test_parallel_check_finds_the_same_problems(
    signed_build: dict[str, Path], unpacked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import sitecheck

    _flip_byte(unpacked / "index.html")
    (unpacked / "robots.txt").unlink()
    copy = unpacked / "pith" / f"{SEED_SUFFIX}.json"
    copy.write_bytes(copy.read_bytes().replace(b'"canonical_sha256":"ff', b'"canonical_sha256":"00', 1))
    keyring = load_keyring([signed_build["keyring"]])
    serial = verify_site(DirSource(unpacked), keyring, now=LATER, jobs=1)
    monkeypatch.setattr(sitecheck, "PARALLEL_ABOVE", 0)
    monkeypatch.setattr(sitecheck, "CHUNK_FILES", 3)
    parallel = verify_site(DirSource(unpacked), keyring, now=LATER, jobs=2)
    assert [str(p) for p in parallel.problems] == [str(p) for p in serial.problems]
    assert sorted(p.code for p in serial.problems) == [
        "file_hash_mismatch",
        "file_hash_mismatch",
        "file_missing",
        "hash_mismatch",
    ]
    assert (parallel.files_checked, parallel.records_checked) == (
        serial.files_checked,
        serial.records_checked,
    )
