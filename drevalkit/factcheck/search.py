"""Web search for the fact-checker: one small backend per API (Serper, SearXNG, Tavily, Brave) plus ``local``, a BM25
search over the documents already in the store, behind a ``Searcher`` that caches, deduplicates, bounds concurrency
and retries.

Search APIs charge per request and fact-checking repeats queries across claims, rounds, reports and runs, so every
answer (empty ones too) is stored by (backend, query, k) and never requested twice; a replay run reads only that
cache. A rejected key or exhausted credit stops new searches for the rest of the run instead of failing every
remaining query one by one. API keys travel only in request headers and are scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from ..config import Settings, redact_url
from ..errors import DrevalError
from ..registry import Registry, RegistryError
from ..retry import backoff_delay, retry_after_seconds
from ..schemas import SearchHit, Usage
from ..store import DEFAULT_SEARCH_TIMEOUT, Store, StoreError, StoreTimeout
from ..text import redact_secrets

_EXCERPT_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
# Phrases of the error bodies search APIs send when the account has run out (Serper "Not enough credits", Tavily
# "exceeds your plan's set usage limit", ...). Phrases, not bare words: Brave's ordinary 429 body carries
# "quota_limit" figures. Only checked on 4xx answers: a 200 body may mention anything.
_OUT_OF_CREDIT = re.compile(
    r"\b(not enough|insufficient|no|out of)[ _]+(credits?|quota)"
    r"|(credits?|quota)\W+(\w+\W+){0,2}?(exhausted|exceeded|depleted|used up)"
    r"|exceeded[\w ]{0,20}(quota|credits?)|usage limit|plan limit|pay-as-you-go limit|quota_limited",
    re.IGNORECASE,
)
_NO_CREDIT_STATUSES = (402, 432, 433)  # 432/433: Tavily's plan and pay-as-you-go limits


class SearchError(DrevalError, RuntimeError):
    """A search that failed; the message says why and never contains an API key."""


class SearchUnavailable(SearchError):
    """The backend cannot serve this run at all (key rejected, no credit, persistent rate limit, unreachable)."""


class SearchRetryable(SearchError):
    """A failure that may pass if the request is sent again: HTTP 408/429/5xx, a timeout, a dropped connection."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None, unreachable: bool = False
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.unreachable = unreachable


class SearchBackend(Protocol):
    """One search API. ``search`` sends one request and raises a ``SearchError`` subclass on failure.

    ``remote``: the backend sends requests (it needs an ``httpx.AsyncClient``, and the ``Searcher`` stores its
    answers and retries its transient failures); a backend that reads local data (``local``) sets it False. A
    backend without the attribute is taken as remote. ``identity`` keys its stored answers: two instances of one
    API (e.g. two SearXNG servers) must not share them; without the attribute, the name is used. Both attributes
    are optional, so they are not members of the protocol. ``client`` is None only for a backend that is not
    remote (the ``Searcher`` may have no client then).
    """

    name: str

    async def search(self, client: httpx.AsyncClient | None, query: str, k: int) -> list[SearchHit]: ...


def normalise_query(query: str) -> str:
    """The cache key form of a query: trimmed, with runs of whitespace collapsed to one space."""
    return _SPACE.sub(" ", query).strip()


def _plain(value: Any) -> str:
    """Result text as plain text: APIs highlight matches with tags (Brave ``<strong>``) and escape entities."""
    if not isinstance(value, str):
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", value))).strip()


def _is_web_url(url: str) -> bool:
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    return parts.scheme in ("http", "https") and bool(parts.host)


def clean_hits(raw: Iterable[tuple[Any, Any, Any]], k: int) -> list[SearchHit]:
    """Hits from raw (url, title, snippet) triples: http(s) URLs only, each URL once, at most ``k``, plain text."""
    hits: list[SearchHit] = []
    seen: set[str] = set()
    for url, title, snippet in raw:
        url = url.strip() if isinstance(url, str) else ""
        if not _is_web_url(url) or url in seen:
            continue
        seen.add(url)
        hits.append(SearchHit(url=url, title=_plain(title), snippet=_plain(snippet)))
        if len(hits) >= k:
            break
    return hits


def _items(container: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    """The result objects under ``container[key]``; a missing or non-list value is a malformed answer."""
    value = container.get(key)
    if not isinstance(value, list):
        raise SearchError(f"{where} answer has no {key!r} list (got {type(value).__name__})")
    return [item for item in value if isinstance(item, dict)]


class _HTTPBackend:
    """Shared request handling: one request per search, failures sorted into retry, skip this query, or stop."""

    name = ""
    remote = True
    key_variable = ""  # where the user sets the key, for messages; "" when the API takes none

    def __init__(self, url: str, api_key: SecretStr | None = None):
        self.url = url
        self._key = api_key.get_secret_value() if api_key is not None else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact_url(self.url)!r})"

    @property
    def identity(self) -> str:
        return f"{self.name} {redact_url(self.url)}"

    async def search(self, client: httpx.AsyncClient | None, query: str, k: int) -> list[SearchHit]:
        assert client is not None  # a remote backend: the Searcher always hands it a client
        try:
            response = await self._send(client, query, k)
        except httpx.TimeoutException as exc:
            raise SearchRetryable(
                f"{self.name}: no answer in time ({type(exc).__name__})",
                unreachable=isinstance(exc, httpx.ConnectTimeout),
            ) from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise SearchUnavailable(f"{self.name}: the request could not be sent: {self._redact(str(exc))}") from None
        except httpx.TransportError as exc:
            raise SearchRetryable(
                f"{self.name}: connection failed ({self._redact(str(exc)) or type(exc).__name__})",
                unreachable=isinstance(exc, httpx.ConnectError),
            ) from None
        except httpx.RequestError as exc:
            raise SearchError(f"{self.name}: {self._redact(str(exc)) or type(exc).__name__}") from None
        if not response.is_success:
            raise self._status_error(response)
        try:
            data = response.json()
        except ValueError:
            raise SearchError(
                f"{self.name} answered with a body that is not JSON: {self._excerpt(response)!r}"
            ) from None
        if not isinstance(data, dict):
            raise SearchError(f"{self.name} answered with a JSON {type(data).__name__}, not an object")
        return clean_hits(self._parse(data), k)

    async def _send(self, client: httpx.AsyncClient, query: str, k: int) -> httpx.Response:
        raise NotImplementedError

    def _parse(self, data: dict[str, Any]) -> Iterable[tuple[Any, Any, Any]]:
        raise NotImplementedError

    def _redact(self, text: str) -> str:
        """``text`` without the key this backend sends, nor a long prefix of it (an API may echo it cut short)."""
        return redact_secrets(text, [self._key])

    def _excerpt(self, response: httpx.Response) -> str:
        text = self._redact(_SPACE.sub(" ", response.text).strip())  # before the cut: no piece of a key is left
        return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."

    def _key_rejected(self, response: httpx.Response) -> bool:
        return response.status_code in (401, 403)

    def _key_message(self, status: int) -> str:
        return f"{self.name} rejected the API key (HTTP {status}): check {self.key_variable}"

    def _status_error(self, response: httpx.Response) -> SearchError:
        status = response.status_code
        detail = self._excerpt(response)
        if self._key_rejected(response):
            return SearchUnavailable(self._key_message(status))
        if status in _NO_CREDIT_STATUSES or (400 <= status < 500 and _OUT_OF_CREDIT.search(response.text)):
            return SearchUnavailable(f"{self.name} reports exhausted credit or quota (HTTP {status}): {detail}")
        if status in (404, 405):
            return SearchUnavailable(
                f"{self.name} has no search API at {redact_url(self.url)} (HTTP {status}): check the URL setting"
            )
        if status in (408, 429) or status >= 500:
            return SearchRetryable(
                f"{self.name} answered HTTP {status}: {detail}",
                status=status,
                retry_after=retry_after_seconds(response.headers),
            )
        return SearchError(f"{self.name} rejected the query (HTTP {status}): {detail}")


class SerperBackend(_HTTPBackend):
    """Google results through serper.dev."""

    name = "serper"
    key_variable = "SERPER_API_KEY"

    async def _send(self, client: httpx.AsyncClient, query: str, k: int) -> httpx.Response:
        return await client.post(self.url, json={"q": query, "num": k}, headers={"X-API-KEY": self._key})

    def _parse(self, data: dict[str, Any]) -> Iterable[tuple[Any, Any, Any]]:
        if "organic" not in data and "searchParameters" in data:
            return []  # a well-formed answer with no web results
        return [(r.get("link"), r.get("title"), r.get("snippet")) for r in _items(data, "organic", self.name)]


class SearxngBackend(_HTTPBackend):
    """A self-hosted SearXNG instance (no key; its ``json`` format must be enabled)."""

    name = "searxng"

    async def _send(self, client: httpx.AsyncClient, query: str, k: int) -> httpx.Response:
        return await client.get(self.url, params={"q": query, "format": "json"})

    def _parse(self, data: dict[str, Any]) -> Iterable[tuple[Any, Any, Any]]:
        return [(r.get("url"), r.get("title"), r.get("content")) for r in _items(data, "results", self.name)]

    def _key_message(self, status: int) -> str:
        return (
            f"the SearXNG instance at {redact_url(self.url)} refused the request (HTTP {status}): enable the json "
            "format (search.formats in its settings.yml) and check its access rules"
        )


class TavilyBackend(_HTTPBackend):
    name = "tavily"
    key_variable = "TAVILY_API_KEY"

    async def _send(self, client: httpx.AsyncClient, query: str, k: int) -> httpx.Response:
        return await client.post(
            self.url, json={"query": query, "max_results": k}, headers={"Authorization": f"Bearer {self._key}"}
        )

    def _parse(self, data: dict[str, Any]) -> Iterable[tuple[Any, Any, Any]]:
        return [(r.get("url"), r.get("title"), r.get("content")) for r in _items(data, "results", self.name)]


class BraveBackend(_HTTPBackend):
    name = "brave"
    key_variable = "BRAVE_API_KEY"

    async def _send(self, client: httpx.AsyncClient, query: str, k: int) -> httpx.Response:
        return await client.get(
            self.url,
            params={"q": query, "count": k},
            headers={"X-Subscription-Token": self._key, "Accept": "application/json"},
        )

    def _parse(self, data: dict[str, Any]) -> Iterable[tuple[Any, Any, Any]]:
        web = data.get("web")
        if web is None:
            return []  # Brave leaves out the "web" section when there are no web results
        if not isinstance(web, dict):
            raise SearchError(f"brave answer has a 'web' {type(web).__name__}, not an object")
        return [(r.get("url"), r.get("title"), r.get("description")) for r in _items(web, "results", "brave 'web'")]

    def _key_rejected(self, response: httpx.Response) -> bool:
        # Brave answers an unknown token with 422 SUBSCRIPTION_TOKEN_INVALID rather than 401.
        return super()._key_rejected(response) or (
            response.status_code == 422 and "SUBSCRIPTION_TOKEN_INVALID" in response.text
        )


class LocalBackend:
    """BM25 over the documents already in the store (fetched pages, a loaded offline corpus): no network, no key.
    Each search runs in a worker thread, stopped after ``timeout`` seconds (a ``SearchError`` saying so); it asks for
    twice ``k`` hits, since non-web URLs (``file://`` corpus files without a URL map) are left out of the results."""

    name = "local"
    remote = False

    def __init__(self, store: Store, timeout: float = DEFAULT_SEARCH_TIMEOUT):
        self.store = store
        self.timeout = timeout

    async def search(self, client: httpx.AsyncClient | None, query: str, k: int) -> list[SearchHit]:
        try:
            found = await self.store.arun(self.store.search_documents, query, 2 * k, timeout=self.timeout)
        except StoreTimeout as exc:
            raise SearchError(f"local: {exc} (search_timeout, DREVAL_SEARCH_TIMEOUT, sets the limit)") from None
        except StoreError as exc:
            raise SearchError(f"local: {exc}") from None
        return clean_hits(((h.url, h.title, h.snippet) for h in found), k)


BackendFactory = Callable[[Settings, Store], SearchBackend]
# name -> factory; plug-ins add theirs under the "drevalkit.search_backends" entry-point group
BACKENDS: Registry[BackendFactory] = Registry("search backend", "drevalkit.search_backends")


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make a backend available to ``make_backend`` (and so to ``settings.search``) under ``name``; the same as
    ``BACKENDS.register(name, factory)``."""
    BACKENDS.register(name, factory)


def _url(url: str | None, variable: str) -> str:
    if not url or not _is_web_url(url):
        raise SearchError(f"{variable} must be an http(s) URL, got {redact_url(url) if url else 'nothing'}")
    return url


def _key(key: SecretStr | None, backend: str, variable: str) -> SecretStr:
    if key is None or not key.get_secret_value().strip():
        raise SearchError(f"{backend} needs an API key: set {variable}")
    return key


@BACKENDS.register("searxng")
def _make_searxng(settings: Settings, store: Store) -> SearchBackend:
    if not settings.searxng_url:
        raise SearchError(
            "searxng needs an instance: set DREVAL_SEARXNG_URL to your instance's /search URL "
            "(e.g. http://localhost:8888/search)"
        )
    return SearxngBackend(_url(settings.searxng_url, "DREVAL_SEARXNG_URL"))


@BACKENDS.register("local")
def _make_local(settings: Settings, store: Store) -> SearchBackend:
    return LocalBackend(store, settings.search_timeout)


@BACKENDS.register("serper")
def _make_serper(settings: Settings, store: Store) -> SearchBackend:
    return SerperBackend(
        _url(settings.serper_url, "DREVAL_SERPER_URL"), _key(settings.serper_api_key, "serper", "SERPER_API_KEY")
    )


@BACKENDS.register("tavily")
def _make_tavily(settings: Settings, store: Store) -> SearchBackend:
    return TavilyBackend(
        _url(settings.tavily_url, "DREVAL_TAVILY_URL"), _key(settings.tavily_api_key, "tavily", "TAVILY_API_KEY")
    )


@BACKENDS.register("brave")
def _make_brave(settings: Settings, store: Store) -> SearchBackend:
    return BraveBackend(
        _url(settings.brave_url, "DREVAL_BRAVE_URL"), _key(settings.brave_api_key, "brave", "BRAVE_API_KEY")
    )


def search_client(settings: Settings) -> httpx.AsyncClient:
    """The client a ``Searcher`` sends requests with: the search's own ``search_timeout``, not the pages' one."""
    return httpx.AsyncClient(timeout=settings.search_timeout)


def make_backend(settings: Settings, store: Store) -> SearchBackend:
    """The backend named by ``settings.search``; a ``SearchError`` says what is missing (name, key or URL)."""
    try:
        factory = BACKENDS.get(settings.search)
    except RegistryError as exc:
        raise SearchError(str(exc)) from None
    return factory(settings, store)


class Searcher:
    """What the fact-checker searches through.

    Queries are normalised and each distinct one is sent at most once: answers are stored (across runs) and
    concurrent identical queries share one request. Requests are bounded by ``search_concurrency`` and retried on
    429/5xx/timeouts/connection errors. Once the backend is unusable (key rejected, no credit, rate limit or
    unreachable after all retries) every later uncached query raises the same ``SearchUnavailable`` at once, so
    the run stops searching but keeps what it has. In replay mode nothing is sent: an uncached query raises
    ``SearchError``, so the caller records the gap. A backend that is not ``remote`` (``local``, which reads the
    store) needs no client and is neither cached nor retried. Store reads and writes run in worker threads, off the
    event loop; concurrent identical queries share one cache lookup as well as one request.
    """

    def __init__(
        self,
        backend: SearchBackend,
        store: Store,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        replay: bool = False,
    ):
        self.backend = backend
        self.store = store
        self.settings = settings
        self.replay = replay
        self.k = settings.search_results
        self.searches = 0  # requests actually sent, retries included
        self.retries = 0
        self.cache_hits = 0
        self._remote = bool(getattr(backend, "remote", True))
        self._identity = str(getattr(backend, "identity", backend.name))  # keys the stored answers
        if client is None and self._remote and not replay:
            raise ValueError(f"the {backend.name} search backend needs an httpx.AsyncClient (client=...)")
        self._client = client
        self._semaphore = asyncio.Semaphore(settings.search_concurrency)
        self._inflight: dict[str, asyncio.Future[list[SearchHit]]] = {}
        self._unavailable: SearchUnavailable | None = None

    @property
    def unavailable(self) -> SearchUnavailable | None:
        """Why searching stopped for this run, if it did."""
        return self._unavailable

    async def search(self, query: str, usage: Usage | None = None) -> list[SearchHit]:
        """Up to ``settings.search_results`` hits; raises ``SearchUnavailable`` (stop searching) or ``SearchError``.
        ``usage.searches`` counts a search this call sent, once (not a stored answer, nor another caller's)."""
        usage = Usage() if usage is None else usage
        query = normalise_query(query)
        if not query:
            return []
        if not self._remote:
            self.searches += 1
            usage.searches += 1
            return await self.backend.search(self._client, query, self.k)
        future = self._inflight.get(query)
        if future is None:
            future = asyncio.ensure_future(self._lookup(query, usage))
            self._inflight[query] = future
            future.add_done_callback(lambda done: self._forget(query, done))
        # shield: a caller that is cancelled must not cancel the request other callers are waiting for
        return list(await asyncio.shield(future))

    def _forget(self, query: str, done: asyncio.Future[list[SearchHit]]) -> None:
        if self._inflight.get(query) is done:
            del self._inflight[query]

    def _raise_if_unavailable(self) -> None:
        if self._unavailable is not None:
            raise self._unavailable.with_traceback(None)

    def _stop(self, exc: SearchUnavailable) -> SearchUnavailable:
        """Remember the first reason searching became impossible; later calls raise that one."""
        if self._unavailable is None:
            self._unavailable = exc
        return self._unavailable

    async def _lookup(self, query: str, usage: Usage) -> list[SearchHit]:
        """The stored answer, else (outside replay, while the backend is usable) a new request."""
        cached = await self.store.arun(self.store.get_search, self._identity, query, self.k)
        if cached is not None:
            self.cache_hits += 1
            return cached[0]
        if self.replay:
            raise SearchError(f"no stored {self.backend.name} results for this query (replay sends no requests)")
        self._raise_if_unavailable()
        return await self._fetch(query, usage)

    async def _fetch(self, query: str, usage: Usage) -> list[SearchHit]:
        assert self._client is not None  # checked in __init__ for every backend that sends requests
        attempt = 0
        while True:
            try:
                async with self._semaphore:
                    self._raise_if_unavailable()  # it may have stopped while this request waited for a slot
                    self.searches += 1
                    usage.searches += attempt == 0
                    hits = await self.backend.search(self._client, query, self.k)
            except SearchUnavailable as exc:
                raise self._stop(exc) from None
            except SearchRetryable as exc:
                if attempt >= self.settings.max_retries:
                    raise self._give_up(exc, attempt + 1) from None
                attempt += 1
                self.retries += 1
                await asyncio.sleep(
                    backoff_delay(attempt - 1, self.settings.backoff_base, self.settings.backoff_max, exc.retry_after)
                )
                continue
            await self.store.arun(self.store.put_search, self._identity, query, self.k, hits)
            return hits

    def _give_up(self, exc: SearchRetryable, attempts: int) -> SearchError:
        if exc.status == 429:
            return self._stop(
                SearchUnavailable(
                    f"{self.backend.name} kept rate-limiting (HTTP 429) for {attempts} attempts; no new searches this run"
                )
            )
        if exc.unreachable:
            return self._stop(SearchUnavailable(f"cannot reach {self.backend.name}: {exc} ({attempts} attempts)"))
        return SearchError(f"{exc}; gave up after {attempts} attempts")
