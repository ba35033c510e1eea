"""Serve a folder over HTTP on 127.0.0.1 (stdlib), counting hits per path: the offline web for fact-check tests."""

from __future__ import annotations

import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class StaticSite:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.hits: Counter[str] = Counter()
        self._httpd: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{path.lstrip('/')}"

    def start(self) -> "StaticSite":
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.hits[self.path] += 1
                super().do_GET()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(self.folder)))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "StaticSite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
