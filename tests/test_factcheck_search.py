import asyncio
import socket
import time

import httpx
import pytest

from drevalkit.config import Settings
from drevalkit.factcheck import search as search_module
from drevalkit.factcheck.search import (
    LocalBackend,
    Searcher,
    SearchError,
    SearchUnavailable,
    make_backend,
    normalise_query,
    register_backend,
)
from drevalkit.registry import Registry, RegistryError
from drevalkit.schemas import FetchRecord, SearchHit
from drevalkit.store import Store
from drevalkit.testing.search_server import FakeSearchServer

KEYS = {"serper": "serper-secret-1", "tavily": "tvly-secret-2", "brave": "brave-secret-3"}

# A corpus that exercises result cleaning: a non-http URL, a duplicate URL, markup and entities in the text.
MESSY_CORPUS = [
    {
        "url": "https://webb.example/launch",
        "title": "Webb <em>telescope</em> launch",
        "text": "The James Webb telescope launch was on 25 December 2021 &amp; it reached L2 in January.",
    },
    {"url": "ftp://files.example/webb", "title": "Webb telescope launch files", "text": "webb telescope launch"},
    {"url": "https://webb.example/launch", "title": "Webb telescope launch (copy)", "text": "webb telescope launch"},
    {"url": "https://hubble.example/history", "title": "Hubble", "text": "Hubble telescope, in orbit since 1990."},
    {"url": "https://cooking.example/pasta", "title": "Pasta", "text": "How to cook pasta."},
]


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def server():
    with FakeSearchServer(serper_key=KEYS["serper"], tavily_key=KEYS["tavily"], brave_key=KEYS["brave"]) as srv:
        yield srv


def make_settings(server, tmp_path, backend="serper", **overrides) -> Settings:
    values = dict(
        search=backend,
        home=tmp_path / "home",
        backoff_base=0.01,
        backoff_max=0.05,
        max_retries=3,
        serper_api_key=KEYS["serper"],
        tavily_api_key=KEYS["tavily"],
        brave_api_key=KEYS["brave"],
        **server.settings_urls(),
    )
    values.update(overrides)
    return Settings(**values)


async def search_all(settings, queries, *, store=None, replay=False, timeout=5.0):
    """Run the queries in order through one Searcher; returns (results or exceptions, searcher)."""
    own_store = store is None
    store = store or Store(settings.store_path)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            searcher = Searcher(make_backend(settings, store), store, settings, client=client, replay=replay)
            results = []
            for query in queries:
                try:
                    results.append(await searcher.search(query))
                except SearchError as exc:
                    results.append(exc)
            return results, searcher
    finally:
        if own_store:
            store.close()


# -- request shapes and parsing ------------------------------------------------------------------------------

REQUEST_SHAPES = {
    "serper": ("POST", "/serper/search", "x-api-key", KEYS["serper"]),
    "searxng": ("GET", "/searxng/search", None, None),
    "tavily": ("POST", "/tavily/search", "authorization", f"Bearer {KEYS['tavily']}"),
    "brave": ("GET", "/brave/res/v1/web/search", "x-subscription-token", KEYS["brave"]),
}


@pytest.mark.parametrize("backend", sorted(REQUEST_SHAPES))
def test_request_shape_and_parsing(server, tmp_path, backend):
    server.corpus = MESSY_CORPUS
    settings = make_settings(server, tmp_path, backend, search_results=4)
    (hits,), searcher = run(search_all(settings, ["  webb   telescope\n launch "]))

    assert len(server.requests) == 1 and searcher.searches == 1
    method, path, auth_header, auth_value = REQUEST_SHAPES[backend]
    request = server.requests[0]
    assert (request["method"], request["path"]) == (method, path)
    if auth_header:
        assert request["headers"][auth_header] == auth_value
    query = "webb telescope launch"
    if backend == "serper":
        assert request["json"] == {"q": query, "num": 4}
    elif backend == "tavily":
        assert request["json"] == {"query": query, "max_results": 4}
    elif backend == "brave":
        assert request["params"] == {"q": query, "count": "4"}
        assert request["headers"]["accept"] == "application/json"
    else:
        assert request["params"] == {"q": query, "format": "json"}

    # the ftp result and the duplicate URL are dropped; markup and entities are gone from titles and snippets
    assert [h.url for h in hits] == ["https://webb.example/launch", "https://hubble.example/history"]
    assert hits[0].title == "Webb telescope launch"
    assert hits[0].snippet.startswith("The James Webb telescope launch was on 25 December 2021 & it reached L2")
    assert all("<" not in h.snippet and "&amp;" not in h.snippet for h in hits)


def test_results_are_capped_to_k(server, tmp_path):
    server.corpus = [{"url": f"https://site{i}.example/", "title": f"Result {i}", "text": "webb"} for i in range(8)]
    settings = make_settings(server, tmp_path, "searxng", search_results=3)  # SearXNG takes no count: capped here
    (hits,), _ = run(search_all(settings, ["webb"]))
    assert [h.url for h in hits] == [f"https://site{i}.example/" for i in range(3)]


@pytest.mark.parametrize("backend", sorted(REQUEST_SHAPES))
def test_no_results_is_an_empty_list(server, tmp_path, backend):
    settings = make_settings(server, tmp_path, backend)
    (hits,), _ = run(search_all(settings, ["zzzz qqqq"]))
    assert hits == []


# -- keys, credit and rate limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend,variable", [("serper", "SERPER_API_KEY"), ("tavily", "TAVILY_API_KEY"), ("brave", "BRAVE_API_KEY")]
)
def test_rejected_key_stops_searching(server, tmp_path, backend, variable):
    wrong_key = "wrong-key-that-must-not-leak"
    settings = make_settings(server, tmp_path, backend, **{f"{backend}_api_key": wrong_key})
    (first, second, third), searcher = run(search_all(settings, ["webb launch", "hubble history", "webb cost"]))
    assert isinstance(first, SearchUnavailable)
    assert f"{backend} rejected the API key" in str(first) and variable in str(first)
    assert wrong_key not in str(first)
    # every later query fails at once with the same error, without a request
    assert second is first and third is first and searcher.unavailable is first
    assert len(server.requests) == 1 and searcher.searches == 1


def test_keys_never_appear_in_reprs_or_messages(server, tmp_path):
    settings = make_settings(server, tmp_path, "serper")
    server.faults.extend(["malformed"])
    with Store(settings.store_path) as store:
        backend = make_backend(settings, store)
        (error,), _ = run(search_all(settings, ["webb"], store=store))
    assert KEYS["serper"] not in repr(backend) and KEYS["serper"] not in str(error)


def test_rate_limit_is_retried_then_succeeds(server, tmp_path):
    server.faults.extend(["429", "429"])
    settings = make_settings(server, tmp_path, "tavily")
    (hits,), searcher = run(search_all(settings, ["webb launch"]))
    assert hits and hits[0].url == "https://webb.example/launch"
    assert len(server.requests) == 3 and searcher.searches == 3 and searcher.retries == 2


def test_persistent_rate_limit_stops_searching(server, tmp_path):
    server.faults.extend(["429"] * 10)
    settings = make_settings(server, tmp_path, "brave", max_retries=2)
    (first, second), searcher = run(search_all(settings, ["webb launch", "hubble"]))
    assert isinstance(first, SearchUnavailable) and "429" in str(first)
    assert second is first
    assert len(server.requests) == 3


def test_server_errors_are_retried_and_fail_only_the_query(server, tmp_path):
    server.faults.extend(["500", "500", "500"])
    settings = make_settings(server, tmp_path, "serper", max_retries=2)
    (first, second), searcher = run(search_all(settings, ["webb launch", "webb launch"]))
    assert type(first) is SearchError and "HTTP 500" in str(first) and "3 attempts" in str(first)
    assert searcher.unavailable is None
    assert second and second[0].url == "https://webb.example/launch"  # a failure is not cached: tried again
    assert len(server.requests) == 4


def test_timeout_is_retried(tmp_path):
    with FakeSearchServer(serper_key=KEYS["serper"], hang_seconds=3.0) as server:  # margin for a loaded machine
        server.faults.append("hang")
        settings = make_settings(server, tmp_path, "serper")
        (hits,), searcher = run(search_all(settings, ["webb launch"], timeout=1.5))
    assert hits and searcher.retries == 1 and len(server.requests) == 2


def test_a_search_api_gets_the_search_timeout_not_the_fetch_timeout(tmp_path):
    from drevalkit.factcheck.checker import open_factchecker

    with FakeSearchServer(serper_key=KEYS["serper"], delay=2.0) as server:  # answers, but slowly
        settings = make_settings(server, tmp_path, "serper", search_timeout=0.3, fetch_timeout=30.0, max_retries=0)

        async def go():
            with Store(settings.store_path) as store:
                async with open_factchecker(settings, None, store) as checker:
                    started = time.perf_counter()
                    with pytest.raises(SearchError, match="serper: no answer in time") as info:
                        await checker.searcher.search("webb launch")
                    return info.value, time.perf_counter() - started

        error, seconds = run(go())
    assert seconds < 1.5 and len(server.requests) == 1  # given up after search_timeout, long before the answer
    assert "gave up after 1 attempts" in str(error)


def test_unreachable_backend_stops_searching(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        search="searxng",
        searxng_url=f"http://127.0.0.1:{port}/search",
        home=tmp_path,
        backoff_base=0.01,
        backoff_max=0.05,
        max_retries=1,
    )
    (first, second), searcher = run(search_all(settings, ["webb", "hubble"]))
    assert isinstance(first, SearchUnavailable) and "cannot reach searxng" in str(first)
    assert second is first and searcher.searches == 2


@pytest.mark.parametrize("fault", ["quota", "402"])
def test_exhausted_credit_stops_searching(server, tmp_path, fault):
    server.faults.append(fault)
    settings = make_settings(server, tmp_path, "tavily")
    (first, second), _ = run(search_all(settings, ["webb launch", "hubble"]))
    assert isinstance(first, SearchUnavailable) and "exhausted credit" in str(first)
    assert second is first and len(server.requests) == 1


@pytest.mark.parametrize("fault,problem", [("malformed", "not JSON"), ("shape", "no 'organic' list")])
def test_malformed_answer_fails_the_query(server, tmp_path, fault, problem):
    server.faults.append(fault)
    settings = make_settings(server, tmp_path, "serper")
    (first, second), searcher = run(search_all(settings, ["webb launch", "webb launch"]))
    assert type(first) is SearchError and problem in str(first)
    assert searcher.unavailable is None and second  # not cached, not retried as transient, not a stop
    assert len(server.requests) == 2


# -- caching, sharing and concurrency ------------------------------------------------------------------------


def test_same_query_is_sent_once_across_searchers_and_runs(server, tmp_path):
    settings = make_settings(server, tmp_path, "serper")
    (first, again, empty, empty_again), searcher = run(
        search_all(settings, ["webb launch", " webb \t launch ", "zzzz", "zzzz"])
    )
    assert again == first and empty == empty_again == []
    assert len(server.requests) == 2 and searcher.searches == 2 and searcher.cache_hits == 2
    # a new Searcher on a new Store object over the same file (the next run) still sends nothing
    with Store(settings.store_path) as store:
        (third,), other = run(search_all(settings, ["webb launch"], store=store))
    assert third == first and other.searches == 0 and other.cache_hits == 1
    assert len(server.requests) == 2
    # another k or backend is another query
    (_,), _ = run(search_all(make_settings(server, tmp_path, "serper", search_results=3), ["webb launch"]))
    (_,), _ = run(search_all(make_settings(server, tmp_path, "tavily"), ["webb launch"]))
    assert len(server.requests) == 4


def test_concurrent_identical_queries_share_one_request(tmp_path):
    with FakeSearchServer(serper_key=KEYS["serper"], delay=0.2) as server:
        settings = make_settings(server, tmp_path, "serper")

        async def main():
            with Store(settings.store_path) as store:
                async with httpx.AsyncClient(timeout=5) as client:
                    searcher = Searcher(make_backend(settings, store), store, settings, client=client)
                    results = await asyncio.gather(*(searcher.search(q) for q in ["webb launch", "webb  launch "] * 4))
                    return results, searcher

        results, searcher = run(main())
    assert len(server.requests) == 1 and searcher.searches == 1
    assert all(r == results[0] for r in results) and results[0]


def test_concurrency_is_bounded(tmp_path):
    with FakeSearchServer(brave_key=KEYS["brave"], delay=0.1) as server:
        settings = make_settings(server, tmp_path, "brave", search_concurrency=2)

        async def main():
            with Store(settings.store_path) as store:
                async with httpx.AsyncClient(timeout=5) as client:
                    searcher = Searcher(make_backend(settings, store), store, settings, client=client)
                    await asyncio.gather(*(searcher.search(f"webb query {i}") for i in range(6)))

        run(main())
    assert len(server.requests) == 6 and server.max_active == 2


def test_replay_reads_only_the_cache(server, tmp_path):
    settings = make_settings(server, tmp_path, "serper")
    (stored,), _ = run(search_all(settings, ["webb launch"]))
    assert len(server.requests) == 1

    async def replay():
        with Store(settings.store_path) as store:
            searcher = Searcher(make_backend(settings, store), store, settings, replay=True)  # no client needed
            cached = await searcher.search("webb launch")
            with pytest.raises(SearchError, match="no stored serper results"):
                await searcher.search("hubble history")
            return cached, searcher

    cached, searcher = run(replay())
    assert cached == stored
    assert searcher.searches == 0 and searcher.cache_hits == 1
    assert len(server.requests) == 1


def test_local_backend_searches_stored_documents(tmp_path):
    settings = Settings(search="local", home=tmp_path)
    with Store(settings.store_path) as store:
        store.put_fetch(
            FetchRecord(url="https://webb.example/launch", ok=True, title="Webb launch"),
            "The James Webb Space Telescope launched on 25 December 2021 from Kourou.",
        )
        store.put_fetch(FetchRecord(url="https://pasta.example/", ok=True, title="Pasta"), "How to cook pasta.")
        backend = make_backend(settings, store)
        assert isinstance(backend, LocalBackend)

        async def main():
            searcher = Searcher(backend, store, settings)  # no client: nothing goes over the network
            return await searcher.search("When did Webb launch?"), await searcher.search("webb launch"), searcher

        first, second, searcher = run(main())
        assert [h.url for h in first] == ["https://webb.example/launch"] and first[0].title == "Webb launch"
        assert "Kourou" in first[0].snippet and second == first
        assert searcher.searches == 2 and searcher.cache_hits == 0
        assert store.get_search("local", "webb launch", settings.search_results) is None


def test_local_search_is_time_limited(tmp_path):
    settings = Settings(search="local", home=tmp_path, search_timeout=1e-9)
    with Store(settings.store_path) as store:
        for n in range(600):
            store.put_fetch(
                FetchRecord(url=f"https://p{n}.example/", ok=True, title=f"P{n}"),
                f"common words in page number {n} " * 5,
            )
        searcher = Searcher(make_backend(settings, store), store, settings)
        with pytest.raises(SearchError, match=r"local: the local search took longer than 1e-09 s.*SEARCH_TIMEOUT"):
            run(searcher.search("common words"))


def test_local_search_fills_k_past_non_web_urls(tmp_path):
    settings = Settings(search="local", home=tmp_path, search_results=3)
    with Store(settings.store_path) as store:
        for n in range(3):  # better matches, but file:// URLs are not web results
            store.put_fetch(FetchRecord(url=f"file:///corpus/{n}.txt", ok=True), "quokka quokka quokka island")
        for n in range(4):
            store.put_fetch(FetchRecord(url=f"https://q{n}.example/", ok=True), f"a quokka on the island, page {n}")
        hits = run(Searcher(make_backend(settings, store), store, settings).search("quokka island"))
    assert len(hits) == 3 and all(h.url.startswith("https://q") for h in hits)


def _check_reports(tmp_path, pages: dict[str, str], texts: list[str]):
    """Fact-check each report text with one FactChecker (local search over ``pages``, the rule-based judge)."""
    from drevalkit.citations import parse_citations
    from drevalkit.factcheck.checker import open_factchecker
    from drevalkit.llm import open_llm
    from drevalkit.schemas import Report
    from drevalkit.testing import rule_judge
    from drevalkit.testing.openai_server import FakeOpenAIServer

    reports = []
    for text in texts:
        citations, meta = parse_citations(text)
        reports.append(Report(system="s", task_id="t", text=text, citations=citations, meta=meta))
    with FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond
        settings = Settings(
            search="local",
            home=tmp_path / "home",
            base_url=judge.url,
            api_key="k",
            model=judge.model,
            rounds=1,
            timeout=5.0,
        )
        with Store(settings.store_path) as store:
            for url, page in pages.items():
                store.put_fetch(FetchRecord(url=url, ok=True, title=url.split("/")[2]), page)

            async def main():
                llm = open_llm(settings, store)
                try:
                    async with open_factchecker(settings, llm, store) as checker:
                        return [(await checker.check(report))[0] for report in reports], checker
                finally:
                    await llm.close()

            return run(main())


HORNSDALE = "The Hornsdale battery opened in December 2017 with 100 MW of storage capacity."


def test_a_store_holding_a_10_mb_page_still_answers_a_one_line_report(tmp_path):
    pages = {
        "https://hostile.example/": "battery storage capacity megawatt " * 300_000,  # 10.2 MB
        "https://grid.example/hornsdale": HORNSDALE,
    }
    started = time.monotonic()
    (result,), checker = _check_reports(tmp_path, pages, [f"# Grid\n\n{HORNSDALE}\n"])
    # schema 1 did not finish in 14 minutes; most of this is storing the page (ranking reads its first 1,500 passages)
    assert time.monotonic() - started < 30
    assert result.status == "complete", result.reasons
    assert {f.url for f in result.fetches} == set(pages) and [v.label for v in result.verdicts] == ["right"]


def test_a_page_is_split_once_per_checker(tmp_path):
    pages = {
        "https://grid.example/hornsdale": f"{HORNSDALE}\n\nIt was expanded to 150 MW in 2020.",
        "https://news.example/battery": "Hornsdale battery news: the battery opened in 2017; 150 MW in 2020.",
    }
    reports = [
        f"# Grid\n\n{HORNSDALE} It was expanded to 150 MW in 2020.\n",
        "# Grid again\n\nThe Hornsdale battery was expanded to 150 MW of capacity in 2020.\n",
    ]
    results, checker = _check_reports(tmp_path, pages, reports)
    assert sum(len(r.claims) for r in results) >= 3
    assert all({f.url for f in r.fetches} == set(pages) for r in results)
    assert checker.passage_splits == 2  # one per page, however many claims and reports used it


def test_normalise_query():
    assert normalise_query("  a\n\tb   c ") == "a b c"


# -- configuration -------------------------------------------------------------------------------------------


def test_make_backend_errors(tmp_path):
    with Store(tmp_path / "store.sqlite3") as store:
        with pytest.raises(SearchError, match=r"unknown search backend 'bing': choose one of .*serper"):
            make_backend(Settings(search="bing", home=tmp_path), store)
        for name, variable in [("serper", "SERPER_API_KEY"), ("tavily", "TAVILY_API_KEY"), ("brave", "BRAVE_API_KEY")]:
            with pytest.raises(SearchError, match=f"^{name} needs an API key: set {variable}$"):
                make_backend(Settings(search=name, home=tmp_path), store)
        with pytest.raises(SearchError, match="set DREVAL_SEARXNG_URL to your instance's /search URL"):
            make_backend(Settings(search="searxng", home=tmp_path), store)
        with pytest.raises(SearchError, match="DREVAL_SEARXNG_URL must be an http"):
            make_backend(Settings(search="searxng", searxng_url="localhost:8888/search", home=tmp_path), store)
        assert (
            make_backend(
                Settings(search=" SearXNG ", searxng_url="http://localhost:8888/search", home=tmp_path), store
            ).name
            == "searxng"
        )


def test_searcher_needs_a_client_for_network_backends(tmp_path):
    settings = Settings(search="serper", serper_api_key="k", home=tmp_path)
    with Store(settings.store_path) as store:
        with pytest.raises(ValueError, match="httpx.AsyncClient"):
            Searcher(make_backend(settings, store), store, settings)


@pytest.fixture
def backends(monkeypatch):
    """A copy of the backend registry for one test, so what it registers is gone afterwards."""
    registry = Registry("search backend", "drevalkit.tests.no_plugins")
    for name, factory in search_module.BACKENDS.items():
        registry.register(name, factory)
    monkeypatch.setattr(search_module, "BACKENDS", registry)
    return registry


def test_registered_backend_is_made_and_cached(tmp_path, backends):
    class Fixed:
        name = "fixed"  # no ``remote`` attribute: taken as remote, so its answers are stored
        calls = 0

        async def search(self, client, query, k):
            Fixed.calls += 1
            return [SearchHit(url=f"https://fixed.example/{query.replace(' ', '-')}")]

    backends.register("fixed", lambda settings, store: Fixed())
    settings = Settings(search="fixed", home=tmp_path)

    async def main():
        with Store(settings.store_path) as store:
            async with httpx.AsyncClient() as client:
                searcher = Searcher(make_backend(settings, store), store, settings, client=client)
                return [await searcher.search("a b"), await searcher.search("a  b")]

    first, second = run(main())
    assert first == second == [SearchHit(url="https://fixed.example/a-b")] and Fixed.calls == 1


def test_registry_names_and_the_old_register_function(tmp_path, backends):
    assert backends.names() == ["brave", "local", "searxng", "serper", "tavily"]
    assert sorted(backends) == backends.names() and "local" in backends and " Local " in backends
    with pytest.raises(RegistryError, match="unknown search backend 'bing': choose one of brave, local, searxng"):
        backends.get("bing")

    class Offline:
        name = "offline"
        remote = False  # reads nothing over the network: no client needed, nothing stored

        async def search(self, client, query, k):
            assert client is None
            return [SearchHit(url="https://offline.example/")]

    register_backend("Offline", lambda settings, store: Offline())
    assert "offline" in backends.names()
    settings = Settings(search="offline", home=tmp_path)
    with Store(settings.store_path) as store:
        searcher = Searcher(make_backend(settings, store), store, settings)

        async def twice():
            return await searcher.search("a"), await searcher.search("a")

        assert run(twice()) == ([SearchHit(url="https://offline.example/")],) * 2
        assert searcher.searches == 2 and searcher.cache_hits == 0
        assert store.get_search("offline", "a", settings.search_results) is None


def test_two_instances_of_one_api_do_not_share_stored_answers(tmp_path):
    async def search_on(server, path):
        settings = Settings(search="searxng", searxng_url=server.url(path), home=tmp_path, backoff_base=0.01)
        with Store(settings.store_path) as store:
            async with httpx.AsyncClient() as client:
                return await Searcher(make_backend(settings, store), store, settings, client=client).search("webb")

    with FakeSearchServer() as a, FakeSearchServer() as b:
        a.corpus = [{"url": "https://instance-a.example/page", "title": "a", "text": "webb telescope"}]
        b.corpus = [{"url": "https://instance-b.example/page", "title": "b", "text": "webb telescope"}]
        first = asyncio.run(search_on(a, "searxng"))
        second = asyncio.run(search_on(b, "searxng"))
        again = asyncio.run(search_on(a, "searxng"))
    assert [h.url for h in first] == ["https://instance-a.example/page"] == [h.url for h in again]
    assert [h.url for h in second] == ["https://instance-b.example/page"] and len(b.requests) == 1
    assert len(a.requests) == 1  # the second search on instance A came from the store


def test_a_key_echoed_in_an_error_body_is_redacted_whole_and_cut_short(tmp_path):
    """Issue 17, item 3: a search API that echoes the key it was sent (whole, or its first characters) in an error
    body must not have it carried into the error text, which reaches results and the terminal."""
    secret = "serper-SECRET123456789"
    with FakeSearchServer(serper_key=secret) as srv:
        srv.faults.extend(["echo_key"])
        settings = make_settings(srv, tmp_path, "serper", serper_api_key=secret)
        (error,), _ = run(search_all(settings, ["webb"]))
    assert isinstance(error, SearchError) and "invalid key ***" in str(error)
    assert "SECRET123456789" not in str(error) and secret[:12] not in str(error)
