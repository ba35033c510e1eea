import sqlite3
import threading

from drevalkit.store import Store, StoreError

import pytest


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


def test_unusable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the dreval store"):
        Store(blocker / "store.sqlite3")
