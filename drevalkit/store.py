"""SQLite store shared by every run: the LLM response cache, search results, fetch records and fetched documents
(content-addressed by sha256), with an FTS5 index over the documents for the offline ``local`` search backend,
and the journal of resumable runs (``dreval generate-tasks``): the final output of each finished step, so a run
restarted after a crash or Ctrl-C repeats none of them.

WAL mode with a busy timeout makes it safe for several processes; each write is its own transaction, so a crash
loses at most the write in flight. It lives in the user cache directory (``DREVAL_HOME`` moves it).

The store has to stay fast whatever was put in it, because it is shared by every later run:

* Text is stored once: ``documents`` holds each text (zlib-compressed when that is smaller) under its sha256, and
  the full-text index ``doc_fts`` is *contentless* (``content=''``): it holds the inverted index only, keyed by the
  integer id of the URL's row in ``doc_index``. Replacing a URL's document removes the old entry by that id, so an
  insert costs the same in a store of a thousand pages or of a million.
* Only the first ``INDEX_CHARS`` characters of a document are indexed, so one huge page cannot make searches slow.
* Snippets are built in Python from a bounded prefix of the matching documents (no FTS5 ``snippet()``, whose cost
  grows with the square of a document's size) and every search runs under a time limit.
* One writer connection, held only for the statements of one write, and a pool of reader connections (WAL lets them
  read while a write is in progress); ``arun`` runs any store call in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import json
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import DrevalError
from .schemas import FetchRecord, SearchHit, utc_now

T = TypeVar("T")

STORE_SCHEMA_VERSION = 3  # 3: the journal table
INDEX_CHARS = 200_000  # characters of each document that go into the full-text index (and are searched for snippets)
SNIPPET_CHARS = 240  # about the length of a snippet
DEFAULT_SEARCH_TIMEOUT = 10.0  # seconds; ``settings.search_timeout`` is what the ``local`` backend passes
MAX_QUERY_TERMS = 32
_COMPRESS_MIN_BYTES = 128  # shorter texts are stored as they are
_READER_POOL = 8  # idle reader connections kept open
_PROGRESS_STEPS = 1000  # SQLite VM instructions between two checks of a search's deadline
_MIGRATION_BUSY_MS = 600_000  # an opener waits this long for another process that is migrating the store
_PAGE_SIZE = 8192  # for new stores: documents of a few KB pack into 8 KB pages with less waste than into 4 KB
_TERM_MATCHES = 64  # occurrences of each query term looked at when placing a snippet

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

# Query words split the way the unicode61 tokenizer splits text (it treats "_" as a separator), so that every quoted
# query term is a single token.
_FTS_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be but by can did do does for from had has have how in into is it its of on or that the "
    "their them there these they this to was were what when where which who why will with".split()
)
_SPACE = re.compile(r"\s+")
_PUNCTUATION = "".join(chr(c) for c in range(128) if not chr(c).isalnum() and not chr(c).isspace())
# what index_body does; stored in meta, and a store indexed another way is re-indexed when it is opened
_INDEX_FORMAT = "1:" + hashlib.sha256(" ".join(sorted(_STOP)).encode()).hexdigest()[:12]


class StoreError(DrevalError, RuntimeError):
    pass


class StoreTimeout(StoreError):
    """A search that did not finish within its time limit."""


def query_terms(query: str) -> list[str]:
    """The distinct words of a query that are searched for: lower case, no stop words or single characters."""
    words = (t.lower() for t in _FTS_TOKEN.findall(query))
    return list(dict.fromkeys(t for t in words if len(t) > 1 and t not in _STOP))[:MAX_QUERY_TERMS]


def _encode_text(text: str) -> tuple[str, bytes | str]:
    """The sha256 of ``text`` and the value stored for it (compressed bytes when that is smaller)."""
    raw = text.encode("utf-8")
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) >= _COMPRESS_MIN_BYTES:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return digest, packed
    return digest, text


def _decode_text(value: bytes | str, chars: int | None = None) -> str:
    """The stored text, or its first ``chars`` characters (decompressing no more than those need)."""
    if isinstance(value, str):
        return value if chars is None else value[:chars]
    if chars is None:
        return zlib.decompress(value).decode("utf-8")
    inflate, decoder = zlib.decompressobj(), codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    have, pending = 0, value
    while have < chars:
        # a character takes at least one byte: ask for as many bytes as characters are missing
        raw = inflate.decompress(pending, chars - have)
        pending = inflate.unconsumed_tail
        if not raw:
            break
        part = decoder.decode(raw)  # keeps a character cut at the end for the next round
        parts.append(part)
        have += len(part)
    return "".join(parts)[:chars]


def index_body(prefix: str) -> str:
    """What goes into the full-text index for the indexed part of a document (its first ``INDEX_CHARS``
    characters): lower case, without stop words (queries never search for them; leaving them out makes the index
    about a sixth smaller).

    The index is contentless, so removing an entry means giving it these exact values again: this must stay a pure
    function of the text, and a change to it needs a new ``_INDEX_FORMAT`` (the store then rebuilds its index).
    """
    words = prefix.lower().split()
    return " ".join(w for w in words if w.strip(_PUNCTUATION) not in _STOP)


def _stem_prefix(term: str) -> str:
    """What a word of the text must start with to count as ``term`` when placing a snippet: the index stems words
    (Porter), so "launched" matches "launch"; a rough cut of the ending stands in for the stemmer."""
    if len(term) <= 4 or term.isdigit():
        return term
    return term[: max(4, len(term) - 3)]


def make_snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """The stretch of ``text`` about ``width`` characters long holding the most distinct query terms (the start of
    the text when none is found), cut at word boundaries, whitespace collapsed, "..." where it was cut.

    Linear in the length of ``text`` and bounded: each term is looked up with ``str.find`` and at most
    ``_TERM_MATCHES`` of its occurrences are weighed.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased; positions must line up
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    hits: list[tuple[int, int]] = []  # (position, term number)
    for number, prefix in enumerate(dict.fromkeys(_stem_prefix(t) for t in terms)):
        found, start, tries = 0, 0, 0
        while found < _TERM_MATCHES and tries < 16 * _TERM_MATCHES:  # bounded even if it is mostly inside words
            tries += 1
            at = lowered.find(prefix, start)
            if at < 0:
                break
            start = at + 1
            if at > 0 and lowered[at - 1].isalnum():
                continue  # inside a word, not at its start
            hits.append((at, number))
            found += 1
    best_at, best_count = 0, 0
    if hits:
        hits.sort()
        counts: dict[int, int] = {}
        left = 0
        for at, number in hits:  # sliding window over the hits: the most distinct terms
            counts[number] = counts.get(number, 0) + 1
            while at - hits[left][0] > width * 2 // 3:
                gone = hits[left][1]
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
                left += 1
            if len(counts) > best_count:
                best_count, best_at = len(counts), hits[left][0]
    start = max(0, best_at - width // 6)
    if start:
        space = text.rfind(" ", max(0, start - 20), best_at)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start + width // 2, end)
        end = space if space > 0 else end
    snippet = _SPACE.sub(" ", text[start:end]).strip()
    if start > 0:
        snippet = "... " + snippet
    if end < len(text):
        snippet += " ..."
    return snippet


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
            self._conn.execute("PRAGMA journal_mode=WAL")
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
        if meta.get("schema_version") == str(STORE_SCHEMA_VERSION) and meta.get("index_format") == _INDEX_FORMAT:
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
        elif version is not None and meta.get("index_format") != _INDEX_FORMAT:
            self._reindex(conn.execute("SELECT url, title, sha256 FROM doc_index ORDER BY id").fetchall())
        conn.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [("schema_version", str(STORE_SCHEMA_VERSION)), ("index_format", _INDEX_FORMAT)],
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
                self._index(url, title, sha256, _decode_text(stored[0], INDEX_CHARS))

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
            return conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]

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
        return None if row is None else _decode_text(row[0])

    def put_fetch(self, record: FetchRecord, text: str | None = None) -> FetchRecord:
        """Record a fetch (or failure); with text, store the document by content hash and index it for search.

        Hashing, compressing and cutting the text happen before the write lock is taken; the write itself costs
        the same whatever the size of the store (lookups by key, the old index entry removed by its id).
        """
        if text is not None:
            record.content_sha256, stored = _encode_text(text)
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
                    (doc_id, old_title, index_body(_decode_text(old[0], old_chars))),
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
            return conn.execute("SELECT COUNT(*) FROM doc_index").fetchone()[0]

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
                            snippet = make_snippet(_decode_text(stored[0], min(chars, INDEX_CHARS)), terms)
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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
