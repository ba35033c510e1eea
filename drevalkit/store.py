"""SQLite store shared by every run: the LLM response cache (later also search results and fetched pages).

WAL mode with a busy timeout makes it safe for several processes; each write is its own transaction, so a crash
loses at most the write in flight. It lives in the user cache directory (``DREVAL_HOME`` moves it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

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
"""


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

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
