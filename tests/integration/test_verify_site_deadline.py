"""``verify-site --deadline``: a whole check bounded in time, against a built site served slowly
on 127.0.0.1 (and a folder read slowly).

At the deadline the check stops: requests in flight are cancelled, the exit status is 124 and
the message names the site, the deadline and how far the check got, and says the site is NOT
verified. A check cut short never passes. A deadline that is not reached changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import sitecheck
from generator.cli import main
from generator.deadline import Deadline
from generator.errors import DeadlineError
from generator.keyring import Keyring, load_keyring
from generator.manifest import MANIFEST_PATH
from generator.net import HttpSettings
from generator.sitecheck import DirSource, HttpSource, SiteReport, verify_site
from tests.conftest import SEED
from tests.integration.pith_server import PithServer, Tree, serve

DEADLINE = 1.0
MARGIN = 0.75  # seconds a stop may take past the deadline (cancel, close, a loaded machine)
WINDOW = 8  # HttpSource's requests in flight: results come back a batch at a time
FAST = HttpSettings(rate=0, retries=0)  # loopback: no politeness delay
SUFFIX = SEED.stem
COPY = f"pith/{SUFFIX}.json"  # the record copy: the file served slowly


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("sdl") / "site"
    assert main(["build", str(SEED), "-o", str(site), "--no-paper-pages", "-q"]) == 0
    return site


@pytest.fixture
def site(built: Path, tmp_path: Path) -> Path:
    """A copy of the built site a test may change."""
    return Path(shutil.copytree(built, tmp_path / "site"))


@pytest.fixture
def server(site: Path) -> Iterator[PithServer]:
    with serve(Tree(root=site)) as srv:
        srv.configure(latency=0.02, drip_delay=0.2)  # every answer late; a drip never ends in time
        yield srv


@pytest.fixture
def keyring() -> Keyring:
    return load_keyring(())


@pytest.fixture(autouse=True)
def no_politeness_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's client starts 20 requests a second; on loopback the tests need no cap."""
    monkeypatch.setattr(sitecheck, "HttpSettings", functools.partial(HttpSettings, rate=0))


def _listed(site: Path) -> list[str]:
    return [f["path"] for f in json.loads((site / MANIFEST_PATH).read_bytes())["files"]]


def _before_batch_of(site: Path, rel: str) -> int:
    """How many listed files are checked before the batch that holds ``rel``."""
    return _listed(site).index(rel) // WINDOW * WINDOW


def _checked_without(site: Path, rel: str) -> int:
    """How many listed files are checked when ``rel`` never arrives: those of the batches before
    its batch, and the others of its batch (they arrive while it is in flight)."""
    return min(_before_batch_of(site, rel) + WINDOW, len(_listed(site))) - 1


def _flip_byte(path: Path, offset: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _facts(report: SiteReport) -> tuple[object, ...]:
    """Everything a report says (its problems as text: a ``SiteProblem`` has no equality)."""
    return (*dataclasses.astuple(dataclasses.replace(report, problems=[])), list(map(str, report.problems)))


def _run(*argv: str) -> tuple[int, float]:
    t0 = time.monotonic()
    rc = main(["verify-site", *argv])
    return rc, time.monotonic() - t0


def test_deadline_stops_a_slow_check_with_124_and_says_how_far_it_got(
    site: Path, server: PithServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.fault(f"/{COPY}", "drip")
    done, total = _checked_without(site, COPY), len(_listed(site))
    assert _before_batch_of(site, COPY) + 1 < done < total  # COPY's batch holds others
    expected = (
        f"error: verify-site stopped at its deadline of 1 s after checking {done} of {total} file(s) "
        f"of {server.url}; the site is NOT verified\n"  # the site named as in every other message
    )
    for typed in (server.url, server.url + "/"):
        rc, took = _run(typed, "--deadline", f"{DEADLINE:g}")
        err = capsys.readouterr().err
        assert rc == 124, err
        assert DEADLINE <= took < DEADLINE + MARGIN, took
        assert expected in err
        assert not re.search(r"^verified ", err, re.M)  # no success line, not even in part
    assert server.hits[f"/{COPY}"] == 2  # dropped, not retried after the deadline (once a run)


def test_problems_found_before_the_deadline_are_listed_and_the_status_is_still_124(
    site: Path, server: PithServer, capsys: pytest.CaptureFixture[str]
) -> None:
    early = _listed(site)[1]
    assert _listed(site).index(early) < _before_batch_of(site, COPY)
    _flip_byte(site / early)
    server.fault(f"/{COPY}", "drip")
    rc, took = _run(server.url, "--deadline", "0.5")
    err = capsys.readouterr().err
    assert rc == 124, err
    assert took < 0.5 + MARGIN, took
    assert f"{server.url}/{early}: file_hash_mismatch: SHA-256 " in err
    assert (
        "the site is NOT verified (1 problem(s) found in what was checked)\n" in err
    )  # listed, and the check is still not a conclusion


def test_files_of_the_batch_cut_off_that_arrived_are_checked(
    site: Path, server: PithServer, keyring: Keyring
) -> None:
    """The deadline cancels COPY, still in flight; the files of its batch that had arrived are
    checked all the same: counted, and a problem in one of them found."""
    batch = _listed(site)[_before_batch_of(site, COPY) : _listed(site).index(COPY)]
    assert len(batch) > 1
    _flip_byte(site / batch[0])
    server.fault(f"/{COPY}", "drip")
    with (
        HttpSource(server.url, settings=FAST, deadline=Deadline.start(0.5)) as src,
        pytest.raises(DeadlineError) as caught,
    ):
        verify_site(src, keyring)
    report = caught.value.report
    assert isinstance(report, SiteReport)
    assert report.files_done == _checked_without(site, COPY) == report.files_checked
    assert [(p.code, p.where) for p in report.problems] == [
        ("file_hash_mismatch", f"{server.url}/{batch[0]}")
    ]
    assert caught.value.detail.endswith("the site is NOT verified (1 problem(s) found in what was checked)")
    assert server.hits[f"/{COPY}"] == 1


def test_deadline_while_the_manifest_is_read(
    site: Path, server: PithServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.fault(f"/{MANIFEST_PATH}", "drip")
    rc, took = _run(server.url, "--deadline", "0.5")
    err = capsys.readouterr().err
    assert rc == 124, err
    assert took < 0.5 + MARGIN, took
    assert (
        f"verify-site stopped at its deadline of 0.5 s before it could read the manifest of "
        f"{server.url}; the site is NOT verified\n"
    ) in err


def test_deadline_error_is_typed_and_its_report_is_never_ok(
    site: Path, server: PithServer, keyring: Keyring
) -> None:
    server.fault(f"/{COPY}", "drip")
    with (
        HttpSource(server.url, settings=FAST, deadline=Deadline.start(0.5)) as src,
        pytest.raises(DeadlineError) as caught,
    ):
        verify_site(src, keyring)
    exc = caught.value
    assert (exc.code, exc.url, exc.exit_code) == ("deadline", server.url, 124)
    report = exc.report
    assert isinstance(report, SiteReport)
    assert report.cut_short and not report.ok and report.problems == []
    assert (report.files_done, report.files_listed) == (_checked_without(site, COPY), len(_listed(site)))
    assert src.loop.is_closed()  # closed on the way out: nothing left running


def test_deadline_not_reached_changes_nothing(
    site: Path, server: PithServer, keyring: Keyring, capsys: pytest.CaptureFixture[str]
) -> None:
    server.configure(latency=0.0)
    outputs = []
    for typed, extra in (
        (server.url, []),
        (server.url, ["--deadline", "60"]),
        (server.url, ["--deadline", "0"]),
        (server.url + "/", ["--deadline", "60"]),  # the site is named the same way
    ):
        assert _run(typed, *extra)[0] == 0
        outputs.append(capsys.readouterr().err)
    assert outputs[0] == outputs[1] == outputs[2] == outputs[3]
    assert f"verified {server.url}: {len(_listed(site))} file(s), 1 record(s)" in outputs[0]

    _flip_byte(site / "index.html")
    (site / "robots.txt").unlink()
    outputs = []
    for extra in ([], ["--deadline", "60"]):
        assert _run(server.url, *extra)[0] == 1
        outputs.append(capsys.readouterr().err)
    assert outputs[0] == outputs[1]
    assert "file_hash_mismatch" in outputs[0] and "file_missing" in outputs[0]
    assert "deadline" not in outputs[0]

    reports: list[SiteReport] = []
    for deadline in (None, Deadline.start(60)):
        with HttpSource(server.url, settings=FAST, deadline=deadline) as src:
            reports.append(verify_site(src, keyring))
    assert _facts(reports[0]) == _facts(reports[1])
    assert not reports[0].ok and not reports[0].cut_short


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf"])
def test_a_bad_deadline_is_a_usage_error_and_nothing_is_asked(
    server: PithServer, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify-site", server.url, f"--deadline={value}"]) == 2
    assert "verify-site: --deadline must be a number of seconds, 0 for none; got " in capsys.readouterr().err
    assert not server.hits


# -- a folder ---------------------------------------------------------------------------------
def _slow_reads(monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
    """Every file of a folder takes ``delay`` seconds to read (a slow network file system)."""
    read = DirSource.read

    def slow(self: DirSource, rel: str, max_bytes: int) -> bytes | None:
        data = read(self, rel, max_bytes)
        time.sleep(delay)
        return data

    monkeypatch.setattr(DirSource, "read", slow)


@pytest.mark.parametrize("jobs", [1, 2])
def test_deadline_stops_a_slow_folder_between_files(
    site: Path,
    keyring: Keyring,
    jobs: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sitecheck, "PARALLEL_ABOVE", 0)  # with jobs=2: worker processes,
    monkeypatch.setattr(sitecheck, "CHUNK_FILES", 5)  # a few files a chunk
    _slow_reads(monkeypatch, 0.05)  # 58 files: about 3 s on one process, 1.5 s on two
    total = len(_listed(site))
    t0 = time.monotonic()
    with pytest.raises(DeadlineError) as caught:
        verify_site(DirSource(site, deadline=Deadline.start(0.5)), keyring, jobs=jobs)
    took = time.monotonic() - t0
    assert took < 0.5 + MARGIN, took
    report = caught.value.report
    assert isinstance(report, SiteReport)
    assert report.cut_short and not report.ok
    assert report.files_listed == total and 0 < report.files_done < total
    assert caught.value.detail == (
        f"verify-site stopped at its deadline of 0.5 s after checking {report.files_done} of {total} "
        f"file(s) of {site}; the site is NOT verified"
    )
    # the command, the same way
    rc, took = _run(str(site), "--deadline", "0.5", "-j", str(jobs))
    assert rc == 124
    assert took < 0.5 + MARGIN, took
    assert "the site is NOT verified\n" in capsys.readouterr().err


def test_deadline_not_reached_in_a_folder_changes_nothing(site: Path, keyring: Keyring) -> None:
    _flip_byte(site / "index.html")
    free = verify_site(DirSource(site), keyring)
    bounded = verify_site(DirSource(site, deadline=Deadline.start(60)), keyring)
    assert _facts(free) == _facts(bounded)
    assert [p.code for p in free.problems] == ["file_hash_mismatch"]
    assert free.files_done == free.files_listed == len(_listed(site))
