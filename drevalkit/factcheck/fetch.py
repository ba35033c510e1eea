"""Fetch web pages for the fact-checker: once per URL, within hard limits, and never into the local network.

Report URLs are untrusted input, so every fetch is bounded: connect/read timeouts, a total cap per fetch (slow-drip
and never-ending responses), a size cap on the decoded body (gzip bombs), a redirect cap with loop detection, an
allow-list of content types, and extraction in worker processes under time and memory limits (see ``extract``).
Unless ``allow_private_urls`` is set, every hop's host is resolved and refused when it points at a loopback, private,
link-local (cloud metadata) or otherwise non-public address, because a cited URL must not be able to make dreval
probe the machine or network it runs on. The connection then goes to the addresses that were checked, never through
a second lookup (which a DNS-rebinding server would answer with 127.0.0.1); the Host header, the TLS server name and
the certificate check keep the URL's host name. Environment proxies are not used while the guard is on: a proxy
would resolve the name itself.

Every outcome that is a property of the page, failures included (404, too large, not text, no text), goes to the
store, so such a URL is fetched at most once across runs and a replay run (``replay=True``) can evaluate again from
the store alone, without the network. A failure that may pass (a timeout, a dropped or refused connection, 408, 429,
5xx, an extraction that ran out of time) is kept for the run only: one run requests a URL once, the next one again.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ..__version__ import __version__
from ..config import Settings
from ..documents import (  # noqa: F401 - extract_text and the type sets are also used from here
    HTML_TYPES,
    PDF_TYPE,
    TEXT_TYPES,
    ExtractionError,
    ExtractionLimits,
    extract_async,
    extract_text,
)
from ..schemas import FetchRecord
from ..store import Store

USER_AGENT = f"drevalkit/{__version__} (+fact-check)"
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,text/markdown;q=0.9,application/pdf;q=0.8,*/*;q=0.1"

# Types that say nothing about the content: the body is accepted only if it turns out to be a PDF.
_SNIFFED_TYPES = frozenset({"", "application/octet-stream"})

_LOCAL_NAMES = ("localhost", "metadata.google.internal")
# pages a Fetcher keeps in memory (least recently used dropped beyond this many characters): a source cited by many
# claims is read from the store once, not once per claim (each read a thread hop, two queries, a decompression)
RECENT_PAGE_CHARS = 16_000_000
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(ip: str) -> bool:
    """True if ``ip`` is a globally routable unicast address; IPv4 embedded in IPv6 is judged by the IPv4 part."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif addr.sixtofour is not None:
            addr = addr.sixtofour
        elif addr in _NAT64:
            addr = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        elif addr.is_site_local:
            return False
    return addr.is_global and not (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a module function so tests can stand in for DNS)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # an IP family's sockaddr opens with the address as text (typeshed's int is for other families)
    return [str(info[4][0]) for info in infos]


@dataclass
class _Page:
    """What is known about a fetch so far; filled in hop by hop so a timeout can still report where it stopped."""

    url: str
    final_url: str
    status: int | None = None
    content_type: str = ""
    charset: str | None = None
    body: bytes = b""
    # a refusal by the address guard or a failed DNS lookup depends on settings and the network, not on the page:
    # it is not stored, so a later run with --allow-private-urls or a working resolver fetches the page
    durable: bool = True


def _parse_content_type(value: str) -> tuple[str, str | None]:
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip("\"'")
    return mime.strip().lower(), charset


@dataclass(frozen=True)
class _Pin:
    """The addresses the guard vetted for one host and port: the only ones a connection may go to."""

    host: str  # as the connection pool sees it: the URL's host, IDNA-encoded, without brackets
    port: int
    addresses: tuple[str, ...]


# The pin of the request this task is sending; read by the network backend when it opens a connection.
_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("drevalkit_fetch_pin", default=None)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the vetted addresses of the current request's pin, never to a fresh lookup.

    TLS is unaffected: httpcore starts it on the returned stream with the URL's host name as the server name, so SNI
    and the certificate check use the name, not the address. A connection with no matching pin is refused, so a code
    path that skips the guard fails closed.
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _PIN.get()
        if pin is None or (pin.host, pin.port) != (host.lower(), port):
            raise httpcore.ConnectError(f"refused: {host}:{port} was not vetted by the private-address guard")
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception = httpcore.ConnectError(f"cannot resolve host {host}: no addresses")
        for address in pin.addresses:  # in resolver order, each with the time left
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=left, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("refused: unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, with its connection pool connecting through ``_PinnedBackend``."""

    def __init__(self) -> None:
        super().__init__(trust_env=True)  # SSL_CERT_FILE / SSL_CERT_DIR are still honoured
        pool = getattr(self, "_pool", None)
        # httpx offers no public way to choose the pool's network backend: set it, and refuse to run unguarded if an
        # httpx or httpcore release changes these internals (the tests also check that connections are pinned).
        if type(pool) is not httpcore.AsyncConnectionPool or not isinstance(
            getattr(pool, "_network_backend", None), httpcore.AsyncNetworkBackend
        ):
            raise RuntimeError(
                "this httpx/httpcore version does not allow pinning connections to vetted addresses; "
                "pass --allow-private-urls to fetch without the private-address guard"
            )
        pool._network_backend = _PinnedBackend()


class Fetcher:
    """Fetches pages through the store; use as ``async with Fetcher(settings, store) as fetcher``.

    ``fetches`` counts URLs for which a request was sent (a redirect chain counts once); ``reused`` counts answers
    served from the store (or from the pages this fetcher got recently, ``RECENT_PAGE_CHARS``).
    """

    def __init__(self, settings: Settings, store: Store, *, replay: bool = False):
        self.settings = settings
        self.store = store
        self.replay = replay
        self.fetches = 0
        self.reused = 0
        self._max_bytes = settings.fetch_max_bytes
        self._limits = ExtractionLimits.of(settings)
        self._client: httpx.AsyncClient | None = None
        self._inflight: dict[str, asyncio.Task[tuple[FetchRecord, str | None, bool]]] = {}
        self._passing_failures: dict[str, FetchRecord] = {}
        self._recent: OrderedDict[str, tuple[FetchRecord, str | None]] = OrderedDict()
        self._recent_chars = 0
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._all: asyncio.Semaphore | None = None
        self._extracting: asyncio.Semaphore | None = None

    async def __aenter__(self) -> Fetcher:
        self._all = asyncio.Semaphore(self.settings.fetch_concurrency)
        # at most as many extractions waiting in threads as there are workers, so they never fill the thread pool
        self._extracting = asyncio.Semaphore(self._limits.workers)
        if not self.replay:
            guarded = not self.settings.allow_private_urls
            pinned: dict[str, Any] = {"transport": _PinnedTransport(), "trust_env": False} if guarded else {}
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.settings.fetch_timeout),
                headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT, "Accept-Encoding": "gzip"},
                **pinned,
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        pending = list(self._inflight.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, url: str) -> tuple[FetchRecord, str | None]:
        """The record and extracted text of ``url`` (text is None on failure); from the store when it is there."""
        if url in self._passing_failures:
            self.reused += 1
            return self._passing_failures[url], None
        recent = self._recent.get(url)
        if recent is not None:
            self._recent.move_to_end(url)
            self.reused += 1
            return recent
        # The store lookup runs inside the shared task: a caller arriving while another looks the page up or
        # fetches it waits for that one, instead of missing the store (not written yet) and fetching it again.
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.ensure_future(self._stored_or_fetched(url))
            self._inflight[url] = task
            task.add_done_callback(lambda _: self._inflight.pop(url, None))
        # Shielded: one caller giving up must not cancel the request the other callers are waiting for.
        record, text, from_store = await asyncio.shield(task)
        self.reused += from_store
        return record, text

    async def _stored_or_fetched(self, url: str) -> tuple[FetchRecord, str | None, bool]:
        """The page from the store (True) or freshly fetched and stored (False)."""
        stored = await self.store.arun(self._from_store, url)
        if stored is not None:
            self._remember(url, *stored)
            return stored[0], stored[1], True
        if self.replay:
            return FetchRecord(url=url, ok=False, error="not in the evidence store (replay)"), None, False
        if self._client is None:
            raise RuntimeError("Fetcher must be used as 'async with Fetcher(...) as fetcher'")
        record, text = await self._fetch_and_store(url)
        if url not in self._passing_failures:  # a stored answer: the same as the store would give
            self._remember(url, record, text)
        return record, text, False

    def _remember(self, url: str, record: FetchRecord, text: str | None) -> None:
        size = len(text or "")
        if size > RECENT_PAGE_CHARS:
            return
        previous = self._recent.pop(url, None)
        if previous is not None:
            self._recent_chars -= len(previous[1] or "")
        self._recent[url] = (record, text)
        self._recent_chars += size
        while self._recent_chars > RECENT_PAGE_CHARS:
            _, (_, dropped) = self._recent.popitem(last=False)
            self._recent_chars -= len(dropped or "")

    def _from_store(self, url: str) -> tuple[FetchRecord, str | None] | None:
        record = self.store.get_fetch(url)
        if record is None:
            return None
        if not record.guarded and not self.settings.allow_private_urls:
            # fetched with the address guard off: it may be a private page, so it is not used without the flag
            if self.replay:
                return record.model_copy(
                    update={"ok": False, "error": "stored with --allow-private-urls; pass it to use this page"}
                ), None
            return None
        if not record.ok:
            return record, None
        text = self.store.get_document(record.content_sha256)
        return None if text is None else (record, text)

    async def _fetch_and_store(self, url: str) -> tuple[FetchRecord, str | None]:
        page = _Page(url=url, final_url=url)
        record, text = await self._fetch_new(page)
        record.guarded = not self.settings.allow_private_urls
        if not page.durable:
            self._passing_failures[url] = record  # not stored, but not requested again in this run either
        else:
            # In a thread: indexing a large document for full-text search would otherwise stall every other fetch.
            await asyncio.to_thread(self.store.put_fetch, record, text)
        return record, text

    async def _fetch_new(self, page: _Page) -> tuple[FetchRecord, str | None]:
        url = page.url
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as exc:
            return self._failed(page, f"invalid URL: {' '.join(str(exc).split())}"), None
        assert self._all is not None
        # The host slot is taken first so that URLs queued behind one busy host do not hold global slots.
        async with self._host_limit(host), self._all:
            total = self.settings.fetch_total_timeout
            # Failures that may pass (no answer or no whole page in time, a dropped connection, server trouble) are
            # not stored, so a later run tries again: a page still arriving at the cap may drip forever, but it may
            # as well come from a loaded server or to a loaded machine.
            transient = False
            try:
                error = await asyncio.wait_for(self._download(page), total)
            except asyncio.TimeoutError:
                error = f"timed out: no complete page within {total:g} s (fetch_total_timeout)"
                transient = True
            except httpx.TimeoutException as exc:
                error = f"timed out ({type(exc).__name__}) after {self.settings.fetch_timeout:g} s (fetch_timeout)"
                transient = True
            except httpx.ConnectError as exc:
                error = f"cannot connect: {' '.join(str(exc).split()) or type(exc).__name__}"
                transient = True
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                transient = isinstance(exc, httpx.TransportError)
        if error is not None:
            if transient or page.status in (408, 429) or (page.status or 0) >= 500:
                page.durable = False
            return self._failed(page, error), None
        assert self._extracting is not None
        try:
            async with self._extracting:
                # Every HTML page goes to the worker processes, small ones too: a fact-check fetches pages while
                # it prompts the judge, and trafilatura in a thread here holds the interpreter lock the event loop
                # needs (a fifth of a scoring run's CPU at 256 calls in flight: benchmarks/scale.py).
                extracted = await extract_async(
                    page.content_type, page.body, page.charset, self._limits, inline_max_bytes=0
                )
        except ValueError as exc:
            if isinstance(exc, ExtractionError) and not exc.durable:
                page.durable = False
            return self._failed(page, str(exc)), None
        finally:
            page.body = b""  # the text is all that is kept
        record = FetchRecord(
            url=url,
            final_url=page.final_url,
            ok=True,
            http_status=page.status,
            content_type=page.content_type,
            title=extracted.title,
            note=extracted.note,
        )
        return record, extracted.text

    def _host_limit(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.settings.fetch_per_host)
        return self._hosts[host]

    @staticmethod
    def _failed(page: _Page, error: str) -> FetchRecord:
        return FetchRecord(
            url=page.url,
            final_url=page.final_url,
            ok=False,
            http_status=page.status,
            content_type=page.content_type,
            error=error,
        )

    async def _download(self, page: _Page) -> str | None:
        """Follow redirects by hand so each hop passes the URL check; fill ``page``; return an error or None."""
        assert self._client is not None
        url, seen = page.url, set()
        for hop in range(self.settings.fetch_max_redirects + 1):
            page.final_url, page.status, page.content_type = url, None, ""
            seen.add(url)
            refusal, pin = await self._check_url(url, page)
            if refusal is not None:
                return refusal
            if hop == 0:
                self.fetches += 1
            pinned = _PIN.set(pin)  # the connection, if a new one is opened, goes to the addresses just checked
            try:
                async with self._client.stream("GET", url) as response:
                    page.status = response.status_code
                    location = response.headers.get("location")
                    if not (response.is_redirect and location):
                        return await self._read_body(response, page)
            finally:
                _PIN.reset(pinned)
            url = str(httpx.URL(url).join(location))
            if url in seen:
                return f"redirect loop: {url} was already visited"
        return f"too many redirects (more than {self.settings.fetch_max_redirects})"

    async def _check_url(self, url: str, page: _Page) -> tuple[str | None, _Pin | None]:
        """Why ``url`` must not be requested (scheme, or a host that is or resolves to a non-public address), or
        else the addresses its connection must go to (None with the guard off)."""
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https"):
            return f"unsupported URL scheme {parsed.scheme or '(none)'!r}: only http and https are fetched", None
        host = parsed.host
        if not host:
            return "URL has no host", None
        if self.settings.allow_private_urls:
            return None, None
        page.durable = False  # from here on a refusal depends on settings and DNS, not on the page
        name = host.lower().rstrip(".")
        if name in _LOCAL_NAMES or name.endswith(".localhost"):
            return f"refused: {host} is a local host name (pass --allow-private-urls to allow)", None
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        # the name the connection is for (IDNA-encoded by httpx), which is not always what getaddrinfo would make of
        # the Unicode form
        raw_host = parsed.raw_host.decode("ascii").lower()
        try:
            addresses = list(dict.fromkeys(await resolve(raw_host, port)))
        except (OSError, UnicodeError) as exc:
            return f"cannot resolve host {host}: {' '.join(str(exc).split())}", None
        for address in addresses:
            if not is_public_address(address):
                return f"refused: {address} is a private/loopback address (pass --allow-private-urls to allow)", None
        if not addresses:
            return f"cannot resolve host {host}: no addresses", None
        page.durable = True
        return None, _Pin(raw_host, port, tuple(address.split("%", 1)[0] for address in addresses))

    async def _read_body(self, response: httpx.Response, page: _Page) -> str | None:
        """Check status, type and size, then read the body into ``page``, inflating gzip within the size cap."""
        page.content_type, page.charset = _parse_content_type(response.headers.get("content-type", ""))
        if not response.is_success:
            return f"HTTP {response.status_code} {response.reason_phrase}".strip()
        accepted = page.content_type in HTML_TYPES or page.content_type in TEXT_TYPES or page.content_type == PDF_TYPE
        if not accepted and page.content_type not in _SNIFFED_TYPES:
            return f"unsupported content type {page.content_type}"
        cap_mb = f"{self.settings.fetch_max_mb:g} MiB"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            return f"page too large: Content-Length {declared} bytes is over the {cap_mb} cap (fetch_max_mb)"
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            return f"unsupported content encoding {encoding}"
        # Inflated here rather than by httpx, which inflates each network read whole (64 KB of gzip can become
        # 64 MB at once); with max_length, memory never exceeds the cap however well the body compresses.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding.endswith("gzip") else None
        body = bytearray()
        too_large = f"page too large: more than {cap_mb}{' after decompression' if inflater else ''} (fetch_max_mb)"
        try:
            async for raw in response.aiter_raw():
                if inflater is None:
                    body += raw
                while inflater is not None and raw and len(body) <= self._max_bytes:
                    body += inflater.decompress(raw, self._max_bytes + 1 - len(body))
                    raw = inflater.unconsumed_tail
                if len(body) > self._max_bytes:
                    return too_large
        except zlib.error as exc:
            return f"cannot decode the response body: {exc}"
        page.body = bytes(body)
        if not accepted:
            if b"%PDF-" not in page.body[:1024]:
                return f"unsupported content type {page.content_type or '(none)'}"
            page.content_type = PDF_TYPE
        return None
