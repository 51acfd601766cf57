"""Fetch against a real HTTP server on 127.0.0.1 that misbehaves on purpose.

Each case ends in the documented outcome: a retry that succeeds, or a typed error naming the
URL; never a stored (or published) record that did not verify, never a partial object.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generator import synth
from generator.cli import main
from generator.errors import (
    DownloadError,
    GeneratorError,
    HttpStatusError,
    JsonError,
    RecordError,
    ResponseError,
    TransportError,
    VerificationError,
)
from generator.fetch import FetchOptions, FetchReport
from generator.fetch_cli import fetch_into
from generator.keyring import Keyring, load_keyring
from generator.net import HttpSettings
from generator.report import read_report
from generator.sources.remote import DEFAULT_KINDS, parse_wanted
from generator.store import Store
from generator.synth import dump_record, make_record
from tests.conftest import SEED
from tests.integration.pith_server import (
    PithServer,
    Tree,
    add_raw_record,
    add_record,
    build_tree,
    closed_port,
    endpoint_docs,
    old_style_record,
    serve,
)

FAST = HttpSettings(
    rate=0,
    connect_timeout=2,
    read_timeout=2,
    total_timeout=4,
    retries=2,
    backoff=0.01,
    backoff_max=0.05,
    retry_after_max=1.5,
)


@pytest.fixture(scope="module")
def world(test_key: synth.TestKey) -> tuple[Tree, list[str]]:
    tree, suffixes = build_tree(test_key, 6)
    add_record(tree, old_style_record(test_key))
    add_raw_record(tree, SEED.read_bytes())
    return tree, suffixes


@pytest.fixture
def server(world: tuple[Tree, list[str]]) -> Iterator[PithServer]:
    tree, _ = world
    fresh = Tree(files=dict(tree.files), resolve=dict(tree.resolve))
    with serve(fresh) as srv:
        yield srv


@pytest.fixture
def suffixes(world: tuple[Tree, list[str]]) -> list[str]:
    return world[1]


@pytest.fixture
def keyring(keyring_file: Path) -> Keyring:
    return load_keyring([keyring_file])


def fetch(
    store_dir: Path,
    keyring: Keyring,
    base: str,
    names: list[str],
    settings: HttpSettings = FAST,
    **options: Any,
) -> FetchReport:
    opts = FetchOptions(base_url=base, kinds=options.pop("kinds", DEFAULT_KINDS), **options)
    with Store.open(store_dir, durable=False) as store:
        store.lock()
        return asyncio.run(fetch_into(store, keyring, opts, settings, [parse_wanted(n) for n in names]))


def only_failure(report: FetchReport) -> GeneratorError:
    assert len(report.failures) == 1, report.failures
    return report.failures[0]


def assert_nothing_stored(store_dir: Path, suffix: str) -> None:
    with Store.open(store_dir, readonly=True) as store:
        assert store.record(suffix) is None
        assert store.copies(suffix) == []
    assert not list((store_dir / "objects").glob("*/.tmp-*"))


def test_fetch_store_build(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring_file: Path
) -> None:
    store = tmp_path / "store"
    args = [
        "--upstream",
        server.url,
        "--store",
        str(store),
        "--keyring",
        str(keyring_file),
        "-q",
        "--rate",
        "0",
    ]
    names = [f"pith:2020:{suffixes[0]}", suffixes[1], "cs/0004010", "75T7H6BVKLX2X7KPYCGRY4USAC"]
    assert main(["fetch", *names, *args]) == 0
    assert server.agents == {"pith-mirror/0.1.0"}
    site = tmp_path / "site"
    assert main(["build", "--store", str(store), "-o", str(site), "--keyring", str(keyring_file), "-q"]) == 0
    # byte copies, published at the same path as upstream
    for suffix in suffixes[:2]:
        for path in (f"/pith/{suffix}.json", f"/api/pith-number/{suffix}/events.json"):
            assert (site / path.lstrip("/")).read_bytes() == server.tree.files[path]
    assert (site / "pith/75T7H6BVKLX2X7KPYCGRY4USAC.json").read_bytes() == SEED.read_bytes()
    index = json.loads((site / "mirror-index/index.json").read_bytes())
    assert index["records"] == 4
    # a second run asks for nothing: everything is complete in the store
    before = sum(server.hits.values())
    assert main(["fetch", *names, *args]) == 0
    assert sum(server.hits.values()) == before


def test_pith_number_in_wrong_year_is_just_a_name(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    report = fetch(tmp_path / "s", keyring, server.url, [f"pith:1999:{suffixes[0]}"])
    assert report.failures == [] and report.fetched == 1


def test_list_file_with_comments(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring_file: Path
) -> None:
    listing = tmp_path / "papers.txt"
    listing.write_text(f"# my papers\n{suffixes[0]}  # first\n\n  cs/0004010\n# done\n")
    store = tmp_path / "store"
    args = ["--upstream", server.url, "--store", str(store), "--keyring", str(keyring_file), "-q"]
    rc = main(["fetch", "--list", str(listing), *args, "--rate", "0"])
    assert rc == 0
    with Store.open(store, readonly=True) as s:
        assert len(s.suffixes()) == 2


def test_arxiv_ids_resolve(
    tmp_path: Path, server: PithServer, test_key: synth.TestKey, keyring: Keyring
) -> None:
    old = old_style_record(test_key)
    report = fetch(tmp_path / "s", keyring, server.url, ["arXiv:cs/0004010v1"])
    assert report.failures == [] and report.fetched == 1
    assert server.hits["/api/pith-number/resolve?arxiv=cs%2F0004010&json=true"] == 1
    suffix = old["pith_number"].split(":")[2]
    with Store.open(tmp_path / "s", readonly=True) as s:
        assert s.record(suffix) is not None
        assert s.alias("arxiv:cs/0004010v1") == suffix
        kinds = {c.kind: c for c in s.copies(suffix)}
        assert kinds["integrity"].url.endswith("/pith/cs/0004010/integrity.json")
    # the answer is remembered: no second resolve
    fetch(tmp_path / "s", keyring, server.url, ["arXiv:cs/0004010v1"])
    assert server.hits["/api/pith-number/resolve?arxiv=cs%2F0004010&json=true"] == 1


def test_resolve_answer_that_names_no_record(tmp_path: Path, server: PithServer, keyring: Keyring) -> None:
    server.tree.resolve["cs/0004010"] = b'{"status": "ok", "note": "try again"}'
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, ["cs/0004010"]))
    assert isinstance(err, ResponseError) and err.code == "resolve_failed"
    assert "resolve?arxiv=cs%2F0004010" in err.url and "try again" in str(err)


def test_resolve_leading_to_another_paper(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    server.tree.resolve["cs/0004010"] = json.dumps({"record_url": f"/pith/{suffixes[0]}"}).encode()
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, ["cs/0004010"]))
    assert isinstance(err, ResponseError) and err.code == "wrong_record"
    assert "resolve" in err.url


def test_unknown_arxiv_id(tmp_path: Path, server: PithServer, keyring: Keyring) -> None:
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, ["2101.99999"]))
    assert isinstance(err, ResponseError) and err.code == "resolve_failed"


def test_short_number(tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring) -> None:
    short = suffixes[2][:8]
    server.tree.files[f"/pith/{short}.json"] = server.tree.files[f"/pith/{suffixes[2]}.json"]
    report = fetch(tmp_path / "s", keyring, server.url, [f"pith:{short}"])
    assert report.failures == [] and report.fetched == 1
    # known now: the store answers the next time
    before = sum(server.hits.values())
    report = fetch(tmp_path / "s", keyring, server.url, [short])
    assert report.skipped == 1 and sum(server.hits.values()) == before


def test_refused_connection(tmp_path: Path, suffixes: list[str], keyring: Keyring) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    err = only_failure(fetch(tmp_path / "s", keyring, url, [suffixes[0]]))
    assert isinstance(err, TransportError) and err.code == "connect_failed"
    assert err.url == f"{url}/pith/{suffixes[0]}.json" and "3 attempts" in err.detail
    assert_nothing_stored(tmp_path / "s", suffixes[0])


@pytest.mark.parametrize("mode", ["reset", "truncate"])
def test_broken_body_is_retried(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring, mode: str
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, mode, times=1)
    report = fetch(tmp_path / "s", keyring, server.url, [suffixes[0]])
    assert report.failures == [] and report.fetched == 1
    assert server.hits[path] == 2
    with Store.open(tmp_path / "s", readonly=True) as s:
        copy = next(c for c in s.copies(suffixes[0]) if c.kind == "record")
        assert copy.sha256 is not None
        assert s.read_object(copy.sha256) == server.tree.files[path]


@pytest.mark.parametrize("mode", ["reset", "truncate"])
def test_broken_body_every_time(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring, keyring_file: Path, mode: str
) -> None:
    path = f"/api/pith-number/{suffixes[0]}/events.json"
    server.fault(path, mode)
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, suffixes[:2]))
    assert isinstance(err, TransportError) and err.code in ("truncated", "connect_failed")
    assert err.url == server.url + path
    assert server.hits[path] == 3
    # one bad endpoint: nothing of the record is kept, so the next run tries it whole
    assert_nothing_stored(tmp_path / "s", suffixes[0])
    # and the site built from the store publishes only the other record
    site = tmp_path / "site"
    rc = main(
        ["build", "--store", str(tmp_path / "s"), "-o", str(site), "--keyring", str(keyring_file), "-q"]
    )
    assert rc == 0
    assert (site / f"pith/{suffixes[1]}.json").is_file()
    assert not (site / f"pith/{suffixes[0]}.json").exists()
    assert not (site / f"pith/{suffixes[0]}").exists()


def test_content_length_shorter_than_body(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "short-length")
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, JsonError) and err.code == "invalid_json"
    assert err.where.startswith(server.url + path)
    assert_nothing_stored(tmp_path / "s", suffixes[0])


def test_gzip_bomb(tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "gzip-bomb")
    server.configure(bomb_size=64 * 1024 * 1024)
    settings = replace(FAST, max_body_bytes=1024 * 1024)
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]], settings))
    assert isinstance(err, ResponseError) and err.code == "body_too_large"
    assert err.url == server.url + path and "decoded" in err.detail
    assert_nothing_stored(tmp_path / "s", suffixes[0])


def test_gzip_body_is_decoded(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "gzip")
    report = fetch(tmp_path / "s", keyring, server.url, [suffixes[0]])
    assert report.failures == []
    with Store.open(tmp_path / "s", readonly=True) as s:
        copy = next(c for c in s.copies(suffixes[0]) if c.kind == "record")
        assert copy.sha256 is not None and s.read_object(copy.sha256) == server.tree.files[path]
        stored = next(r for r in s.iter_responses() if r.url == server.url + path)
        assert ("Content-Encoding", "gzip") in stored.headers and stored.status == 200


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring, status: int
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, f"status:{status}", times=1)
    server.configure(retry_after=1)
    t0 = time.monotonic()
    report = fetch(tmp_path / "s", keyring, server.url, [suffixes[0]])
    assert report.failures == [] and report.retries == 1
    assert time.monotonic() - t0 >= 0.95
    assert server.hits[path] == 2


def test_unavailable_every_time(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "status:503")
    server.configure(retry_after=0)
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, HttpStatusError) and err.code == "http_status" and err.status == 503
    assert err.url == server.url + path and "after 3 attempts" in err.detail
    assert_nothing_stored(tmp_path / "s", suffixes[0])


def test_listed_record_missing(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring_file: Path, keyring: Keyring
) -> None:
    missing = "A" * 26
    report = fetch(tmp_path / "s", keyring, server.url, [missing, suffixes[0]])
    err = only_failure(report)
    assert isinstance(err, HttpStatusError) and err.code == "not_found" and err.status == 404
    assert err.url == f"{server.url}/pith/{missing}.json"
    assert report.fetched == 1  # the other record is kept
    args = ["--upstream", server.url, "--store", str(tmp_path / "s"), "--keyring", str(keyring_file)]
    rc = main(["fetch", missing, *args, "-q", "--rate", "0", "--retries", "0"])
    assert rc == 1


def test_missing_optional_endpoint_is_recorded(tmp_path: Path, server: PithServer, keyring: Keyring) -> None:
    seed = "75T7H6BVKLX2X7KPYCGRY4USAC"  # the server holds only its record
    report = fetch(tmp_path / "s", keyring, server.url, [seed])
    assert report.failures == [] and report.fetched == 1
    with Store.open(tmp_path / "s", readonly=True) as s:
        copies = {c.kind: c for c in s.copies(seed)}
        assert set(copies) == {"record", *DEFAULT_KINDS}
        assert all(copies[k].sha256 is None for k in DEFAULT_KINDS)
        assert s.complete(seed, DEFAULT_KINDS)
        cached = s.cached(f"{server.url}/pith/{seed}/bundle.json")
        assert cached is not None and cached.status == 404


def test_redirect_within_origin_is_followed(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.tree.files["/moved.json"] = server.tree.files[path]
    server.fault(path, "redirect:/moved.json")
    report = fetch(tmp_path / "s", keyring, server.url, [suffixes[0]])
    assert report.failures == [] and server.hits["/moved.json"] == 1


def test_redirect_to_another_host(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    port = server.url.rsplit(":", 1)[1]
    server.fault(path, f"redirect:http://localhost:{port}{path}")  # same server, another origin
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, ResponseError) and err.code == "redirect_refused"
    assert err.url == server.url + path and "localhost" in err.detail
    assert_nothing_stored(tmp_path / "s", suffixes[0])


def test_redirect_loop(tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "redirect:/a")
    server.fault("/a", f"redirect:{path}")
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, ResponseError) and err.code == "redirect_loop" and err.url == server.url + path


def test_too_many_redirects(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "redirect:/r1")
    for i in range(1, 6):
        server.fault(f"/r{i}", f"redirect:/r{i + 1}")
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, ResponseError) and err.code == "too_many_redirects"


@pytest.mark.parametrize("which", ["record", "events"])
def test_html_with_200(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring, which: str
) -> None:
    path = f"/pith/{suffixes[0]}.json" if which == "record" else f"/api/pith-number/{suffixes[0]}/events.json"
    server.fault(path, "html")
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, ResponseError) and err.code == "not_json"
    assert err.url == server.url + path and "text/html" in err.detail
    assert_nothing_stored(tmp_path / "s", suffixes[0])


def test_slow_drip(tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring) -> None:
    path = f"/pith/{suffixes[0]}.json"
    server.fault(path, "drip")
    server.configure(drip_delay=0.2)
    settings = replace(FAST, total_timeout=1.0, retries=0)
    t0 = time.monotonic()
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]], settings))
    assert isinstance(err, TransportError) and err.code == "timeout" and err.url == server.url + path
    assert time.monotonic() - t0 < 3
    assert_nothing_stored(tmp_path / "s", suffixes[0])


def test_record_that_does_not_verify(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring, other_key: synth.TestKey
) -> None:
    forged = make_record(other_key, arxiv_id="2102.00001")
    suffix = forged["pith_number"].split(":")[2]
    server.tree.files[f"/pith/{suffix}.json"] = dump_record(forged)
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffix]))
    assert isinstance(err, VerificationError) and err.code == "unknown_key"
    assert err.where.startswith(f"{server.url}/pith/{suffix}.json")
    assert_nothing_stored(tmp_path / "s", suffix)


def test_record_at_the_wrong_url(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    server.tree.files[f"/pith/{suffixes[0]}.json"] = server.tree.files[f"/pith/{suffixes[1]}.json"]
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [suffixes[0]]))
    assert isinstance(err, ResponseError) and err.code == "wrong_record"


def test_endpoint_naming_another_record(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    a, b = suffixes[0], suffixes[1]
    server.tree.files[f"/pith/{a}/bundle.json"] = server.tree.files[f"/pith/{b}/bundle.json"]
    err = only_failure(fetch(tmp_path / "s", keyring, server.url, [a]))
    assert isinstance(err, ResponseError) and err.code == "endpoint_mismatch"
    assert err.url == f"{server.url}/pith/{a}/bundle.json"


def test_refresh_is_conditional_and_keeps_only_growth(
    tmp_path: Path, server: PithServer, test_key: synth.TestKey, keyring_file: Path, keyring: Keyring
) -> None:
    rec = make_record(test_key, arxiv_id="2103.00042", title="Growing events")
    suffix = add_record(server.tree, rec)
    store = tmp_path / "s"
    assert fetch(store, keyring, server.url, [suffix]).fetched == 1

    report = fetch(store, keyring, server.url, [suffix], refresh=True)
    assert report.unchanged == 1 and report.fetched == 0
    assert server.hits[f"/pith/{suffix}.json"] == 2  # asked again, answered 304

    # events grow: the longer copy is taken
    grown = endpoint_docs(rec, n_events=3)
    events_path = f"/api/pith-number/{suffix}/events.json"
    server.tree.files[events_path] = grown[events_path]
    report = fetch(store, keyring, server.url, [suffix], refresh=True)
    assert report.fetched == 1 and report.notes == []

    # events shrink: refused, the earlier copy kept, and the reader told
    server.tree.files[events_path] = endpoint_docs(rec, n_events=1)[events_path]
    report = fetch(store, keyring, server.url, [suffix], refresh=True)
    assert report.failures == [] and len(report.notes) == 1
    assert "rollback refused" in report.notes[0] and "2 event(s)" in report.notes[0]
    assert "event_dropped" in report.notes[0]
    with Store.open(store, readonly=True) as s:
        copy = next(c for c in s.copies(suffix) if c.kind == "events")
        assert copy.sha256 is not None and s.read_object(copy.sha256) == grown[events_path]

    site = tmp_path / "site"
    rc = main(["build", "--store", str(store), "-o", str(site), "--keyring", str(keyring_file), "-q"])
    assert rc == 0
    assert (site / events_path.lstrip("/")).read_bytes() == grown[events_path]
    page = (site / f"pith/{suffix}/index.html").read_text()
    assert "rollback refused" in page
    entry = next(r for r in read_report(site)[1] if r["suffix"] == suffix)
    assert any("rollback refused" in n for n in entry["notes"])


def test_altered_event_is_refused(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    suffix = suffixes[3]
    store = tmp_path / "s"
    fetch(store, keyring, server.url, [suffix])
    path = f"/pith/{suffix}/bundle.json"
    doc = json.loads(server.tree.files[path])
    doc["events"][0]["created_at"] = "2030-01-01T00:00:00Z"
    server.tree.files[path] = json.dumps(doc).encode()
    report = fetch(store, keyring, server.url, [suffix], refresh=True)
    assert len(report.notes) == 1 and "(changed)" in report.notes[0]


def test_every_error_names_a_url(tmp_path: Path, suffixes: list[str], keyring: Keyring) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    report = fetch(tmp_path / "s", keyring, url, suffixes[:3], replace(FAST, retries=0))
    assert len(report.failures) == 3
    for err in report.failures:
        assert isinstance(err, DownloadError) and err.url.startswith(url) and err.url in str(err)
        assert not isinstance(err, RecordError)


def test_warc_of_the_store(tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring) -> None:
    from warcio.archiveiterator import ArchiveIterator

    from generator.store import iter_responses
    from generator.warc import write_warc

    gz_path = f"/pith/{suffixes[0]}.json"
    server.fault(gz_path, "gzip")
    store = tmp_path / "s"
    assert fetch(store, keyring, server.url, suffixes[:2]).failures == []
    out = tmp_path / "m.warc.gz"
    assert write_warc(iter_responses(store), out) == 12
    seen = {}
    with out.open("rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response":
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                seen[uri] = (rec.content_stream().read(), rec.http_headers)
    for path in (gz_path, f"/api/pith-number/{suffixes[1]}/events.json"):
        body, _headers = seen[server.url + path]
        assert body == server.tree.files[path]
    assert seen[server.url + f"/api/pith-number/{suffixes[1]}/events.json"][1].get_header(
        "Content-Length"
    ) == str(len(server.tree.files[f"/api/pith-number/{suffixes[1]}/events.json"]))
    # the wire encoding is recorded, not claimed for the decoded body
    gz_headers = seen[server.url + gz_path][1]
    assert gz_headers.get_header("Content-Encoding") is None
    assert gz_headers.get_header("X-Archive-Orig-Content-Encoding") == "gzip"


def test_https_redirect_to_http_is_refused(world: tuple[Tree, list[str]]) -> None:
    """Over real TLS (a local CA from trustme): a redirect to http: is never followed."""
    import ssl

    import trustme

    from generator.net import HttpClient

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tree, suffixes = world
    path = f"/pith/{suffixes[0]}.json"

    async def get(url: str) -> bytes:
        async with HttpClient(FAST, verify=client_ctx) as http:
            return (await http.get(url)).body

    with serve(Tree(files=dict(tree.files)), tls=server_ctx) as server:
        assert server.url.startswith("https://")
        assert asyncio.run(get(server.url + path)) == tree.files[path]
        port = server.url.rsplit(":", 1)[1]
        server.fault(path, f"redirect:http://127.0.0.1:{port}{path}")
        with pytest.raises(ResponseError) as info:
            asyncio.run(get(server.url + path))
    assert info.value.code == "redirect_refused" and info.value.url == server.url + path
    assert "http://127.0.0.1" in info.value.detail


def test_progress_line(
    tmp_path: Path,
    server: PithServer,
    suffixes: list[str],
    keyring_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--upstream", server.url, "--store", str(tmp_path / "s"), "--keyring", str(keyring_file)]
    assert main(["fetch", *suffixes[:3], *args, "--rate", "0", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "fetch: " in err and "/3 (" in err and "/s" in err
    assert "3 new or changed" in err


def test_fewer_endpoints_later_keep_the_record_complete(
    tmp_path: Path, server: PithServer, suffixes: list[str], keyring: Keyring
) -> None:
    store = tmp_path / "s"
    seed = "75T7H6BVKLX2X7KPYCGRY4USAC"  # its endpoints are absent upstream
    assert fetch(store, keyring, server.url, [suffixes[0], seed]).fetched == 2
    report = fetch(store, keyring, server.url, [suffixes[0], seed], kinds=(), refresh=True)
    assert report.unchanged == 2 and report.fetched == 0
    # the endpoints asked for the first time are still known: nothing to ask now
    before = sum(server.hits.values())
    assert fetch(store, keyring, server.url, [suffixes[0], seed]).skipped == 2
    assert sum(server.hits.values()) == before
    # and a refresh of absent endpoints that are still absent changes nothing
    report = fetch(store, keyring, server.url, [seed], refresh=True)
    assert report.unchanged == 1 and report.fetched == 0
