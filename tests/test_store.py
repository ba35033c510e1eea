import asyncio
import random
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from drevalkit.schemas import FetchRecord
from drevalkit.store import INDEX_CHARS, STORE_SCHEMA_VERSION, Store, StoreError, StoreTimeout, make_snippet


def test_concurrent_writers_and_a_second_connection(tmp_path):
    path = tmp_path / "store.sqlite3"
    first, second = Store(path), Store(path)

    def write(store, prefix):
        for i in range(200):
            store.put_llm(f"{prefix}{i}", "m", f'{{"v": {i}}}', {"calls": 1})

    threads = [threading.Thread(target=write, args=(s, p)) for s, p in ((first, "a"), (second, "b"), (first, "c"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert first.count_llm() == 600 and second.get_llm("b199") == ('{"v": 199}', {"calls": 1})
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    first.close()
    second.close()


# one shard's writes, as ``dreval score --shard K/N`` makes them: answers, searches and pages (indexed), each its own
# short transaction, with reads in between; the store is opened by all four at once, before it exists
_HAMMER = """
import random, sys, time
from drevalkit.schemas import FetchRecord, SearchHit
from drevalkit.store import Store
path, name, go = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, go - time.time()))
rng = random.Random(name)
with Store(path) as store:
    for i in range(150):
        store.put_llm(f"{name}-{i}", "m", f"answer {i}", {"calls": 1})
        store.put_llm(f"shared-{i}", "m", f"answer {i}", {"calls": 1})  # every shard answers the same prompt
        if i % 3 == 0:
            store.put_search("local", f"{name} query {i}", 5, [SearchHit(url=f"https://{name}.example/{i}")])
        if i % 5 == 0:
            words = " ".join(rng.choices(["alpha", "beta", "gamma", "delta", name], k=400))
            store.put_fetch(FetchRecord(url=f"https://{name}.example/{i}", ok=True, title=name), words)
        assert store.get_llm(f"{name}-{i}") == (f"answer {i}", {"calls": 1})
        store.search_documents("gamma " + name, 3)
"""


def test_four_processes_share_one_store_without_a_lock_error(tmp_path):
    """Four shard processes writing one new store at once: every write is there, none fails with 'database is
    locked', and the full-text index is whole."""
    path = tmp_path / "home" / "store.sqlite3"
    go = time.time() + 1.5  # all four open the store at this moment, after the interpreters have started
    names = [f"shard{k}" for k in range(1, 5)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, str(path), name, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0 and "locked" not in err, err[-2000:]
    with Store(path) as store:
        assert store.count_llm() == 4 * 150 + 150
        assert all(store.get_llm(f"{name}-149") == ("answer 149", {"calls": 1}) for name in names)
        assert all(store.get_search("local", f"{name} query 147", 5) for name in names)
        assert store.count_documents() == 4 * 30
        assert {hit.url for hit in store.search_documents("shard3", 50)} == {
            f"https://shard3.example/{i}" for i in range(0, 150, 5)
        }
    _integrity(path)


def test_unusable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the dreval store"):
        Store(blocker / "store.sqlite3")


# -- the store at scale --------------------------------------------------------------------------------------


WORDS = [f"{a}{b}{c}" for a in "bdfgklmnprst" for b in "aeiou" for c in ("n", "r", "s", "", "th", "ck")]


def _page(rng: random.Random, n: int, words: int = 600) -> str:
    body = rng.choices(WORDS, k=words)
    return "\n\n".join(" ".join(body[i : i + 60]) for i in range(0, words, 60)) + f" page{n}"


def _fill(store: Store, rng: random.Random, start: int, count: int, prefix: str = "https://p.example/") -> None:
    for n in range(start, start + count):
        store.put_fetch(FetchRecord(url=f"{prefix}{n}", ok=True, title=f"Page {n}"), _page(rng, n, 120))


def _integrity(path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO doc_fts(doc_fts) VALUES ('integrity-check')")


def test_insert_cost_does_not_grow_with_the_store(tmp_path):
    """Counted in SQLite VM instructions (deterministic, unlike time): writing a page, new or replacing another
    one, costs about the same at 2,000 pages as at 200; schema 1 scanned the whole index to replace one."""
    rng = random.Random(1)
    store = Store(tmp_path / "store.sqlite3")
    total = 0

    def steps_per_put() -> float:
        steps = 0

        def count():
            nonlocal steps
            steps += 1
            return 0

        store._conn.set_progress_handler(count, 1)
        try:
            for j in range(40):
                store.put_fetch(
                    FetchRecord(url=f"https://p.example/{rng.randrange(total)}", ok=True, title="again"),
                    _page(rng, -j, 120),
                )
                store.put_fetch(
                    FetchRecord(url=f"https://new.example/{total}/{j}", ok=True, title="new"), _page(rng, j, 120)
                )
        finally:
            store._conn.set_progress_handler(None, 0)
        return steps / 80

    _fill(store, rng, 0, 200)
    total = 200
    small = steps_per_put()
    _fill(store, rng, 200, 1800)
    total = 2000
    large = steps_per_put()
    store.close()
    assert large < 2.5 * small, (small, large)
    _integrity(tmp_path / "store.sqlite3")


def test_text_is_stored_once(tmp_path):
    path = tmp_path / "store.sqlite3"
    rng = random.Random(2)
    vocabulary = [a + b for a in WORDS for b in WORDS[::7]]
    texts = [" ".join(rng.choices(vocabulary, k=600)) for n in range(300)]
    with Store(path) as store:
        for n, text in enumerate(texts):
            store.put_fetch(FetchRecord(url=f"https://p.example/{n}", ok=True, title=f"Page {n}"), text)
        # the same text under another URL is not stored again, and comes back whole
        store.put_fetch(FetchRecord(url="https://mirror.example/0", ok=True, title="Mirror"), texts[0])
        assert store.get_document(store.get_fetch("https://mirror.example/0").content_sha256) == texts[0]
        assert store.search_documents(texts[299][:40], 1)[0].url == "https://p.example/299"
        assert store.count_documents() == 301
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 300
        # the full-text index is contentless: it keeps no copy of the text
        assert conn.execute("SELECT body FROM doc_fts LIMIT 1").fetchone() == (None,)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "documents_fts" not in tables and "doc_fts_content" not in tables
    empty = tmp_path / "empty.sqlite3"
    Store(empty).close()
    text_bytes = sum(len(t.encode()) for t in texts)
    used = _used_bytes(path) - _used_bytes(empty)
    # the text (compressed) and its index: about 1.6 bytes a byte for these random words (the benchmark's web-like
    # pages take less); schema 1 kept the text twice, uncompressed, besides the index: more than 2.5
    assert used < 1.8 * text_bytes, used / text_bytes


def _used_bytes(path) -> int:
    """Bytes of the database's pages in use (not counting free pages, which later writes reuse)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "freelist_count", "page_size")
        )
    return (pages - free) * size


def test_replacing_a_document_replaces_what_is_found(tmp_path):
    with Store(tmp_path / "store.sqlite3") as store:
        url = "https://news.example/story"
        store.put_fetch(FetchRecord(url=url, ok=True, title="Story"), "The aardvark escaped from the zoo.")
        store.put_fetch(FetchRecord(url="https://other.example/", ok=True, title="Other"), "An aardvark eats ants.")
        assert {h.url for h in store.search_documents("aardvark", 5)} == {url, "https://other.example/"}
        store.put_fetch(FetchRecord(url=url, ok=True, title="Story, updated"), "The zebra was found in the park. " * 10)
        assert [h.url for h in store.search_documents("aardvark", 5)] == ["https://other.example/"]
        (hit,) = store.search_documents("zebra park", 5)
        assert hit.url == url and hit.title == "Story, updated" and "zebra" in hit.snippet
        # a failed fetch later does not drop what was indexed
        store.put_fetch(FetchRecord(url=url, ok=False, error="gone"))
        assert [h.url for h in store.search_documents("zebra", 5)] == [url]
    _integrity(tmp_path / "store.sqlite3")


def test_a_10_mb_page_of_repeated_words_does_not_slow_anything(tmp_path):
    path = tmp_path / "store.sqlite3"
    hostile = "battery storage capacity megawatt " * 300_000  # 10.2 MB
    with Store(path) as store:
        started = time.monotonic()
        record = store.put_fetch(FetchRecord(url="https://hostile.example/", ok=True, title="Repeated"), hostile)
        assert time.monotonic() - started < 5
        store.put_fetch(
            FetchRecord(url="https://grid.example/hornsdale", ok=True, title="Hornsdale"),
            "The Hornsdale battery opened in December 2017 with 100 MW of storage capacity.",
        )
        started = time.monotonic()
        hits = store.search_documents("Hornsdale battery storage capacity opened 2017", 5)
        assert time.monotonic() - started < 2
        assert {h.url for h in hits} == {"https://hostile.example/", "https://grid.example/hornsdale"}
        assert all(len(h.snippet) < 300 for h in hits)
        assert "battery storage" in next(h for h in hits if h.url == "https://hostile.example/").snippet
        assert store.get_document(record.content_sha256) == hostile
    assert path.stat().st_size < 2_000_000  # compressed, and only the first INDEX_CHARS characters indexed


def test_search_time_limit(tmp_path):
    with Store(tmp_path / "store.sqlite3") as store:
        rng = random.Random(3)
        for n in range(600):
            store.put_fetch(
                FetchRecord(url=f"https://p.example/{n}", ok=True, title=f"P{n}"),
                f"common words here {_page(rng, n, 40)}",
            )
        with pytest.raises(StoreTimeout, match="took longer than 1e-09 s"):
            store.search_documents("common words", 5, timeout=1e-9)
        assert len(store.search_documents("common words", 5)) == 5  # the reader connection is fine afterwards


def test_reads_and_searches_go_on_while_another_process_writes(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        store.put_fetch(FetchRecord(url="https://a.example/", ok=True, title="A"), "alpha beta gamma")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long write by another process would
        other.execute("INSERT INTO meta(key, value) VALUES ('busy', '1')")
        try:
            started = time.monotonic()
            assert store.get_fetch("https://a.example/").title == "A"
            assert [h.url for h in store.search_documents("gamma", 5)] == ["https://a.example/"]
            assert time.monotonic() - started < 1
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_arun_keeps_the_event_loop_free(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")

        async def main():
            ticks = 0

            async def tick():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.ensure_future(tick())
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, other.execute, "ROLLBACK")  # the write waits for the lock until then
            await store.arun(store.put_llm, "k", "m", "content", {"calls": 1})
            ticker.cancel()
            return ticks

        ticks = asyncio.run(main())
        other.close()
        assert ticks >= 10 and store.get_llm("k") == ("content", {"calls": 1})


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE llm_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL, usage TEXT NOT NULL,
                        created_at REAL NOT NULL);
CREATE TABLE search_cache (backend TEXT NOT NULL, query TEXT NOT NULL, k INTEGER NOT NULL, results TEXT NOT NULL,
                           searched_at TEXT NOT NULL, PRIMARY KEY (backend, query, k));
CREATE TABLE fetches (url TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE documents (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE VIRTUAL TABLE documents_fts USING fts5(url UNINDEXED, title, body, tokenize='porter unicode61');
INSERT INTO meta(key, value) VALUES ('schema_version', '1');
"""


def _v1_put(conn, record: FetchRecord, text: str | None) -> None:
    """What schema 1's ``put_fetch`` wrote."""
    import hashlib

    if text is not None:
        record.content_sha256 = hashlib.sha256(text.encode()).hexdigest()
        conn.execute("INSERT OR IGNORE INTO documents(sha256, text) VALUES (?, ?)", (record.content_sha256, text))
        conn.execute("DELETE FROM documents_fts WHERE url = ?", (record.url,))
        conn.execute("INSERT INTO documents_fts(url, title, body) VALUES (?, ?, ?)", (record.url, record.title, text))
    conn.execute("INSERT OR REPLACE INTO fetches(url, record) VALUES (?, ?)", (record.url, record.model_dump_json()))


def test_a_schema_1_store_is_upgraded(tmp_path):
    path = tmp_path / "store.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    _v1_put(conn, FetchRecord(url="https://webb.example/", ok=True, title="Webb"), "Webb launched from Kourou in 2021.")
    _v1_put(conn, FetchRecord(url="https://pasta.example/", ok=True, title="Pasta"), "How to cook pasta al dente.")
    _v1_put(conn, FetchRecord(url="https://down.example/", ok=False, error="HTTP 500"), None)
    conn.execute("INSERT INTO llm_cache VALUES ('key', 'm', 'cached answer', '{}', 0)")
    conn.commit()
    conn.close()

    with Store(path) as store:
        assert store.get_llm("key") == ("cached answer", {})
        (hit,) = store.search_documents("When did Webb launch?", 5)
        assert hit.url == "https://webb.example/" and hit.title == "Webb" and "Kourou" in hit.snippet
        assert store.get_document(store.get_fetch("https://pasta.example/").content_sha256).startswith("How to cook")
        assert store.count_documents() == 2
        # a migrated (uncompressed) document can be replaced: its old index entry goes
        store.put_fetch(FetchRecord(url="https://webb.example/", ok=True, title="Webb"), "Webb reached L2. " * 20)
        assert store.search_documents("Kourou", 5) == []
        assert store.search_documents("L2", 5)[0].url == "https://webb.example/"
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(STORE_SCHEMA_VERSION),)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'documents_fts'").fetchone() is None
    _integrity(path)
    with Store(path) as store:  # opening again changes nothing
        assert store.count_documents() == 2


def test_a_store_from_a_newer_dreval_is_refused(tmp_path):
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="has schema 99, newer than"):
        Store(path)


def test_an_index_made_another_way_is_rebuilt(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        store.put_fetch(FetchRecord(url="https://a.example/", ok=True, title="A"), "The quokka smiles.")
    with sqlite3.connect(path) as conn:  # as if indexed by a version that treated words another way
        conn.execute("UPDATE meta SET value = 'old' WHERE key = 'index_format'")
        conn.execute("DROP TABLE doc_fts")
        conn.execute("CREATE VIRTUAL TABLE doc_fts USING fts5(title, body, content='', tokenize='porter unicode61')")
    with Store(path) as store:
        assert [h.url for h in store.search_documents("quokka", 5)] == ["https://a.example/"]


def test_snippets_are_cheap_and_centred_on_the_query_words():
    text = (
        "Filler words about nothing in particular. " * 200 + "The telescope launched on 25 December 2021 from "
        "Kourou aboard an Ariane 5. " + "More filler text follows here. " * 200
    )
    snippet = make_snippet(text, ["launch", "kourou", "ariane"])
    assert snippet.startswith("... ") and snippet.endswith(" ...") and len(snippet) < 300
    assert "launched on 25 December 2021 from Kourou aboard an Ariane 5" in snippet
    assert make_snippet("Short text.", ["absent"]) == "Short text."
    assert make_snippet("word " * 100, ["absent"]).startswith("word word")
    huge = "spam eggs " * (INDEX_CHARS // 10)
    started = time.monotonic()
    for _ in range(20):
        make_snippet(huge, ["eggs", "bacon", "spam", "toast"])
    assert time.monotonic() - started < 1


def test_a_prefix_of_a_compressed_text_is_exact():
    from drevalkit.store.fulltext import decode_text, encode_text

    text = "".join(random.Random(4).choice(["a", "é", "€", "𝄞", " ", "\n", "word"]) for _ in range(5000))
    _, packed = encode_text(text)
    assert isinstance(packed, bytes) and decode_text(packed) == text
    for chars in (0, 1, 2, 3, 7, 100, 4999, 5000, 10**6):
        assert decode_text(packed, chars) == text[:chars]
    assert encode_text("short")[1] == "short"  # not worth compressing
