"""The store at scale: index 20,000 synthetic pages and show that writes and local searches stay flat.

Pages are made up but shaped like extracted web text: word-like tokens drawn from a 40,000-word vocabulary with a
Zipf distribution (so a few words are everywhere and most are rare), English stop words, and per page a handful of
topic words that recur in it; 1.5-6 KB each, in paragraphs. Each page goes in with ``Store.put_fetch`` (one
transaction each, as the fetcher does). Searches are claim-like queries made from a page's topic words and common
words, through ``Store.search_documents`` (what the ``local`` backend runs). Reported:

* insert latency (mean and p95 per page) over the first 1,000 and the last 1,000 pages;
* lookup latency (``get_fetch`` and ``get_document`` of a stored URL, what the fetcher does for a URL it has) and
  search latency (mean and p95) when the store holds 1,000 and 20,000 pages;
* database bytes (after a WAL checkpoint) per byte of UTF-8 text stored.

Run: ``python benchmarks/store_scale.py [--pages 20000] [--queries 200] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.schemas import FetchRecord
from drevalkit.store import Store

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "er", "an")]
STOP = (
    "the of and to in a is that for it as was with on by be at this from are or which an were has have its "
    "their not but also been had after more than one all new first into other two can".split()
)
WINDOW = 1000  # pages in each latency window


def make_vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    return sorted(words, key=lambda _: rng.random())


class PageMaker:
    def __init__(self, rng: random.Random, vocabulary: list[str]):
        self.rng = rng
        self.vocabulary = vocabulary
        total = sum(1 / (rank + 1) for rank in range(len(vocabulary)))
        acc, self.cumulative = 0.0, []
        for rank in range(len(vocabulary)):
            acc += 1 / (rank + 1) / total
            self.cumulative.append(acc)

    def page(self, number: int) -> tuple[str, str, list[str]]:
        rng = self.rng
        topic = rng.sample(self.vocabulary[2000:], 8)
        length = rng.randint(1500, 6000)
        body = rng.choices(self.vocabulary, cum_weights=self.cumulative, k=length // 4)
        paragraphs, sentence, size, out = [], [], 0, []
        for word in body:
            roll = rng.random()
            token = rng.choice(STOP) if roll < 0.35 else rng.choice(topic) if roll < 0.42 else word
            if rng.random() < 0.03:
                token = str(rng.randint(1, 2030))
            sentence.append(token)
            size += len(token) + 1
            if len(sentence) > rng.randint(8, 22):
                out.append(" ".join(sentence).capitalize() + ".")
                sentence = []
                if rng.random() < 0.2:
                    paragraphs.append(" ".join(out))
                    out = []
            if size >= length:
                break
        out.append(" ".join(sentence).capitalize() + ".")
        paragraphs.append(" ".join(out))
        title = " ".join(topic[:3]).title() + f" ({number})"
        return title, "\n\n".join(paragraphs), topic

    def query(self, topic: list[str]) -> str:
        rng = self.rng
        words = rng.sample(topic, 3) + rng.sample(STOP, 3) + rng.choices(self.vocabulary[:3000], k=3)
        rng.shuffle(words)
        return " ".join(words)


def stats_ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"mean {statistics.fmean(samples) * 1000:7.2f} ms   median {statistics.median(samples) * 1000:7.2f} ms   "
        f"p95 {p95 * 1000:7.2f} ms"
    )


def ratios(small: list[float], large: list[float]) -> str:
    """Large over small, of the means and of the medians (the median is less moved by other load on the machine)."""
    return (
        f"{statistics.fmean(large) / statistics.fmean(small):.2f} (means), "
        f"{statistics.median(large) / statistics.median(small):.2f} (medians)"
    )


def lookup_latency(store: Store, rng: random.Random, urls: list[str], lookups: int) -> list[float]:
    samples = []
    for _ in range(lookups):
        url = rng.choice(urls)
        start = time.perf_counter()
        record = store.get_fetch(url)
        text = store.get_document(record.content_sha256) if record else None
        samples.append(time.perf_counter() - start)
        assert text, url
    return samples


def search_latency(store: Store, maker: PageMaker, topics: list[list[str]], queries: int) -> tuple[list[float], int]:
    samples, found = [], 0
    for _ in range(queries):
        topic = maker.rng.choice(topics)
        query = maker.query(topic)
        start = time.perf_counter()
        hits = store.search_documents(query, 5)
        samples.append(time.perf_counter() - start)
        found += bool(hits)
    return samples, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="copy the store here afterwards (to look into it)")
    args = parser.parse_args()
    if args.pages < 2 * WINDOW:
        parser.error(f"--pages must be at least {2 * WINDOW}")
    rng = random.Random(args.seed)
    maker = PageMaker(rng, make_vocabulary(rng, 40_000))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.sqlite3"
        store = Store(path)
        inserts: list[float] = []
        topics: list[list[str]] = []
        text_bytes = 0
        searches: dict[int, tuple[list[float], int]] = {}
        lookups: dict[int, list[float]] = {}
        urls: list[str] = []
        started = time.perf_counter()
        for number in range(args.pages):
            title, text, topic = maker.page(number)
            topics.append(topic)
            text_bytes += len(text.encode("utf-8"))
            record = FetchRecord(
                url=f"https://site{number % 997}.example/page/{number}",
                final_url="",
                ok=True,
                content_type="text/html",
                title=title,
            )
            start = time.perf_counter()
            store.put_fetch(record, text)
            inserts.append(time.perf_counter() - start)
            urls.append(record.url)
            if number + 1 == WINDOW:
                lookups[WINDOW] = lookup_latency(store, rng, urls, args.queries * 5)
                searches[WINDOW] = search_latency(store, maker, topics, args.queries)
            if (number + 1) % 5000 == 0:
                print(f"  {number + 1:6d} pages indexed ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        lookups[args.pages] = lookup_latency(store, rng, urls, args.queries * 5)
        searches[args.pages] = search_latency(store, maker, topics, args.queries)
        store.close()
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob("store.sqlite3-*"))
        if args.keep:
            shutil.copyfile(path, args.keep)

    first, last = inserts[:WINDOW], inserts[-WINDOW:]
    print(
        f"store scale: {args.pages} synthetic pages, {text_bytes / 1e6:.1f} MB of text, "
        f"{args.queries} searches at each size"
    )
    print(f"insert, pages 1-{WINDOW}:{'':>10}{stats_ms(first)}")
    print(f"insert, pages {args.pages - WINDOW + 1}-{args.pages}:{'':>6}{stats_ms(last)}")
    print(f"  last/first: {ratios(first, last)}; target <= 1.5")
    for size, samples in lookups.items():
        print(f"lookup at {size:6d} pages:{'':>6}{stats_ms(samples)}")
    print(f"  {args.pages}/{WINDOW}: {ratios(lookups[WINDOW], lookups[args.pages])}; target <= 1.5")
    for size, (samples, found) in searches.items():
        print(f"search at {size:6d} pages:{'':>6}{stats_ms(samples)}   ({found}/{len(samples)} with hits)")
    print(
        f"  {args.pages}/{WINDOW}: {ratios(searches[WINDOW][0], searches[args.pages][0])}; BM25 scores every page "
        "that holds a query word, so this grows with the store"
    )
    print(f"database: {db_bytes / 1e6:.1f} MB, {db_bytes / text_bytes:.2f} bytes per byte of text (target <= 1.3)")


if __name__ == "__main__":
    main()
