"""The ``Store``: one SQLite file with a writer connection and a pool of readers, its schema and migrations, and
the tables every run shares (LLM answers, search results, fetched pages with their full-text index, the journal
of resumable runs). What goes into the index and the snippets comes from ``fulltext``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DrevalError
from ..schemas import FetchRecord, SearchHit, utc_now
from .fulltext import INDEX_CHARS, INDEX_FORMAT, decode_text, encode_text, index_body, make_snippet, query_terms

T = TypeVar("T")

STORE_SCHEMA_VERSION = 3  # 3: the journal table
DEFAULT_SEARCH_TIMEOUT = 10.0  # seconds; ``settings.search_timeout`` is what the ``local`` backend passes
_READER_POOL = 8  # idle reader connections kept open
_PROGRESS_STEPS = 1000  # SQLite VM instructions between two checks of a search's deadline
_MIGRATION_BUSY_MS = 600_000  # an opener waits this long for another process that is migrating the store
_PAGE_SIZE = 8192  # for new stores: documents of a few KB pack into 8 KB pages with less waste than into 4 KB

# text: the document as TEXT, or as a BLOB holding its zlib-compressed UTF-8 (schema 1 stores hold TEXT only).
# doc_index: one row per indexed URL, whose id is the rowid of the URL's entry in doc_fts; indexed_chars says how
# much of the document went into the index, needed to remove the entry again from the contentless index.
_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL, "
    "usage TEXT NOT NULL, created_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS search_cache (backend TEXT NOT NULL, query TEXT NOT NULL, k INTEGER NOT NULL, "
    "results TEXT NOT NULL, searched_at TEXT NOT NULL, PRIMARY KEY (backend, query, k))",
    "CREATE TABLE IF NOT EXISTS fetches (url TEXT PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS documents (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS doc_index (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, "
    "title TEXT NOT NULL, indexed_chars INTEGER NOT NULL)",
    # journal: one row per finished step of a resumable run (run id, stage, the step's key) holding its output
    "CREATE TABLE IF NOT EXISTS journal (run TEXT NOT NULL, stage TEXT NOT NULL, key TEXT NOT NULL, "
    "output TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (run, stage, key))",
)
# contentless (content=''): the index only, no copy of the text; rowid = doc_index.id
_FTS_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS doc_fts USING fts5(title, body, content='', tokenize='porter unicode61')"
)


class StoreError(DrevalError, RuntimeError):
    """The store cannot be opened, read or written; the message names its file."""


class StoreTimeout(StoreError):
    """A search that did not finish within its time limit."""


def _use_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch the store to WAL, waiting for other processes: SQLite answers "database is locked" at once, without its
    busy handler, when several processes open a new store together (four shards starting at once did)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            self._conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # takes effect only in a new, empty store
            _use_wal(self._conn)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._prepare()
        except BaseException as exc:
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise StoreError(f"cannot open the dreval store at {self.path}: {exc}") from exc
            raise

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)

    # -- schema ------------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Create the tables, or bring a store of an older schema (or index format) up to this one, in one
        transaction; another process opening the store meanwhile waits for it."""
        conn = self._conn
        meta = self._meta()
        if meta.get("schema_version") == str(STORE_SCHEMA_VERSION) and meta.get("index_format") == INDEX_FORMAT:
            return  # the usual case: nothing to create or change, no write lock taken
        conn.execute(f"PRAGMA busy_timeout={_MIGRATION_BUSY_MS}")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._upgrade()
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.execute("PRAGMA busy_timeout=30000")

    def _meta(self) -> dict[str, str]:
        conn = self._conn
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        return dict(conn.execute("SELECT key, value FROM meta").fetchall()) if has_meta else {}

    def _upgrade(self) -> None:
        conn = self._conn
        meta = self._meta()  # again, inside the transaction: another process may have upgraded it meanwhile
        version = int(meta["schema_version"]) if "schema_version" in meta else None
        if version is not None and version > STORE_SCHEMA_VERSION:
            raise StoreError(
                f"the dreval store at {self.path} has schema {version}, newer than this dreval's "
                f"({STORE_SCHEMA_VERSION}): upgrade drevalkit or set another DREVAL_HOME"
            )
        for statement in (*_TABLES, _FTS_TABLE):
            conn.execute(statement)
        if version is not None and version < 2:
            self._reindex(self._fetched_documents())
            conn.execute("DROP TABLE IF EXISTS documents_fts")  # schema 1's index, with a copy of every text
        elif version is not None and meta.get("index_format") != INDEX_FORMAT:
            self._reindex(conn.execute("SELECT url, title, sha256 FROM doc_index ORDER BY id").fetchall())
        conn.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [("schema_version", str(STORE_SCHEMA_VERSION)), ("index_format", INDEX_FORMAT)],
        )

    def _fetched_documents(self) -> list[tuple[str, str, str]]:
        """(url, title, sha256) of every successful fetch record that has a stored text."""
        found = []
        for url, record in self._conn.execute("SELECT url, record FROM fetches"):
            try:
                data = json.loads(record)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("ok") and data.get("content_sha256"):
                found.append((url, str(data.get("title") or ""), str(data["content_sha256"])))
        return found

    def _reindex(self, documents: list[tuple[str, str, str]]) -> None:
        """Build the full-text index anew for these (url, title, sha256) documents."""
        conn = self._conn
        conn.execute("DROP TABLE IF EXISTS doc_fts")
        conn.execute("DELETE FROM doc_index")
        conn.execute(_FTS_TABLE)
        for url, title, sha256 in documents:
            stored = conn.execute("SELECT text FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
            if stored is not None:
                self._index(url, title, sha256, decode_text(stored[0], INDEX_CHARS))

    # -- connections ---------------------------------------------------------------------------------------------
    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A reader connection from the pool (opened when none is free), for this call only."""
        with self._pool_lock:
            if self._closed:
                raise StoreError(f"the dreval store at {self.path} is closed")
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            try:
                conn = self._connect()
                conn.execute("PRAGMA query_only=1")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the dreval store at {self.path}: {exc}") from exc
        try:
            yield conn
        finally:
            with self._pool_lock:
                keep = not self._closed and len(self._readers) < _READER_POOL
                if keep:
                    self._readers.append(conn)
            if not keep:
                conn.close()

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        """The writer connection inside one ``BEGIN IMMEDIATE`` transaction; held only for that transaction."""
        with self._write_lock:
            if self._closed:
                raise StoreError(f"the dreval store at {self.path} is closed")
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full, ...)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    async def arun(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call (``store.get_search``, ``store.put_fetch``, ...) in a worker thread: ``await
        store.arun(store.get_fetch, url)``. Every method is thread-safe, so calls may overlap."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- LLM responses -----------------------------------------------------------------------------------------
    def get_llm(self, key: str) -> tuple[str, dict[str, Any]] | None:
        with self._reader() as conn:
            row = conn.execute("SELECT content, usage FROM llm_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1])

    def put_llm(self, key: str, model: str, content: str, usage: dict[str, Any]) -> None:
        payload = json.dumps(usage)
        with self._writer() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO llm_cache(key, model, content, usage, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, model, content, payload, time.time()),
            )

    def count_llm(self) -> int:
        with self._reader() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])

    # -- search results ------------------------------------------------------------------------------------
    def get_search(self, backend: str, query: str, k: int) -> tuple[list[SearchHit], str] | None:
        with self._reader() as conn:
            row = conn.execute(
                "SELECT results, searched_at FROM search_cache WHERE backend = ? AND query = ? AND k = ?",
                (backend, query, k),
            ).fetchone()
        if row is None:
            return None
        return [SearchHit.model_validate(hit) for hit in json.loads(row[0])], row[1]

    def put_search(self, backend: str, query: str, k: int, hits: list[SearchHit]) -> None:
        payload = json.dumps([hit.model_dump() for hit in hits])
        with self._writer() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO search_cache(backend, query, k, results, searched_at) VALUES (?, ?, ?, ?, ?)",
                (backend, query, k, payload, utc_now()),
            )

    # -- fetched documents -----------------------------------------------------------------------------------
    def get_fetch(self, url: str) -> FetchRecord | None:
        with self._reader() as conn:
            row = conn.execute("SELECT record FROM fetches WHERE url = ?", (url,)).fetchone()
        return None if row is None else FetchRecord.model_validate_json(row[0])

    def get_document(self, sha256: str) -> str | None:
        with self._reader() as conn:
            row = conn.execute("SELECT text FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else decode_text(row[0])

    def put_fetch(self, record: FetchRecord, text: str | None = None) -> FetchRecord:
        """Record a fetch (or failure); with text, store the document by content hash and index it for search.

        Hashing, compressing and cutting the text happen before the write lock is taken; the write itself costs
        the same whatever the size of the store (lookups by key, the old index entry removed by its id).
        """
        if text is not None:
            record.content_sha256, stored = encode_text(text)
            prefix = text[:INDEX_CHARS]
            body = index_body(prefix)
        payload = record.model_dump_json()
        with self._writer() as conn:
            if text is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO documents(sha256, text) VALUES (?, ?)", (record.content_sha256, stored)
                )
                self._index(record.url, record.title, record.content_sha256, prefix, body)
            conn.execute("INSERT OR REPLACE INTO fetches(url, record) VALUES (?, ?)", (record.url, payload))
        return record

    def _index(self, url: str, title: str, sha256: str, prefix: str, body: str | None = None) -> None:
        """Index ``prefix`` (the first ``INDEX_CHARS`` characters of the document ``sha256``) under ``url``, in place
        of what was indexed for it before; ``body`` is ``index_body(prefix)`` when already made. Inside a write
        transaction; the cost does not depend on the size of the store."""
        conn = self._conn
        row = conn.execute("SELECT id, sha256, title, indexed_chars FROM doc_index WHERE url = ?", (url,)).fetchone()
        if row is not None:
            doc_id, old_sha, old_title, old_chars = row
            if old_sha == sha256 and old_title == title and old_chars == len(prefix):
                return  # indexed as it is already
            old = conn.execute("SELECT text FROM documents WHERE sha256 = ?", (old_sha,)).fetchone()
            if old is not None:
                # a contentless index forgets an entry given exactly the values it was made from
                conn.execute(
                    "INSERT INTO doc_fts(doc_fts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
                    (doc_id, old_title, index_body(decode_text(old[0], old_chars))),
                )
                conn.execute(
                    "UPDATE doc_index SET sha256 = ?, title = ?, indexed_chars = ? WHERE id = ?",
                    (sha256, title, len(prefix), doc_id),
                )
            else:
                # the old text is gone, so its entry cannot be removed: leave it behind under an id no URL has
                conn.execute("DELETE FROM doc_index WHERE id = ?", (doc_id,))
                row = None
        if row is None:
            doc_id = conn.execute(
                "INSERT INTO doc_index(url, sha256, title, indexed_chars) VALUES (?, ?, ?, ?)",
                (url, sha256, title, len(prefix)),
            ).lastrowid
        body = index_body(prefix) if body is None else body
        conn.execute("INSERT INTO doc_fts(rowid, title, body) VALUES (?, ?, ?)", (doc_id, title, body))

    def count_documents(self) -> int:
        """Indexed URLs (what the ``local`` backend searches)."""
        with self._reader() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM doc_index").fetchone()[0])

    def search_documents(self, query: str, k: int, *, timeout: float = DEFAULT_SEARCH_TIMEOUT) -> list[SearchHit]:
        """BM25 (FTS5) search over every stored document: the offline ``local`` search backend.

        Raises ``StoreTimeout`` when the index lookup takes longer than ``timeout`` seconds; if the time runs out
        while snippets are being made, the remaining hits come without one.
        """
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        deadline = time.monotonic() + timeout
        with self._reader() as conn:
            conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
            try:
                rows = conn.execute(
                    "SELECT d.url, d.title, d.sha256, d.indexed_chars FROM "
                    "(SELECT rowid AS id, rank FROM doc_fts WHERE doc_fts MATCH ? ORDER BY rank LIMIT ?) AS m "
                    "JOIN doc_index AS d ON d.id = m.id ORDER BY m.rank",
                    (match, k),
                ).fetchall()
                hits = []
                for url, title, sha256, chars in rows:
                    snippet = ""
                    if time.monotonic() < deadline:
                        stored = conn.execute("SELECT text FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
                        if stored is not None:
                            snippet = make_snippet(decode_text(stored[0], min(chars, INDEX_CHARS)), terms)
                    hits.append(SearchHit(url=url, title=title or "", snippet=snippet))
            except sqlite3.OperationalError as exc:
                if "interrupt" in str(exc).lower():
                    raise StoreTimeout(f"the local search took longer than {timeout:g} s and was stopped") from None
                raise StoreError(f"local search failed: {exc}") from exc
            finally:
                conn.set_progress_handler(None, 0)
        return hits

    # -- journal of resumable runs ---------------------------------------------------------------------------
    def get_journal(self, run: str, stage: str, key: str) -> Any | None:
        """The recorded output of one finished step, or None when it has not finished."""
        with self._reader() as conn:
            row = conn.execute(
                "SELECT output FROM journal WHERE run = ? AND stage = ? AND key = ?", (run, stage, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put_journal(self, run: str, stage: str, key: str, output: Any) -> None:
        """Record the output of a finished step (JSON-serialisable); replaces an earlier record of it."""
        payload = json.dumps(output, ensure_ascii=False, sort_keys=True)
        with self._writer() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO journal(run, stage, key, output, created_at) VALUES (?, ?, ?, ?, ?)",
                (run, stage, key, payload, time.time()),
            )

    def journal_entries(self, run: str, stage: str | None = None) -> dict[tuple[str, str], Any]:
        """Every recorded step of a run (of one stage), keyed by (stage, key)."""
        query, args = "SELECT stage, key, output FROM journal WHERE run = ?", [run]
        if stage is not None:
            query, args = query + " AND stage = ?", [run, stage]
        with self._reader() as conn:
            rows = conn.execute(query, args).fetchall()
        return {(s, k): json.loads(o) for s, k, o in rows}

    def clear_journal(self, run: str) -> int:
        """Forget every step of a run (to start it anew); returns how many were recorded."""
        with self._writer() as conn:
            return conn.execute("DELETE FROM journal WHERE run = ?", (run,)).rowcount

    def close(self) -> None:
        with self._pool_lock:
            if self._closed:
                return
            self._closed = True
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        with self._write_lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
