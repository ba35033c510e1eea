"""Serve a folder over HTTP on 127.0.0.1 (stdlib), counting hits per path: the offline web for fact-check tests."""

from __future__ import annotations

from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from drevalkit.testing.base import LocalHTTPServer


class StaticSite(LocalHTTPServer):
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.hits: Counter[str] = Counter()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> StaticSite:
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.hits[self.path] += 1
                super().do_GET()

        return self._serve(partial(Handler, directory=str(self.folder)))
