"""``pith-mirror serve [DIR]``: preview a built site on 127.0.0.1, optionally under a subpath.

With ``--base-path /repo/`` the site answers only below ``/repo/`` (as a GitHub project site
does) and ``/`` redirects there, so relative links that would escape the subpath show up as
404s during preview instead of after deploy. Missing pages get the site's ``404.html``.
"""

from __future__ import annotations

import functools
import http.server
import logging
import posixpath
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from generator.errors import UsageError

log = logging.getLogger(__name__)


def normalise_base_path(base_path: str) -> str:
    parts = [p for p in base_path.split("/") if p]
    if any(
        p in (".", "..") or not p.replace("-", "").replace("_", "").replace(".", "").isalnum() for p in parts
    ):
        raise UsageError(f"--base-path must be like /repo/, got {base_path!r}")
    return "/" + "".join(p + "/" for p in parts)


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    base_path = "/"

    def __init__(self, *args: Any, directory: str, base_path: str, **kwargs: Any) -> None:
        self.base_path = base_path
        super().__init__(*args, directory=directory, **kwargs)

    def _strip_base(self) -> bool:
        """Rewrite ``self.path`` below the base path; False when it is outside."""
        raw_path = urllib.parse.urlsplit(self.path).path
        if self.base_path == "/":
            return True
        if raw_path == self.base_path.rstrip("/"):
            self.send_response(301)
            self.send_header("Location", self.base_path)
            self.end_headers()
            return False
        if not raw_path.startswith(self.base_path):
            if raw_path == "/":
                self.send_response(302)
                self.send_header("Location", self.base_path)
                self.end_headers()
                return False
            self._not_found()
            return False
        self.path = "/" + self.path[len(self.base_path) :]
        return True

    def _not_found(self) -> None:
        page = Path(self.directory) / "404.html"
        body = page.read_bytes() if page.is_file() else b"Not found\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_head(self) -> Any:
        if not self._strip_base():
            return None
        target = Path(self.translate_path(self.path))
        url_path = urllib.parse.urlsplit(self.path).path
        if target.is_dir() and not url_path.endswith("/"):
            self.send_response(301)
            self.send_header("Location", self.base_path.rstrip("/") + url_path + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if target.is_dir():
            if not (target / "index.html").is_file():
                self._not_found()
                return None
        elif not target.exists():
            self._not_found()
            return None
        return super().send_head()

    def list_directory(self, path: str | Any) -> Any:
        self._not_found()
        return None

    def translate_path(self, path: str) -> str:
        # never serve outside the site: SimpleHTTPRequestHandler already drops '..' segments
        translated = super().translate_path(path)
        root = posixpath.normpath(str(self.directory))
        if not posixpath.normpath(translated).startswith(root):
            return root + "/.does-not-exist"
        return translated

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def make_server(directory: Path, port: int = 8000, base_path: str = "/") -> http.server.ThreadingHTTPServer:
    if not (directory / "index.html").is_file():
        raise UsageError(
            f"{directory}: no index.html here; build the site first (pith-mirror build -o {directory})"
        )
    handler = functools.partial(
        SiteHandler, directory=str(directory.resolve()), base_path=normalise_base_path(base_path)
    )
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(directory: Path, port: int = 8000, base_path: str = "/") -> None:
    server = make_server(directory, port, base_path)
    host, real_port = server.server_address[:2]
    log.info(
        "serving %s at http://%s:%d%s (Ctrl-C to stop)",
        directory,
        host,
        real_port,
        normalise_base_path(base_path),
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def serve_in_thread(directory: Path, base_path: str = "/") -> tuple[http.server.ThreadingHTTPServer, str]:
    """Start on a free port in a daemon thread; returns (server, root URL). For tests and tools."""
    server = make_server(directory, 0, base_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    return server, f"http://127.0.0.1:{port}{normalise_base_path(base_path)}"
