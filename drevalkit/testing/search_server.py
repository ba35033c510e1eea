"""A real HTTP server on 127.0.0.1 that imitates four web search APIs, for tests.

Paths: ``/serper/search`` (POST, ``X-API-KEY``), ``/searxng/search`` (GET, no key, ``format=json`` required),
``/tavily/search`` (POST, ``Authorization: Bearer``), ``/brave/res/v1/web/search`` (GET, ``X-Subscription-Token``).
Each query is answered from a small in-memory corpus (the documents sharing the most words with the query) in the
API's own response shape. A wrong or missing key gets the answer the real API gives (Serper 403, Tavily 401, Brave
422 ``SUBSCRIPTION_TOKEN_INVALID``). Faults are injected per request from a deque: ``429`` (Retry-After: 0), ``500``,
``402``, ``quota`` (HTTP 432, credits exhausted), ``malformed`` (a non-JSON body), ``shape`` (JSON of the wrong
shape) and ``hang`` (no answer for ``hang_seconds``). Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from drevalkit.testing.base import JSONHandler, LocalHTTPServer

FAULT_KINDS = ("429", "500", "402", "quota", "malformed", "shape", "hang")
PATHS = {
    "/serper/search": "serper",
    "/searxng/search": "searxng",
    "/tavily/search": "tavily",
    "/brave/res/v1/web/search": "brave",
}
_WORD = re.compile(r"\w+")

DEFAULT_CORPUS = [
    {
        "url": "https://webb.example/launch",
        "title": "Webb launch",
        "text": "The James Webb Space Telescope launched on 25 December 2021 on an Ariane 5 rocket from Kourou.",
    },
    {
        "url": "https://webb.example/mirror",
        "title": "Webb mirror",
        "text": "Webb's primary mirror is 6.5 metres across and made of 18 gold-coated beryllium segments.",
    },
    {
        "url": "https://hubble.example/history",
        "title": "Hubble history",
        "text": "The Hubble Space Telescope was launched in April 1990 aboard the Space Shuttle Discovery.",
    },
    {
        "url": "https://budget.example/webb-cost",
        "title": "Webb cost",
        "text": "The total cost of the Webb telescope reached about 10 billion US dollars.",
    },
]


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


class FakeSearchServer(LocalHTTPServer):
    def __init__(
        self,
        *,
        serper_key: str = "serper-test-key",
        tavily_key: str = "tavily-test-key",
        brave_key: str = "brave-test-key",
        corpus: list[dict[str, str]] | None = None,
        delay: float = 0.0,
        hang_seconds: float = 2.0,
    ):
        self.keys = {"serper": serper_key, "tavily": tavily_key, "brave": brave_key}
        self.corpus = list(DEFAULT_CORPUS if corpus is None else corpus)
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, api: str) -> str:
        path = next(path for path, name in PATHS.items() if name == api)
        return self.base_url + path

    def settings_urls(self) -> dict[str, str]:
        """The ``Settings`` URL fields pointing at this server."""
        return {f"{api}_url": self.url(api) for api in PATHS.values()}

    def start(self) -> FakeSearchServer:
        server = self

        class Handler(JSONHandler):
            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = {
                    "path": parts.path,
                    "method": method,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "params": dict(parse_qsl(parts.query)),
                    "json": body,
                }
                status, payload, headers = server.handle(request)
                self._send(status, payload, headers)

        return self._serve(Handler, poll_interval=0.05)

    # -- behaviour -------------------------------------------------------------------------------------------
    def requests_to(self, api: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if PATHS.get(r["path"]) == api]

    def rank(self, query: str, k: int) -> list[dict[str, str]]:
        """The documents sharing the most words with the query (title and text), best first, at most k."""
        wanted = _words(query)
        scored = [(len(wanted & _words(f"{d['title']} {d['text']}")), i, d) for i, d in enumerate(self.corpus)]
        return [d for score, _, d in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0][:k]

    def handle(self, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._answer(request)
        finally:
            with self._lock:
                self.active -= 1

    def _answer(self, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        api = PATHS.get(request["path"])
        if api is None:
            return 404, {"error": "not found"}, {}
        expected_method = {"serper": "POST", "tavily": "POST", "brave": "GET"}.get(api, request["method"])
        if request["method"] != expected_method:
            return 405, {"error": "method not allowed"}, {}
        rejected = self._check_auth(api, request)
        if rejected is not None:
            return rejected
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return 429, {"error": "Too many requests, slow down"}, {"Retry-After": "0"}
        if fault == "500":
            return 500, {"error": "internal error"}, {}
        if fault == "402":
            return 402, {"error": "Payment required"}, {}
        if fault == "quota":
            message = "Your credits are exhausted: this request exceeds your plan's usage limit."
            return 432, {"detail": {"error": message}}, {}
        if fault == "echo_key":  # a rejected request that quotes the key it was sent, whole and cut short
            key = request["headers"].get("x-api-key", "")
            return 400, {"message": f"invalid key {key} (starts {key[:12]}...)", "statusCode": 400}, {}
        if fault == "malformed":
            return 200, "<html><body>Service temporarily degraded</body></html>", {}
        if fault == "shape":
            return 200, {"unexpected": True}, {}
        if fault == "hang":
            time.sleep(self.hang_seconds)
        return 200, self._results(api, request), {}

    def _check_auth(self, api: str, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]] | None:
        headers = request["headers"]
        if api == "serper" and headers.get("x-api-key") != self.keys["serper"]:
            return 403, {"message": "Unauthorized.", "statusCode": 403}, {}
        if api == "tavily" and headers.get("authorization") != f"Bearer {self.keys['tavily']}":
            return 401, {"detail": {"error": "Unauthorized: missing or invalid API key."}}, {}
        if api == "brave" and headers.get("x-subscription-token") != self.keys["brave"]:
            error = {
                "status": 422,
                "code": "SUBSCRIPTION_TOKEN_INVALID",
                "detail": "The provided subscription token is invalid.",
            }
            return 422, {"type": "ErrorResponse", "error": error}, {}
        if api == "searxng" and request["params"].get("format") != "json":
            return 403, "<html><body>403 Forbidden</body></html>", {}
        return None

    def _results(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        body = request["json"] if isinstance(request["json"], dict) else {}
        params = request["params"]
        if api == "serper":
            query, k = str(body.get("q", "")), int(body.get("num", 10))
            docs = self.rank(query, k)
            return {
                "searchParameters": {"q": query, "num": k, "type": "search", "engine": "google"},
                "organic": [
                    {"title": d["title"], "link": d["url"], "snippet": d["text"][:200], "position": i + 1}
                    for i, d in enumerate(docs)
                ],
                "credits": 1,
            }
        if api == "searxng":
            query = params.get("q", "")
            docs = self.rank(query, 10)
            return {
                "query": query,
                "number_of_results": len(docs),
                "results": [
                    {"url": d["url"], "title": d["title"], "content": d["text"][:200], "engine": "fake", "score": 1.0}
                    for d in docs
                ],
                "answers": [],
                "suggestions": [],
                "unresponsive_engines": [],
            }
        if api == "tavily":
            query, k = str(body.get("query", "")), int(body.get("max_results", 5))
            docs = self.rank(query, k)
            return {
                "query": query,
                "answer": None,
                "images": [],
                "response_time": 0.01,
                "results": [
                    {
                        "url": d["url"],
                        "title": d["title"],
                        "content": d["text"][:200],
                        "score": 0.9,
                        "raw_content": None,
                    }
                    for d in docs
                ],
            }
        query, k = params.get("q", ""), int(params.get("count", 20))
        docs = self.rank(query, k)
        answer: dict[str, Any] = {"type": "search", "query": {"original": query}}
        if docs:  # like Brave, no "web" section when nothing was found
            wanted = _words(query)
            answer["web"] = {
                "type": "search",
                "results": [
                    {
                        "url": d["url"],
                        "title": d["title"],
                        "type": "search_result",
                        "description": _WORD.sub(
                            lambda m: f"<strong>{m[0]}</strong>" if m[0].lower() in wanted else m[0], d["text"][:200]
                        ),
                    }
                    for d in docs
                ],
            }
        return answer
