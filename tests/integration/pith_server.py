"""A real HTTP server on 127.0.0.1 that serves a pith.science-like tree, and misbehaves on demand.

``PithServer`` serves an in-memory tree (path -> bytes) or a directory (a built site), with
ETag / If-None-Match, gzip when asked, the resolve endpoint, and per-path faults:

    refuse        (see ``closed_port``: nothing listens)
    reset         headers, half the body, then a TCP reset
    truncate      Content-Length of the whole body, half of it sent, connection closed
    short-length  Content-Length 10 bytes shorter than the body (a lie the other way)
    gzip-bomb     Content-Encoding: gzip, a small body that inflates to ``bomb_size`` bytes
    gzip          the body gzip-encoded (well-behaved)
    status:N      answer status N (with Retry-After: ``retry_after`` for 429/503)
    redirect:URL  302 to URL
    html          200 with an HTML error page
    drip          the body one byte every ``drip_delay`` seconds

A fault may apply only to the first ``times`` requests of a path, then the path behaves.
``hits`` counts requests per path (with query).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from generator.identifiers import derived_aliases
from generator.synth import TestKey, dump_record, make_record, random_record


@dataclass
class Fault:
    mode: str
    times: int | None = None  # None: always


@dataclass
class Tree:
    files: dict[str, bytes] = field(default_factory=dict)  # "/pith/X.json" -> body
    resolve: dict[str, bytes] = field(default_factory=dict)  # arXiv id -> answer body
    root: Path | None = None  # serve this directory instead (a built site)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        srv = self.server
        parts = urlsplit(self.path)
        key = parts.path + (f"?{parts.query}" if parts.query else "")
        with srv.lock:
            srv.hits[key] += 1
            srv.agents.add(self.headers.get("User-Agent", ""))
            fault = srv.faults.get(parts.path)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times < 0:
                    del srv.faults[parts.path]
                    fault = None
        body = srv.lookup(parts.path, parts.query)
        if srv.latency:
            time.sleep(srv.latency)  # a distant server (benchmarks)
        if fault is not None:
            self._fault(fault.mode, body)
            return
        if body is None:
            self._send(404, b'{"error":"not found"}', "application/json")
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, body, "application/json", {"ETag": etag})

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, mode: str, body: bytes | None) -> None:
        srv = self.server
        data = body or b'{"x": 1}'
        if mode == "reset":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif mode == "truncate":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif mode == "short-length":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) - 10))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        elif mode == "gzip-bomb":
            self._send(200, srv.bomb(), "application/json", {"Content-Encoding": "gzip"})
        elif mode == "gzip":
            self._send(200, gzip.compress(data), "application/json", {"Content-Encoding": "gzip"})
        elif mode.startswith("status:"):
            status = int(mode.split(":", 1)[1])
            extra = {"Retry-After": str(srv.retry_after)} if status in (429, 503) else {}
            self._send(status, b"busy", "text/plain", extra)
        elif mode.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", mode.split(":", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "html":
            self._send(200, b"<!doctype html><title>Error</title><h1>Oops</h1>", "text/html")
        elif mode == "drip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    if srv.stopping.wait(srv.drip_delay):
                        break
            except OSError:
                pass
            self.close_connection = True
        else:
            raise AssertionError(mode)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: a client opening 8 connections at once (the
    # fetch's default concurrency) may see a SYN dropped and wait a second to send it again
    request_queue_size = 64

    def __init__(self, tree: Tree, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.tree = tree
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.agents: set[str] = set()
        self.faults: dict[str, Fault] = {}
        self.retry_after = 1
        self.latency = 0.0
        self.drip_delay = 0.5
        self.bomb_size = 64 * 1024 * 1024
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (on purpose, or killed) are part of the tests

    def bomb(self) -> bytes:
        return _bomb(self.bomb_size)

    def lookup(self, path: str, query: str) -> bytes | None:
        tree = self.tree
        if path == "/api/pith-number/resolve":
            q = parse_qs(query)
            return tree.resolve.get((q.get("arxiv") or [""])[0])
        if tree.root is not None:
            rel = unquote(path).lstrip("/")
            if ".." in rel.split("/"):
                return None
            target = tree.root / rel
            if target.is_dir():
                target = target / "index.html"
            return target.read_bytes() if target.is_file() else None
        return tree.files.get(path)


@functools.cache
def _bomb(size: int) -> bytes:
    return gzip.compress(b"{" + b" " * size + b"}", compresslevel=9)


class PithServer:
    def __init__(self, tree: Tree, tls: ssl.SSLContext | None = None) -> None:
        self._srv = _Server(tree, tls)
        self.tree = tree
        self._thread = threading.Thread(target=self._srv.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"{self._srv.scheme}://{host!s}:{port}"

    @property
    def hits(self) -> Counter[str]:
        return self._srv.hits

    @property
    def agents(self) -> set[str]:
        return self._srv.agents

    def fault(self, path: str, mode: str, times: int | None = None) -> None:
        with self._srv.lock:
            self._srv.faults[path] = Fault(mode, times)

    def clear_faults(self) -> None:
        with self._srv.lock:
            self._srv.faults.clear()

    def configure(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self._srv, k, v)

    def start(self) -> PithServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.stopping.set()
        self._srv.shutdown()
        self._srv.server_close()


@contextmanager
def serve(tree: Tree, tls: ssl.SSLContext | None = None) -> Iterator[PithServer]:
    server = PithServer(tree, tls).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


# -- the tree ---------------------------------------------------------------------------------
def _events(pith_number: str, suffix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": "sha256:" + hashlib.sha256(f"{suffix}:{i}".encode()).hexdigest(),
            "event_type": "record_created" if i == 0 else "graph_snapshot",
            "subject_pith_number": pith_number,
            "created_at": f"2026-05-2{i % 10}T00:00:00Z",
        }
        for i in range(n)
    ]


def endpoint_docs(record: dict[str, Any], n_events: int = 2) -> dict[str, bytes]:
    """path -> body for a record and every optional endpoint (shapes after PROTOCOL.md §5-7)."""
    suffix = record["pith_number"].split(":")[2]
    pn = record["pith_number"]
    arxiv = record["canonical_record"]["source"]["id"]
    events = _events(pn, suffix, n_events)

    def dump(v: Any) -> bytes:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()

    return {
        f"/pith/{suffix}.json": dump_record(record),
        f"/api/pith-number/{suffix}/graph.json": dump({"pith_number": pn, "graph": {"claims": n_events}}),
        f"/api/pith-number/{suffix}/events.json": dump({"pith_number": pn, "events": events}),
        f"/pith/{suffix}/bundle.json": dump(
            {
                "bundle_type": "pith_open_graph_bundle",
                "bundle_version": "1.0",
                "pith_number": pn,
                "canonical_sha256": record["canonical_sha256"],
                "events": events,
            }
        ),
        f"/pith/{suffix}/state.json": dump(
            {"state_type": "pith_open_graph_state", "pith_number": pn, "event_count": n_events}
        ),
        f"/pith/{arxiv}/integrity.json": dump(
            {
                "arxiv_id": arxiv,
                "pith_number": arxiv,
                "events": [
                    {"event_id": 4000 + i, "event_type": "pith.integrity.v1"} for i in range(n_events)
                ],
            }
        ),
    }


def add_record(tree: Tree, record: dict[str, Any], *, endpoints: bool = True, resolve: bool = True) -> str:
    docs = endpoint_docs(record)
    suffix: str = record["pith_number"].split(":")[2]
    if not endpoints:
        docs = {k: v for k, v in docs.items() if k == f"/pith/{suffix}.json"}
    tree.files.update(docs)
    arxiv = record["canonical_record"]["source"]["id"]
    if resolve:
        tree.resolve[arxiv] = json.dumps(
            {"pith_number": record["pith_number"], "url": f"https://pith.science/pith/{suffix}"}
        ).encode()
    return suffix


def add_raw_record(tree: Tree, data: bytes) -> str:
    doc = json.loads(data)
    suffix: str = doc["pith_number"].split(":")[2]
    tree.files[f"/pith/{suffix}.json"] = data
    arxiv = doc["canonical_record"]["source"]["id"]
    tree.resolve[arxiv] = json.dumps({"pith_number": doc["pith_number"]}).encode()
    return suffix


def build_tree(key: TestKey, n: int, seed: int = 7) -> tuple[Tree, list[str]]:
    """``n`` generated records with every endpoint, plus an old-style arXiv id record."""
    import random

    rng = random.Random(seed)
    tree = Tree()
    suffixes: list[str] = []
    seen_arxiv: set[str] = set()
    i = 0
    while len(suffixes) < n:
        rec = random_record(key, rng, i)
        i += 1
        arxiv = rec["canonical_record"]["source"]["id"]
        if arxiv in seen_arxiv:
            continue
        seen_arxiv.add(arxiv)
        suffixes.append(add_record(tree, rec))
    return tree, suffixes


def old_style_record(key: TestKey) -> dict[str, Any]:
    rec = make_record(
        key, arxiv_id="cs/0004010", title="An old-style identifier", submitted_at="2000-04-12T00:00:00Z"
    )
    assert {a["alias_value"] for a in rec["aliases"]} >= set(
        derived_aliases(rec["pith_number"].split(":")[2], "cs/0004010", 1).values()
    )
    return rec


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")
