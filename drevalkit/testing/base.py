"""What the local test servers share: the server lifecycle and a JSON-answering request handler."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

_S = TypeVar("_S", bound="LocalHTTPServer")


class _Server(ThreadingHTTPServer):
    # a real server's listen backlog (uvicorn's, under vLLM and SGLang, is 2048), not socketserver's 5: with 5, a
    # burst of connections (a client opening 64 at once) overflows it and the kernel resets some of them
    request_queue_size = 1024


class LocalHTTPServer:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, served from a daemon thread so tests never wait on it.

    Subclasses define ``start()``, which builds their handler class and returns ``self._serve(handler)``.
    """

    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self: _S) -> _S:
        raise NotImplementedError

    def _serve(self: _S, handler_class: Any, poll_interval: float = 0.5) -> _S:
        # Daemon request threads: stop() must not wait on handlers that hang on purpose.
        self._httpd = _Server(("127.0.0.1", 0), handler_class)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not started"
        return self._httpd.server_address[1]

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler whose ``_send`` answers JSON, or a str as HTML (to imitate a broken API)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(payload, str):
            data, content_type = payload.encode("utf-8"), "text/html; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode("utf-8"), "application/json"
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up, as fault tests make it do
            pass
