"""A connect that never completes, against a real socket on 127.0.0.1.

The listening socket has a backlog of 0 and never accepts; once one connection fills its queue
the kernel drops further SYNs, so a client's connect hangs (it is neither accepted nor refused).
The test checks that this is so before relying on it, then fetches one record with a short
connect timeout and one attempt."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.errors import TransportError
from generator.fetch import FetchOptions
from generator.fetch_cli import fetch_into
from generator.keyring import load_keyring
from generator.net import HttpSettings
from generator.sources.remote import DEFAULT_KINDS, parse_wanted
from generator.store import Store

SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CONNECT_TIMEOUT = 0.5


@contextlib.contextmanager
def hanging_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connect neither succeeds nor is refused."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        # fill the accept queue: connect until one attempt hangs
        for _ in range(16):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.3)
            try:
                probe.connect(("127.0.0.1", port))
            except TimeoutError:
                probe.close()
                break
            fillers.append(probe)
        else:
            pytest.fail("the accept queue never filled: connect on loopback does not hang here")
        # and check once more that a connect hangs (not refused, not accepted)
        check = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        check.settimeout(0.2)
        with pytest.raises(TimeoutError):
            check.connect(("127.0.0.1", port))
        check.close()
        yield port
    finally:
        for s in fillers:
            s.close()
        server.close()


def test_connect_timeout_is_a_typed_error_naming_the_url(tmp_path: Path, keyring_file: Path) -> None:
    settings = HttpSettings(
        rate=0,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=5,
        total_timeout=8,  # well above the connect timeout: only the connect can expire
        retries=0,  # one attempt
    )
    store_dir = tmp_path / "store"
    with hanging_port() as port:
        base = f"http://127.0.0.1:{port}"
        opts = FetchOptions(base_url=base, kinds=DEFAULT_KINDS)
        t0 = time.monotonic()
        with Store.open(store_dir, durable=False) as store:
            store.lock()
            report = asyncio.run(
                fetch_into(store, load_keyring([keyring_file]), opts, settings, [parse_wanted(SUFFIX)])
            )
        took = time.monotonic() - t0
    assert len(report.failures) == 1, report.failures
    err = report.failures[0]
    assert isinstance(err, TransportError)
    assert err.code == "timeout"
    assert err.url == f"{base}/pith/{SUFFIX}.json"
    assert "ConnectTimeout" in err.detail and "attempts" not in err.detail
    assert f"{base}/pith/{SUFFIX}.json: timeout:" in str(err)
    # the connect timeout, not the whole-request one, ended it; and there was no second attempt
    assert CONNECT_TIMEOUT * 0.8 <= took < CONNECT_TIMEOUT + 2.5, took
    assert report.fetched == 0 and report.requests == 1 and report.retries == 0
    with Store.open(store_dir, readonly=True) as store:
        assert store.record(SUFFIX) is None
        assert store.copies(SUFFIX) == []
        assert store.suffixes() == []
    objects = store_dir / "objects"
    assert not objects.exists() or [p for p in objects.rglob("*") if p.is_file()] == []
