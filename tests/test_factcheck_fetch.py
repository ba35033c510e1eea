"""The page fetcher against a real local server: extraction, hostile pages, the private-address guard and its
pinned connections, caching, and extraction bounded in time and memory."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import pytest

from drevalkit import documents as extract_module
from drevalkit.config import Settings, score_fields
from drevalkit.factcheck import fetch as fetch_module
from drevalkit.factcheck.fetch import Fetcher, is_public_address
from drevalkit.schemas import FetchRecord
from drevalkit.store import Store
from drevalkit.testing.page_server import (
    ARTICLE_HTML,
    PageHandler,
    PageServer,
    big_article,
    hostile_page,
    long_text,
    make_pdf,
)

from .support import workers_alive_after_killing

TOTAL_CAP = 1.5
REFUSED = "refused: {} is a private/loopback address (pass --allow-private-urls to allow)"


@pytest.fixture
def pages():
    with PageServer() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite3") as opened:
        yield opened


def fetch_settings(tmp_path, **overrides) -> Settings:
    values = dict(
        home=tmp_path,
        allow_private_urls=True,
        fetch_timeout=5.0,
        fetch_total_timeout=10.0,  # room for a good page on a loaded machine; the hostile-page tests pass TOTAL_CAP
        fetch_max_mb=1,
        fetch_max_redirects=3,
    )
    values.update(overrides)
    return Settings(**values)


def fetch_urls(settings: Settings, store: Store, urls: list[str], *, replay: bool = False):
    """Fetch ``urls`` one after the other with a new Fetcher; return the results and the fetcher (for its counters)."""

    async def run():
        async with Fetcher(settings, store, replay=replay) as fetcher:
            return [await fetcher.fetch(url) for url in urls], fetcher

    return asyncio.run(run())


def fetch_one(settings: Settings, store: Store, url: str, *, replay: bool = False) -> tuple[FetchRecord, str | None]:
    results, _ = fetch_urls(settings, store, [url], replay=replay)
    return results[0]


# -- extraction ----------------------------------------------------------------------------------------------------
def test_article_keeps_the_article_and_drops_the_boilerplate(tmp_path, pages, store):
    url = pages.url("/article")
    record, text = fetch_one(fetch_settings(tmp_path), store, url)
    assert record.ok and record.error == ""
    assert (record.http_status, record.content_type, record.final_url, record.via) == (200, "text/html", url, "web")
    assert record.title.startswith("Grid batteries in Europe")
    assert "more than 7 gigawatts" in text and "Lithium iron phosphate" in text and "7.1" in text  # table kept
    for boilerplate in ("NAVHOME", "NAVNEWS", "NAVLETTER", "FOOTERCORP", "FOOTERPRIVACY"):
        assert boilerplate not in text
    assert store.get_fetch(url) == record
    assert store.get_document(record.content_sha256) == text
    assert [hit.url for hit in store.search_documents("lithium phosphate", 3)] == [url]


@pytest.mark.parametrize(
    ("path", "content_type", "title", "expected"),
    [
        ("/plain", "text/plain", "", "Hornsdale Power Reserve in South Australia opened in December 2017."),
        ("/notes.md", "text/markdown", "Storage notes", "Pumped hydro still holds **over 90%**"),
        ("/plain-gzip", "text/plain", "", "Hornsdale Power Reserve in South Australia opened in December 2017."),
        ("/latin1", "text/plain", "", "Le café de la gare vend des crêpes."),
        ("/report.pdf", "application/pdf", "Storage Report", "Installed capacity reached 7.1 gigawatts."),
        ("/report-download", "application/pdf", "Storage Report", "Battery storage report 2024."),  # sniffed
    ],
)
def test_text_markdown_and_pdf(tmp_path, pages, store, path, content_type, title, expected):
    record, text = fetch_one(fetch_settings(tmp_path), store, pages.url(path))
    assert record.ok, record.error
    assert (record.content_type, record.title) == (content_type, title)
    assert expected in text
    assert store.get_document(record.content_sha256) == text


def test_redirect_chain_is_followed_to_the_page(tmp_path, pages, store):
    url = pages.url("/chain/3")
    record, text = fetch_one(fetch_settings(tmp_path, fetch_max_redirects=3), store, url)
    assert record.ok and "7 gigawatts" in text
    assert (record.url, record.final_url) == (url, pages.url("/article"))
    assert [pages.hits[p] for p in ("/chain/3", "/chain/2", "/chain/1", "/article")] == [1, 1, 1, 1]


# -- hostile pages ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/drip", f"timed out: no complete page within {TOTAL_CAP:g} s (fetch_total_timeout)"),
        ("/stall", f"timed out: no complete page within {TOTAL_CAP:g} s (fetch_total_timeout)"),
        ("/huge", "page too large: more than 1 MiB (fetch_max_mb)"),
        ("/huge-declared", f"page too large: Content-Length {200 << 20} bytes is over the 1 MiB cap (fetch_max_mb)"),
        ("/gzip-bomb", "page too large: more than 1 MiB after decompression (fetch_max_mb)"),
        ("/bad-gzip", "cannot decode the response body: Error -3 while decompressing data: incorrect header check"),
        ("/brotli", "unsupported content encoding br"),
        ("/image.png", "unsupported content type image/png"),
        ("/blob", "unsupported content type application/octet-stream"),
        ("/loop", "redirect loop: {base}/loop was already visited"),
        ("/chain/9", "too many redirects (more than 3)"),
        ("/to-ftp", "unsupported URL scheme 'ftp': only http and https are fetched"),
        ("/error", "HTTP 500 Internal Server Error"),
        ("/missing", "HTTP 404 Not Found"),
        ("/empty", "no extractable text"),
    ],
)
def test_hostile_pages_fail_within_the_caps_and_are_stored(tmp_path, pages, store, path, error):
    url = pages.url(path)
    started = time.monotonic()
    record, text = fetch_one(fetch_settings(tmp_path, fetch_total_timeout=TOTAL_CAP), store, url)
    assert time.monotonic() - started < TOTAL_CAP + 1.0
    assert text is None and not record.ok
    assert record.error == error.format(base=pages.url("")), record.error
    if record.error.startswith(("HTTP 5", "cannot connect", "timed out")):
        assert store.get_fetch(url) is None  # may pass: not stored, so a later run tries again
    else:
        assert store.get_fetch(url) == record  # a property of the page: stored, never requested again


class FlakyPageServer(PageServer):
    """The page server, plus ``/flaky/<how>``: its first request fails that way, later ones get the article."""

    def start(self) -> FlakyPageServer:
        class Handler(_FlakyHandler):
            server_state = self

        return self._serve(Handler, poll_interval=0.05)


class _FlakyHandler(PageHandler):
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/flaky/"):
            return super().do_GET()
        self.server_state.hit(path)
        if self.server_state.hits[path] > 1:
            return self._send(200, "text/html; charset=utf-8", ARTICLE_HTML.encode("utf-8"))
        failures = {
            "503": lambda: self._send(503, "text/html", b"<p>Busy, try later</p>"),
            "429": lambda: self._send(429, "text/html", b"<p>Slow down</p>"),
            "stall": self._stall,  # no headers
            "drip": self._drip,  # headers, then a body that does not end in time
            "drop": lambda: setattr(self, "close_connection", True),  # the connection closed without an answer
        }
        failures[path[len("/flaky/") :]]()


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("503", "HTTP 503 Service Unavailable"),
        ("429", "HTTP 429 Too Many Requests"),
        ("stall", f"timed out: no complete page within {TOTAL_CAP:g} s (fetch_total_timeout)"),
        ("drip", f"timed out: no complete page within {TOTAL_CAP:g} s (fetch_total_timeout)"),
        ("drop", "RemoteProtocolError: Server disconnected without sending a response."),
    ],
)
def test_a_failure_that_may_pass_is_requested_once_in_a_run_and_again_by_the_next(tmp_path, store, how, error):
    settings, path = fetch_settings(tmp_path, fetch_total_timeout=TOTAL_CAP), f"/flaky/{how}"
    with FlakyPageServer() as flaky:
        url = flaky.url(path)
        (first, text), (again, _) = fetch_urls(settings, store, [url, url])[0]
        assert text is None and first.error == error, first.error
        assert again == first and flaky.hits[path] == 1  # the run remembers it
        assert store.get_fetch(url) is None  # the store does not: not a property of the page
        record, text = fetch_one(settings, store, url)  # the next run
        assert record.ok and "7 gigawatts" in text, record.error
        assert flaky.hits[path] == 2 and store.get_fetch(url) == record
        assert fetch_one(settings, store, url) == (record, text) and flaky.hits[path] == 2


def test_pages_fetched_without_the_guard_are_not_reused_with_it(tmp_path, pages, store):
    url = pages.url("/plain")
    record, text = fetch_one(fetch_settings(tmp_path, allow_private_urls=True), store, url)
    assert record.ok and not record.guarded
    guarded, _ = fetch_one(fetch_settings(tmp_path, allow_private_urls=False), store, url)
    assert not guarded.ok and guarded.error.startswith("refused")
    replayed, _ = fetch_one(fetch_settings(tmp_path, allow_private_urls=False), store, url, replay=True)
    assert not replayed.ok and "--allow-private-urls" in replayed.error
    assert pages.hits["/plain"] == 1


def test_read_timeout_is_reported(tmp_path, pages, store):
    record, _ = fetch_one(fetch_settings(tmp_path, fetch_timeout=0.3), store, pages.url("/stall"))
    assert record.error == "timed out (ReadTimeout) after 0.3 s (fetch_timeout)"


@pytest.mark.parametrize("url", ["ftp://example.com/file.txt", "file:///etc/passwd", "not a url", "http:///nohost"])
def test_unsupported_urls_are_refused_without_a_request(tmp_path, store, url):
    results, fetcher = fetch_urls(fetch_settings(tmp_path), store, [url])
    record, text = results[0]
    assert text is None and not record.ok and fetcher.fetches == 0
    assert record.error.startswith(("unsupported URL scheme", "URL has no host", "invalid URL")), record.error


# -- private-address guard -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fec0::1", False),  # site-local
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 wrapping 10.0.0.1
        ("not-an-ip", False),
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("::ffff:8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_is_public_address(ip, public):
    assert is_public_address(ip) is public


def test_guard_refuses_loopback_before_any_request(tmp_path, pages, store):
    settings = fetch_settings(tmp_path, allow_private_urls=False)
    urls = [pages.url("/article"), pages.url("/article", host="localhost"), "http://metadata.google.internal/x"]
    results, fetcher = fetch_urls(settings, store, urls)
    errors = [record.error for record, _ in results]
    assert errors == [
        REFUSED.format("127.0.0.1"),
        "refused: localhost is a local host name (pass --allow-private-urls to allow)",
        "refused: metadata.google.internal is a local host name (pass --allow-private-urls to allow)",
    ]
    assert not pages.hits and fetcher.fetches == 0
    assert store.get_fetch(urls[0]) is None  # a refusal depends on settings: not stored, so it is not permanent


@pytest.fixture
def fake_dns(monkeypatch):
    """Resolve test names from a table; IP literals resolve to themselves; anything else does not resolve."""
    table = {"public.test": ["93.184.216.34", "127.0.0.1"], "private.test": ["10.0.0.5"]}

    async def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(fetch_module, "resolve", resolve)
    return table


def test_guard_checks_every_resolved_address(tmp_path, pages, store, fake_dns):
    settings = fetch_settings(tmp_path, allow_private_urls=False)
    results, _ = fetch_urls(settings, store, [f"http://public.test:{pages.port}/article", "https://nowhere.test/"])
    assert results[0][0].error == REFUSED.format("127.0.0.1")
    assert results[1][0].error.startswith("cannot resolve host nowhere.test: ")
    assert not pages.hits


def test_guard_checks_each_redirect_hop(tmp_path, pages, store, fake_dns, monkeypatch):
    # Let the test server itself through, so the refusal can only come from the check of the redirect targets.
    monkeypatch.setattr(fetch_module, "is_public_address", lambda ip: ip == "127.0.0.1" or is_public_address(ip))
    settings = fetch_settings(tmp_path, allow_private_urls=False)
    to_private = pages.url(f"/redirect?to=http://private.test:{pages.port}/article")
    results, fetcher = fetch_urls(settings, store, [pages.url("/to-metadata"), to_private, pages.url("/plain")])
    (metadata, _), (private, _), (plain, text) = results
    assert metadata.error == REFUSED.format("169.254.169.254")
    assert metadata.final_url == "http://169.254.169.254/latest/meta-data"
    assert private.error == REFUSED.format("10.0.0.5")
    assert private.final_url == f"http://private.test:{pages.port}/article"
    assert plain.ok and "Hornsdale" in text
    assert (pages.hits["/to-metadata"], pages.hits["/redirect"], pages.hits["/article"]) == (1, 1, 0)
    assert fetcher.fetches == 3


# -- caching, sharing, limits, replay ----------------------------------------------------------------------------------
def test_a_url_is_fetched_once_across_fetchers(tmp_path, pages, store):
    settings = fetch_settings(tmp_path)
    # lasting failures: never asked again
    article, failing, missing = pages.url("/article"), pages.url("/image.png"), pages.url("/missing")
    first, fetcher = fetch_urls(settings, store, [article, failing, missing, article, failing, missing])
    assert (fetcher.fetches, fetcher.reused) == (3, 3)
    assert first[:3] == first[3:] and first[2][0].error == "HTTP 404 Not Found"
    with Store(tmp_path / "s.sqlite3") as reopened:
        again, fetcher = fetch_urls(settings, reopened, [article, failing, missing])
    assert (fetcher.fetches, fetcher.reused) == (0, 3)
    assert again == first[:3]
    assert (pages.hits["/article"], pages.hits["/image.png"], pages.hits["/missing"]) == (1, 1, 1)


def test_concurrent_fetches_of_one_url_share_one_request(tmp_path, pages, store):
    async def run():
        async with Fetcher(fetch_settings(tmp_path), store) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(pages.url("/slow")) for _ in range(8))), fetcher

    results, fetcher = asyncio.run(run())
    assert pages.hits["/slow"] == 1 and fetcher.fetches == 1
    assert all(result == results[0] for result in results) and results[0][0].ok


def test_a_caller_whose_store_lookup_missed_joins_the_fetch_in_flight(tmp_path, pages, store):
    """The race of two callers: the second one's store lookup answers 'not there' only after the first caller's
    fetch has finished and stored the page; it must not fetch the page again."""
    calls = 0
    lookup = store.arun

    async def slow_second_lookup(*args, **kwargs):
        nonlocal calls
        calls += 1
        first = calls == 1
        result = await lookup(*args, **kwargs)
        if not first:
            await asyncio.sleep(1.0)  # a stale answer, arriving after the first caller's fetch is done
        return result

    store.arun = slow_second_lookup  # type: ignore[method-assign]  # the test's slow store, on this instance only

    async def run():
        async with Fetcher(fetch_settings(tmp_path), store) as fetcher:
            first = asyncio.ensure_future(fetcher.fetch(pages.url("/article")))
            await asyncio.sleep(0)  # the first caller starts first
            second = asyncio.ensure_future(fetcher.fetch(pages.url("/article")))
            return await asyncio.gather(first, second), fetcher

    (one, two), fetcher = asyncio.run(run())
    assert pages.hits["/article"] == 1 and fetcher.fetches == 1
    assert one == two and one[0].ok


@pytest.mark.parametrize("kept_chars, store_reads", [(fetch_module.RECENT_PAGE_CHARS, 1), (10, 3)])
def test_a_page_asked_again_in_a_run_comes_from_memory(tmp_path, pages, store, monkeypatch, kept_chars, store_reads):
    """A source cited by many claims: the store is read for it once per fetcher, not once per claim, unless the
    pages kept in memory are over their bound (here, 10 characters: nothing is kept)."""
    monkeypatch.setattr(fetch_module, "RECENT_PAGE_CHARS", kept_chars)
    settings = fetch_settings(tmp_path)
    fetch_one(settings, store, pages.url("/article"))  # stored by an earlier run
    reads = 0
    lookup = store.arun

    async def counted(*args, **kwargs):
        nonlocal reads
        reads += 1
        return await lookup(*args, **kwargs)

    store.arun = counted  # type: ignore[method-assign]  # counts this instance's reads only
    results, fetcher = fetch_urls(settings, store, [pages.url("/article")] * 3)
    assert reads == store_reads and (fetcher.fetches, fetcher.reused) == (0, 3)
    assert results[0] == results[1] == results[2] and results[0][0].ok and "Grid batteries in Europe" in results[0][1]
    assert pages.hits["/article"] == 1


def test_per_host_limit(tmp_path, pages, store):
    async def run():
        async with Fetcher(fetch_settings(tmp_path, fetch_per_host=2), store) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(pages.url(f"/slow?n={n}")) for n in range(4)))

    results = asyncio.run(run())
    assert all(record.ok for record, _ in results)
    assert pages.hits["/slow"] == 4 and pages.max_active == 2


def test_replay_uses_the_store_only(tmp_path, pages, store):
    settings = fetch_settings(tmp_path)
    stored_url, new_url, corpus_url = pages.url("/plain"), pages.url("/article"), "https://corpus.example/doc"
    fetch_one(settings, store, stored_url)
    store.put_fetch(FetchRecord(url=corpus_url, ok=True, via="corpus", title="Corpus doc"), "Offline corpus text.")
    results, fetcher = fetch_urls(settings, store, [stored_url, corpus_url, new_url], replay=True)
    (stored, stored_text), (corpus, corpus_text), (missing, missing_text) = results
    assert stored.ok and "Hornsdale" in stored_text
    assert corpus.via == "corpus" and corpus_text == "Offline corpus text."
    assert missing_text is None and missing.error == "not in the evidence store (replay)"
    assert store.get_fetch(new_url) is None
    assert (fetcher.fetches, fetcher.reused) == (0, 2)
    assert dict(pages.hits) == {"/plain": 1}


# -- connections go to the vetted address (no DNS rebinding) -------------------------------------------------------
@pytest.fixture
def lookups(monkeypatch):
    """Names the fetcher's own check resolved (``resolve``), and names the system resolver was asked for."""
    seen = {"vetted": [], "system": []}
    real_getaddrinfo = socket.getaddrinfo

    async def resolve(host: str, port: int) -> list[str]:
        seen["vetted"].append(host)
        if host.endswith(".test"):  # a rebinding server would answer a second lookup with a private address
            return ["127.0.0.1"] if seen["vetted"].count(host) == 1 or host != "rebind.test" else ["10.0.0.5"]
        return [str(ipaddress.ip_address(host))]

    def getaddrinfo(host, *args, **kwargs):
        seen["system"].append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(fetch_module, "resolve", resolve)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # the test server is on loopback: let 127.0.0.1 pass the check, so that what is tested is where the connection goes
    monkeypatch.setattr(fetch_module, "is_public_address", lambda ip: ip == "127.0.0.1" or is_public_address(ip))
    return seen


def test_the_connection_goes_to_the_vetted_address_without_a_second_lookup(tmp_path, pages, store, lookups):
    settings = fetch_settings(tmp_path, allow_private_urls=False)
    # rebind.test resolves to 127.0.0.1 once, then to 10.0.0.5; the system resolver does not know it at all
    record, text = fetch_one(settings, store, f"http://rebind.test:{pages.port}/article")
    assert record.ok, record.error
    assert "7 gigawatts" in text
    assert lookups["vetted"] == ["rebind.test"]  # one lookup, by the check
    assert "rebind.test" not in lookups["system"]  # and none by the HTTP client
    assert pages.hosts == [f"rebind.test:{pages.port}"]  # the Host header keeps the name


def test_each_redirect_hop_connects_to_its_own_vetted_address(tmp_path, pages, store, lookups):
    settings = fetch_settings(tmp_path, allow_private_urls=False)
    url = f"http://first.test:{pages.port}/redirect?to=http://second.test:{pages.port}/chain/1"
    record, text = fetch_one(settings, store, url)
    assert record.ok and "7 gigawatts" in text, record.error
    assert lookups["vetted"] == ["first.test", "second.test", "second.test"]  # every hop checked
    assert not {"first.test", "second.test"} & set(lookups["system"])
    assert pages.hosts == [f"first.test:{pages.port}", f"second.test:{pages.port}", f"second.test:{pages.port}"]


def test_a_connection_without_a_vetted_address_is_refused(pages):
    """The guarded client fails closed: a request that did not go through the check cannot connect anywhere."""

    async def run():
        async with httpx.AsyncClient(transport=fetch_module._PinnedTransport(), trust_env=False) as client:
            return await client.get(pages.url("/plain"))

    with pytest.raises(httpx.ConnectError, match="was not vetted by the private-address guard"):
        asyncio.run(run())
    assert not pages.hits


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for pinned.test (made with the openssl command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=pinned.test",
            "-addext",
            "subjectAltName=DNS:pinned.test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_is_checked_against_the_host_name_not_the_address(tmp_path, store, lookups, certificate, monkeypatch):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test certificate, and only it
    settings = fetch_settings(tmp_path, allow_private_urls=False)
    with PageServer(tls=context) as server:
        good, wrong = f"https://pinned.test:{server.port}/article", f"https://other.test:{server.port}/article"
        (record, text), (mismatch, _) = fetch_urls(settings, store, [good, wrong])[0]
        assert record.ok and "7 gigawatts" in text, record.error
        # both names resolve to the same vetted address: only the name decides whether the certificate fits
        assert not mismatch.ok
        assert mismatch.error.startswith("cannot connect:") and "certificate verify failed" in mismatch.error
        assert "Hostname mismatch" in mismatch.error, mismatch.error
        assert "pinned.test" in server.server_names and "other.test" in server.server_names  # SNI: the names
        assert server.hosts == [f"pinned.test:{server.port}"]
    assert not {"pinned.test", "other.test"} & set(lookups["system"])


def test_without_the_guard_names_resolve_as_usual(tmp_path, pages, store):
    record, text = fetch_one(fetch_settings(tmp_path, allow_private_urls=True), store, pages.url("/plain", "localhost"))
    assert record.ok and "Hornsdale" in text and not record.guarded


# -- extraction bounded in time and memory --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["anchors", "li", "deep"])
def test_filler_page_is_refused_quickly_and_stored(tmp_path, pages, store, kind):
    url = pages.url(f"/hostile/{kind}?mb=3")
    started = time.monotonic()
    record, text = fetch_one(fetch_settings(tmp_path, fetch_max_mb=4, fetch_total_timeout=10), store, url)
    assert time.monotonic() - started < 15
    assert text is None and not record.ok
    assert record.error.startswith("extraction refused: the markup is repetitive filler"), record.error
    assert "(MAX_COMPRESSION_RATIO)" in record.error
    assert store.get_fetch(url) == record  # a property of the page: a durable failure


@pytest.mark.parametrize("content_type", ["text/plain", "text/markdown"])
def test_filler_text_is_refused_like_filler_markup(content_type):
    """Issue 17, item 5: repeated words are no evidence whatever the content type; honest long text still extracts."""
    filler = long_text(1_000_000)
    with pytest.raises(extract_module.ExtractionError, match=r"^extraction refused: the text is repetitive filler"):
        extract_module.extract_page(content_type, filler, "utf-8")
    honest = long_text(1_000_000, varied=True)
    assert len(honest) > extract_module.REPETITIVE_MIN_CHARS
    assert extract_module.extract_page(content_type, honest, "utf-8").text.startswith("Grid storage notes.")


def test_filler_pdf_text_is_refused(monkeypatch):
    """A PDF is checked on the text it yields (its stream may be compressed, so its bytes say nothing)."""
    monkeypatch.setattr(extract_module.extract, "REPETITIVE_MIN_CHARS", 10_000)
    pdf = hostile_page("pdf", 60_000)
    with pytest.raises(extract_module.ExtractionError, match=r"^extraction refused: the text is repetitive filler"):
        extract_module.extract_page("application/pdf", pdf, None)
    assert "7.1 gigawatts" in extract_module.extract_page("application/pdf", make_pdf(), None).text


def test_filler_plain_text_page_is_a_lasting_failure_and_no_document(tmp_path, pages, store):
    """Issue 17, item 5: a large text/plain page of one repeated phrase was stored and became the only evidence."""
    url = pages.url("/text?mb=3")
    record, text = fetch_one(fetch_settings(tmp_path, fetch_max_mb=4), store, url)
    assert text is None and not record.ok
    assert record.error.startswith("extraction refused: the text is repetitive filler"), record.error
    assert "(MAX_COMPRESSION_RATIO)" in record.error
    assert store.get_fetch(url) == record  # a property of the page: a durable failure, recorded with its reason
    assert store.count_documents() == 0
    honest, honest_text = fetch_one(fetch_settings(tmp_path, fetch_max_mb=4), store, pages.url("/text?mb=1&varied=1"))
    assert honest.ok and honest.error == "" and honest_text is not None, honest.error
    assert honest_text.startswith("Grid storage notes.") and len(honest_text) > 900_000
    assert store.count_documents() == 1


def test_large_honest_page_is_extracted_in_a_worker(tmp_path, pages, store):
    assert extract_module.needs_worker("text/html", len(big_article(300)))
    record, text = fetch_one(fetch_settings(tmp_path), store, pages.url("/big-article?kb=300"))
    assert record.ok and record.error == "", record.error
    assert record.title.startswith("Grid batteries in Europe")
    assert "Lithium iron phosphate" in text and "NAVHOME" not in text and len(text) > 250_000


def test_a_small_fetched_page_is_extracted_in_a_worker_too(tmp_path, pages, store):
    """Small HTML is extracted in-process elsewhere (an import), but a fetched page goes to the workers, so that
    trafilatura does not hold the interpreter lock the fact-check's event loop needs."""
    assert not extract_module.needs_worker("text/html", len(big_article(8)))
    settings = fetch_settings(tmp_path, extract_workers=1, extract_memory_mb=301)  # a pool of its own
    record, text = fetch_one(settings, store, pages.url("/big-article?kb=8"))
    assert record.ok and record.error == "", record.error
    assert record.title.startswith("Grid batteries in Europe") and "Lithium iron phosphate" in text
    pool = extract_module.extraction_pool(extract_module.ExtractionLimits.of(settings))
    assert pool.started == 1 and pool.busy == 0


def test_markup_over_the_cap_is_cut_and_the_cut_is_recorded(tmp_path, pages, store):
    size = len(big_article(1700))
    assert size > extract_module.DEFAULT_LIMITS.max_html_chars == Settings().extract_max_html_chars
    record, text = fetch_one(fetch_settings(tmp_path, fetch_max_mb=4), store, pages.url("/big-article?kb=1700"))
    assert record.ok and "Lithium iron phosphate" in text
    assert len(text) < extract_module.DEFAULT_LIMITS.max_html_chars
    assert record.note.startswith("page cut: text extracted from the first ")
    assert f"of {size:,} characters of markup (extract_max_html_chars)" in record.note
    assert store.get_fetch(record.url) == record


def test_the_extraction_limits_are_settings_handed_down_to_the_workers(tmp_path, pages, store):
    # a smaller cap on markup, and a pool of its own size and memory limit: read from the settings, not from globals
    settings = fetch_settings(
        tmp_path, fetch_max_mb=4, extract_max_html_chars=100_000, extract_workers=1, extract_memory_mb=300
    )
    assert "extract_max_html_chars" in score_fields() and "extract_memory_mb" in score_fields()
    record, text = fetch_one(settings, store, pages.url("/big-article?kb=200"))
    assert record.ok and record.note.startswith("page cut: text extracted from the first 9"), record.note
    assert record.note.endswith("characters of markup (extract_max_html_chars)") and len(text) < 100_000
    pool = extract_module.extraction_pool(extract_module.ExtractionLimits.of(settings))
    assert (pool.size, pool.memory_mb, pool.started) == (1, 300, 1)  # the page went to this pool's one worker


def test_slow_extraction_is_killed_and_the_next_page_still_works(tmp_path, pages, store):
    # a pool of its own with one worker: the page after the killed one needs a new worker
    settings = fetch_settings(
        tmp_path, fetch_max_mb=4, fetch_total_timeout=10, extract_workers=1, extract_memory_mb=302
    )
    pool = extract_module.extraction_pool(extract_module.ExtractionLimits.of(settings))
    fetch_one(settings, store, pages.url("/report.pdf"))  # a warm worker, so that only the extraction is timed
    killed, started_workers = pool.killed, pool.started
    slow = pages.url("/hostile/soup?mb=1.5&varied=1")  # varied words: not filler; some seconds of trafilatura
    began = time.monotonic()
    record, text = fetch_one(settings.model_copy(update={"extract_timeout": 0.5}), store, slow)
    assert time.monotonic() - began < 3
    assert text is None and record.error == "extraction timed out: not done within 0.5 s (extract_timeout)"
    assert store.get_fetch(slow) is None  # the time a page takes depends on the load: not stored
    assert pool.killed == killed + 1
    results, _ = fetch_urls(settings, store, [pages.url("/big-article?kb=200"), pages.url("/report-download")])
    assert all(record.ok for record, _ in results), [record.error for record, _ in results]
    assert pool.started > started_workers  # the killed worker was replaced


def test_an_extraction_out_of_time_is_tried_again_by_the_next_run(tmp_path, pages, store):
    """On a loaded machine an ordinary page can run out of extraction time: the next run reads it."""
    settings = fetch_settings(tmp_path, fetch_max_mb=4, fetch_total_timeout=10)
    url = pages.url("/big-article?kb=1400")  # about half a second of trafilatura in a worker
    (first, text), (again, _) = fetch_urls(settings.model_copy(update={"extract_timeout": 0.02}), store, [url, url])[0]
    assert text is None and first.error == "extraction timed out: not done within 0.02 s (extract_timeout)"
    assert again == first and pages.hits["/big-article"] == 1  # once in a run
    assert store.get_fetch(url) is None
    record, text = fetch_one(settings, store, url)
    assert record.ok and "Lithium iron phosphate" in text, record.error
    assert pages.hits["/big-article"] == 2 and store.get_fetch(url) == record


async def extracting(fetcher: Fetcher, url: str) -> asyncio.Future:
    """The task fetching ``url``, once the page is downloaded and a worker is extracting it."""
    task = asyncio.ensure_future(fetcher.fetch(url))
    while not extract_module.extraction_pool().busy:
        await asyncio.sleep(0.01)
    return task


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL")
def test_a_worker_killed_from_outside_fails_the_page_for_this_run_only(tmp_path, pages, store):
    """The OOM killer kills a worker when the whole machine runs short of memory, whatever page it reads."""
    pool = extract_module.extraction_pool()
    settings = fetch_settings(tmp_path, fetch_max_mb=4, fetch_total_timeout=10)
    fetch_one(settings, store, pages.url("/report.pdf"))  # a warm worker
    url = pages.url("/big-article?kb=1400")

    async def run():
        async with Fetcher(settings, store) as fetcher:
            task = await extracting(fetcher, url)
            (worker,) = pool._busy
            os.kill(worker.process.pid, signal.SIGKILL)
            return await task

    record, text = asyncio.run(run())
    died = f"extraction failed: the worker process died (killed by signal {int(signal.SIGKILL)})"
    assert text is None and record.error == died
    assert store.get_fetch(url) is None
    record, text = fetch_one(settings, store, url)
    assert record.ok and "Lithium iron phosphate" in text, record.error
    assert pages.hits["/big-article"] == 2


# A process that owns a pool: one worker busy with a page of some seconds of trafilatura, another warm and idle.
_POOL_OWNER = """
import threading, time
from drevalkit.documents import ExtractionPool
from drevalkit.testing.page_server import hostile_page
pool = ExtractionPool(size=2)
page = hostile_page("li", 1_500_000, True)
threading.Thread(target=pool.run, args=("text/html", page, "utf-8"), kwargs={"timeout": 120}, daemon=True).start()
while not pool.busy:
    time.sleep(0.05)
pool.run("text/plain", b"A warm worker.", None, timeout=60)
time.sleep(0.5)
print(" ".join(str(w.process.pid) for w in [*pool._busy, *pool._idle]), flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG: Linux")
def test_workers_die_with_their_parent_even_when_it_is_killed():
    """SIGKILL runs no cleanup in dreval: its workers must not go on extracting (a busy one took seconds more)."""
    assert workers_alive_after_killing(_POOL_OWNER, 2) == []


def test_giving_up_on_an_extraction_kills_its_worker(tmp_path, pages, store):
    pool = extract_module.extraction_pool()
    settings = fetch_settings(tmp_path, fetch_max_mb=4, fetch_total_timeout=10)
    fetch_one(settings, store, pages.url("/report.pdf"))  # a warm worker
    killed = pool.killed
    slow = pages.url("/hostile/li?mb=1.5&varied=1")

    async def run():
        async with Fetcher(settings, store) as fetcher:
            task = await extracting(fetcher, slow)
            await asyncio.sleep(0.2)
        return task

    began = time.monotonic()
    task = asyncio.run(run())
    assert time.monotonic() - began < 3  # not the seconds the extraction would take
    assert task.cancelled() and pool.killed == killed + 1
    assert store.get_fetch(slow) is None  # nothing recorded: the page was not judged


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS behaves like this on Linux")
def test_a_worker_over_its_memory_limit_fails_the_page_and_is_replaced():
    pool = extract_module.ExtractionPool(size=1, memory_mb=150)
    try:
        page = hostile_page("soup", 1_500_000, True)
        with pytest.raises(extract_module.ExtractionError, match=r"ran out of memory \(over the 150 MB limit"):
            pool.run("text/html", page, "utf-8", timeout=60)
        extracted = pool.run("application/pdf", make_pdf(), None, timeout=60)
        assert "7.1 gigawatts" in extracted.text and pool.started == 2
    finally:
        pool.close()


def test_cut_in_process():
    page = big_article(200)
    extracted = extract_module.extract_page("text/html", page, "utf-8", max_html_chars=60_000)
    assert "Grid-scale battery storage" in extracted.text
    assert extracted.note.startswith("page cut: text extracted from the first 5")
    assert extracted.note.endswith(f"of {len(page):,} characters of markup (extract_max_html_chars)")


def test_script_bodies_are_dropped_in_linear_time():
    drop = extract_module.drop_script_bodies
    assert drop("<p>a</p><script src=x>var a = '<p>';</script><p>b</p>") == "<p>a</p><script src=x></script><p>b</p>"
    assert drop("<STYLE>p {}</Style ><p>b</p>") == "<STYLE></Style ><p>b</p>"
    json_ld = '<script type="application/ld+json">{"headline": "T"}</script>'
    assert drop(json_ld + "<p>b</p>") == json_ld + "<p>b</p>"
    assert drop("<p>a</p><script>unclosed <p>swallowed</p>") == "<p>a</p><script>"
    assert drop("<p>a</p><script") == "<p>a</p><script"
    started = time.monotonic()
    for hostile in ("<script" * 300_000, "<script>" * 300_000, "<script></script>" * 150_000, "<style " * 300_000):
        drop(hostile)
    assert time.monotonic() - started < 3
