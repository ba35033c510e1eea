"""SQLite store shared by every run: the LLM response cache, search results, fetch records and fetched documents
(content-addressed by sha256), with an FTS5 index over the documents for the offline ``local`` search backend.

WAL mode with a busy timeout makes it safe for several processes; each write is its own transaction, so a crash
loses at most the write in flight. It lives in the user cache directory (``DREVAL_HOME`` moves it).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .schemas import FetchRecord, SearchHit, utc_now

STORE_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    content TEXT NOT NULL,
    usage TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS search_cache (
    backend TEXT NOT NULL,
    query TEXT NOT NULL,
    k INTEGER NOT NULL,
    results TEXT NOT NULL,
    searched_at TEXT NOT NULL,
    PRIMARY KEY (backend, query, k)
);
CREATE TABLE IF NOT EXISTS fetches (url TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(url UNINDEXED, title, body, tokenize='porter unicode61');
"""

_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


class StoreError(RuntimeError):
    pass


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(STORE_SCHEMA_VERSION),)
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the dreval store at {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def get_llm(self, key: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            row = self._conn.execute("SELECT content, usage FROM llm_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1])

    def put_llm(self, key: str, model: str, content: str, usage: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO llm_cache(key, model, content, usage, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, model, content, json.dumps(usage), time.time()),
            )

    def count_llm(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]

    # -- search results ------------------------------------------------------------------------------------
    def get_search(self, backend: str, query: str, k: int) -> tuple[list[SearchHit], str] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT results, searched_at FROM search_cache WHERE backend = ? AND query = ? AND k = ?",
                (backend, query, k),
            ).fetchone()
        if row is None:
            return None
        return [SearchHit.model_validate(hit) for hit in json.loads(row[0])], row[1]

    def put_search(self, backend: str, query: str, k: int, hits: list[SearchHit]) -> None:
        payload = json.dumps([hit.model_dump() for hit in hits])
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO search_cache(backend, query, k, results, searched_at) VALUES (?, ?, ?, ?, ?)",
                (backend, query, k, payload, utc_now()),
            )

    # -- fetched documents -----------------------------------------------------------------------------------
    def get_fetch(self, url: str) -> FetchRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT record FROM fetches WHERE url = ?", (url,)).fetchone()
        return None if row is None else FetchRecord.model_validate_json(row[0])

    def get_document(self, sha256: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT text FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else row[0]

    def put_fetch(self, record: FetchRecord, text: str | None = None) -> FetchRecord:
        """Record a fetch (or failure); with text, store the document by content hash and index it for search."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            if text is not None:
                record.content_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
                self._conn.execute(
                    "INSERT OR IGNORE INTO documents(sha256, text) VALUES (?, ?)", (record.content_sha256, text)
                )
                self._conn.execute("DELETE FROM documents_fts WHERE url = ?", (record.url,))
                self._conn.execute(
                    "INSERT INTO documents_fts(url, title, body) VALUES (?, ?, ?)", (record.url, record.title, text)
                )
            self._conn.execute(
                "INSERT OR REPLACE INTO fetches(url, record) VALUES (?, ?)", (record.url, record.model_dump_json())
            )
        return record

    def search_documents(self, query: str, k: int) -> list[SearchHit]:
        """BM25 (FTS5) search over every stored document: the offline ``local`` search backend."""
        terms = list(dict.fromkeys(t.lower() for t in _FTS_TOKEN.findall(query) if len(t) > 1))[:32]
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        with self._lock:
            rows = self._conn.execute(
                "SELECT url, title, snippet(documents_fts, 2, '', '', ' ... ', 24) FROM documents_fts "
                "WHERE documents_fts MATCH ? ORDER BY bm25(documents_fts) LIMIT ?",
                (match, k),
            ).fetchall()
        return [SearchHit(url=url, title=title or "", snippet=snippet or "") for url, title, snippet in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
