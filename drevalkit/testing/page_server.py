"""A real HTTP server on 127.0.0.1 serving good and hostile web pages, for the page fetcher's tests.

Good pages: an article with navigation and footer boilerplate, plain text (also gzipped), markdown, a latin-1 text
page and a small PDF (also served as ``application/octet-stream``). Hostile pages: one that drips bytes forever, one
that never sends headers, an endless body without Content-Length, a Content-Length over any sane cap, a gzip bomb,
a body that is not the gzip it claims, a brotli body (never asked for), an image, a redirect
loop, a redirect to the cloud metadata address and to ftp, 404/500 and a page with no text. ``/chain/N`` redirects N
times and ends at the article, ``/redirect?to=URL`` redirects anywhere, and ``/slow`` answers after 0.3 s while
recording how many requests it served at once (``max_active``). ``hits`` counts requests per path so tests can assert
a page was fetched once. ``/text?mb=N`` is N MB of plain text: one word repeated (filler), or with ``varied=1``
ordinary varied words.

Hanging handlers end when the client disconnects or the server stops, so ``stop()`` never waits on them.
"""

from __future__ import annotations

import functools
import gzip
import io
import random
import select
import socket
import ssl
import sys
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from drevalkit.testing.base import LocalHTTPServer

ARTICLE_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grid batteries in Europe | Energy Weekly</title></head>
<body>
<header><nav><ul>
  <li><a href="/">NAVHOME</a></li><li><a href="/news">NAVNEWS</a></li><li><a href="/about">NAVABOUT</a></li>
  <li><a href="/subscribe">Subscribe to NAVLETTER today</a></li>
</ul></nav></header>
<main><article>
<h1>Grid batteries in Europe</h1>
<p>Grid-scale battery storage in the European Union grew from about 0.5 gigawatts in 2020 to more than 7 gigawatts
by the end of 2024, according to the association of storage operators. Germany, Italy and Great Britain led the
deployments, driven by falling cell prices and new capacity markets.</p>
<p>Lithium iron phosphate chemistry dominated new projects, accounting for nearly nine in ten megawatt-hours
installed in 2024. Operators cited its longer cycle life and lower fire risk compared with nickel-based cells.</p>
<table><tr><th>Year</th><th>Capacity (GW)</th></tr><tr><td>2020</td><td>0.5</td></tr>
<tr><td>2024</td><td>7.1</td></tr></table>
<p>Analysts expect the installed base to triple again by 2027 as grid operators procure fast frequency response
and as solar-heavy systems need evening capacity.</p>
</article></main>
<footer><p>Copyright FOOTERCORP 2025. All rights reserved.</p><p><a href="/privacy">FOOTERPRIVACY policy</a></p>
</footer>
</body></html>
"""

EMPTY_HTML = """<!DOCTYPE html><html><head><title>Loading</title><script>var app = start();</script></head>
<body><div id="root"></div><noscript></noscript></body></html>
"""

PLAIN_TEXT = "Plain facts.\nThe Hornsdale Power Reserve in South Australia opened in December 2017.\n"
GZIPPED_PLAIN = gzip.compress(PLAIN_TEXT.encode("utf-8"))
MARKDOWN = "# Storage notes\n\nPumped hydro still holds **over 90%** of global storage capacity.\n"
LATIN1_TEXT = "Le café de la gare vend des crêpes."
PDF_LINES = ("Battery storage report 2024.", "Installed capacity reached 7.1 gigawatts.")
PDF_TITLE = "Storage Report"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: tuple[str, ...] = PDF_LINES, title: str = PDF_TITLE) -> bytes:
    """A minimal valid one-page PDF whose text pypdf extracts (pypdf's writer cannot add text by itself)."""
    shown = " 0 -16 Td ".join(f"({_pdf_escape(line)}) Tj" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode("latin-1")
    return make_pdf_stream(stream, info=f"<< /Title ({_pdf_escape(title)}) >>".encode("latin-1"))


def _pdf_file(objects: list[bytes], info: bytes | None) -> bytes:
    if info is not None:
        objects = [*objects, info]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info_ref = b" /Info %d 0 R" % len(objects) if info is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info_ref, xref)
    return bytes(out)


def _words(rng: random.Random, count: int = 4000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(count)]


HOSTILE_KINDS = ("anchors", "li", "deep", "soup", "pdf")


@functools.cache
def hostile_page(kind: str, size: int, varied: bool = False, seed: int = 7) -> bytes:
    """About ``size`` bytes of a page built to stall an extractor (see the module docstring); cached per process."""
    rng = random.Random(seed)
    vocabulary = _words(rng)

    def word() -> str:
        return rng.choice(vocabulary) if varied else "word"

    units = {
        "anchors": lambda: f'<a href="/{word()}">{word()}</a>',
        "li": lambda: f"<li>{word()} {word()} ",
        "deep": lambda: f"<div><span>{word()} " if varied else "<div>",
        "soup": lambda: f"<p><span>{word()} {word()}</span> <b>{word()}</b> <i>{word()}</i></p>\n",
        "pdf": lambda: f"({word()} {word()}) Tj 0 -1 Td ",
    }
    unit = units[kind]
    parts, length = [], 0
    while length < size:
        part = unit()
        parts.append(part)
        length += len(part)
    body = "".join(parts)
    if kind == "pdf":
        return make_pdf_stream(f"BT /F1 12 Tf 72 720 Td {body} ET".encode("latin-1"))
    opening = "<ul>" if kind == "li" else ""
    return f"<!DOCTYPE html><html><head><title>Hostile {kind}</title></head><body>{opening}{body}".encode()


@functools.cache
def big_article(kilobytes: int, seed: int = 3) -> bytes:
    """The article followed by ``kilobytes`` KB of ordinary (varied) paragraphs: a large but honest page."""
    rng = random.Random(seed)
    vocabulary = _words(rng)
    paragraphs, length = [], 0
    while length < kilobytes * 1024:
        sentence = ". ".join(" ".join(rng.choices(vocabulary, k=12)).capitalize() for _ in range(5))
        paragraphs.append(f"<p>{sentence}.</p>\n")
        length += len(paragraphs[-1])
    more = "<section><h2>Background</h2>" + "".join(paragraphs) + "</section>"
    return ARTICLE_HTML.replace("</article>", more + "</article>").encode("utf-8")


@functools.cache
def long_text(size: int, varied: bool = False, seed: int = 5) -> bytes:
    """About ``size`` bytes of plain text: one sentence repeated (filler), or sentences of varied words (honest)."""
    if not varied:
        return ("battery storage capacity " * (size // 25 + 1)).encode()
    rng = random.Random(seed)
    vocabulary = _words(rng)
    lines, length = ["Grid storage notes.\n"], 0
    while length < size:
        lines.append(" ".join(rng.choices(vocabulary, k=12)).capitalize() + ".\n")
        length += len(lines[-1])
    return "".join(lines).encode()


def make_pdf_stream(stream: bytes, info: bytes | None = None) -> bytes:
    """A one-page PDF whose page content is ``stream`` (PDF operators), uncompressed."""
    return _pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ],
        info=info,
    )


@functools.cache
def gzip_bomb(size_mb: int = 64) -> bytes:
    """About 64 KB of gzip that inflates to ``size_mb`` MB of zeros (built once per process)."""
    return gzip.compress(bytes(size_mb << 20), compresslevel=9)


class PageServer(LocalHTTPServer):
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.server_names: list[str | None] = []
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
        self.hosts: list[str] = []
        self.hits: Counter[str] = Counter()
        self.active = 0
        self.max_active = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def start(self) -> PageServer:
        class Handler(PageHandler):
            server_state = self

        return self._serve(Handler, poll_interval=0.05)

    def stop(self) -> None:
        self.stopping.set()  # ends the handlers that hang on purpose
        super().stop()

    def hit(self, path: str) -> None:
        with self.lock:
            self.hits[path] += 1


class PageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # a blocked write to a client that stopped reading ends instead of hanging
    server_state: PageServer

    tls_failed = False

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        tls = self.server_state.tls
        if tls is not None:
            self.request.settimeout(self.timeout)
            try:
                self.request = tls.wrap_socket(self.request, server_side=True)
            except OSError:  # the client refused the certificate (or spoke plain HTTP): nothing to answer
                self.tls_failed = True
                self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
                return
        super().setup()

    def handle(self) -> None:
        if self.tls_failed:
            return
        try:
            super().handle()
        except OSError:  # the client went away: broken pipe, reset (it closed with our data unread), or stalled
            pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self.server_state.hit(path)
        self.server_state.hosts.append(self.headers.get("Host", ""))
        routes: dict[str, Callable[[], None]] = {
            "/article": lambda: self._send(200, "text/html; charset=utf-8", ARTICLE_HTML.encode("utf-8")),
            "/plain": lambda: self._send(200, "text/plain; charset=utf-8", PLAIN_TEXT.encode("utf-8")),
            "/notes.md": lambda: self._send(200, "text/markdown", MARKDOWN.encode("utf-8")),
            "/latin1": lambda: self._send(200, "text/plain; charset=iso-8859-1", LATIN1_TEXT.encode("latin-1")),
            "/report.pdf": lambda: self._send(200, "application/pdf", make_pdf()),
            "/report-download": lambda: self._send(200, "application/octet-stream", make_pdf()),
            "/blob": lambda: self._send(200, "application/octet-stream", b"\x00\x01binary" * 10),
            "/image.png": lambda: self._send(200, "image/png", PNG_BYTES),
            "/empty": lambda: self._send(200, "text/html", EMPTY_HTML.encode("utf-8")),
            "/error": lambda: self._send(500, "text/html", b"<p>Internal Server Error</p>"),
            "/loop": lambda: self._redirect("/loop2"),
            "/loop2": lambda: self._redirect("/loop"),
            "/to-metadata": lambda: self._redirect("http://169.254.169.254/latest/meta-data"),
            "/to-ftp": lambda: self._redirect("ftp://127.0.0.1/file.txt"),
            "/redirect": lambda: self._redirect(parse_qs(parts.query)["to"][0]),
            "/slow": self._slow,
            "/drip": self._drip,
            "/stall": self._stall,
            "/huge": self._huge,
            "/huge-declared": self._huge_declared,
            "/gzip-bomb": lambda: self._send(200, "text/html", gzip_bomb(), {"Content-Encoding": "gzip"}),
            "/plain-gzip": lambda: self._send(200, "text/plain", GZIPPED_PLAIN, {"Content-Encoding": "gzip"}),
            "/bad-gzip": lambda: self._send(200, "text/html", b"this is not gzip", {"Content-Encoding": "gzip"}),
            "/brotli": lambda: self._send(200, "text/html", b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br"}),
        }
        query = parse_qs(parts.query)
        if path in routes:
            routes[path]()
        elif path.startswith("/hostile/") and path[9:] in HOSTILE_KINDS:
            kind = path[9:]
            body = hostile_page(kind, int(float(query.get("mb", ["1"])[0]) * 1_000_000), "varied" in query)
            self._send(200, "application/pdf" if kind == "pdf" else "text/html; charset=utf-8", body)
        elif path == "/text":
            body = long_text(int(float(query.get("mb", ["1"])[0]) * 1_000_000), "varied" in query)
            self._send(200, "text/plain; charset=utf-8", body)
        elif path == "/big-article":
            self._send(200, "text/html; charset=utf-8", big_article(int(query.get("kb", ["200"])[0])))
        elif path.startswith("/chain/") and path[7:].isdigit():
            left = int(path[7:])
            self._redirect(f"/chain/{left - 1}" if left > 1 else "/article")
        else:
            self._send(404, "text/html", b"<p>Not Found</p>")

    # -- responses -------------------------------------------------------------------------------------------
    def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _start_unbounded(self, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Headers of a body that ends only when the connection closes."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _slow(self) -> None:
        state = self.server_state
        with state.lock:
            state.active += 1
            state.max_active = max(state.max_active, state.active)
        try:
            state.stopping.wait(0.3)
        finally:
            with state.lock:
                state.active -= 1
        self._send(200, "text/plain", b"A slow but complete answer.")

    def _drip(self) -> None:
        self._start_unbounded("text/html")
        self.wfile.write(b"<html><body>")
        while not self.server_state.stopping.wait(0.05):
            self.wfile.write(b"<p>still loading</p>\n")
            self.wfile.flush()

    def _stall(self) -> None:
        self.close_connection = True
        while not self.server_state.stopping.wait(0.05):
            if self._client_gone():
                return

    def _huge(self) -> None:
        self._start_unbounded("text/plain")
        chunk = b"x" * 65536
        for _ in range(4096):  # 256 MB, far over any test cap
            if self.server_state.stopping.is_set():
                return
            self.wfile.write(chunk)

    def _huge_declared(self) -> None:
        self._start_unbounded("text/plain", {"Content-Length": str(200 << 20)})
        chunk = b"y" * 65536
        while not self.server_state.stopping.is_set():
            self.wfile.write(chunk)

    def _client_gone(self) -> bool:
        """True once the client has closed its end (readable socket with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True


def main() -> None:
    """Serve until standard input closes; print the port first."""
    with PageServer() as server:
        print(server.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
