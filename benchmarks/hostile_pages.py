"""Fetch four hostile ~10 MB pages at once with the real Fetcher: wall time, peak memory, and what was recorded.

    .venv/bin/python benchmarks/hostile_pages.py            # both scenarios, each in a fresh process
    .venv/bin/python benchmarks/hostile_pages.py --before   # also time the old path: trafilatura on one whole page

The pages come from ``drevalkit.testing.page_server`` (run as its own process on 127.0.0.1, so its page cache is not
counted): repeated ``<a>`` tags, unclosed ``<li>``, deep nesting of unclosed elements, and a PDF whose one page is a
10 MB content stream. Scenario ``filler`` serves them with one word repeated (they compress like filler); scenario
``varied`` uses random words, so the cheap filler check does not catch them and only the markup cut and the worker's
time and memory limits bound the work.

Memory is the peak of the summed resident memory of this process and its descendants (the extraction workers),
sampled every 20 ms from /proc (Linux); also shown is the sum of each process's own peak (VmHWM), an upper bound.
Target (issue #7): under 60 s and under 1 GB for a report citing four such pages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = ("anchors", "li", "deep", "pdf")
SIZE_MB = 10.0
TARGET_S, TARGET_MB = 60.0, 1024.0


# -- memory of the process tree ---------------------------------------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("PPid", "VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return fields


def _descendants(root: int, exclude: set[int]) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _status(int(entry)).get("PPid")
            if ppid is not None:
                parents[int(entry)] = ppid
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in exclude]
        tree += children
        frontier = children
    return tree


class TreeMemory:
    """Samples the summed VmRSS of this process and its descendants; keeps each process's VmHWM."""

    def __init__(self, exclude: set[int], interval: float = 0.02):
        self.exclude, self.interval = exclude, interval
        self.peak_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.available = os.path.exists("/proc/self/status")

    def __enter__(self) -> TreeMemory:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()
            self._sample()

    def _sample(self) -> None:
        total = 0
        for pid in _descendants(os.getpid(), self.exclude):
            status = _status(pid)
            total += status.get("VmRSS", 0)
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status.get("VmHWM", 0))
        self.peak_kb = max(self.peak_kb, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()


# -- one scenario, in this process -----------------------------------------------------------------------------------
def run_scenario(port: int, varied: bool, server_pid: int) -> dict:
    from drevalkit import documents as extract
    from drevalkit.config import Settings
    from drevalkit.factcheck.fetch import Fetcher
    from drevalkit.store import Store

    urls = [f"http://127.0.0.1:{port}/hostile/{kind}?mb={SIZE_MB:g}{'&varied=1' if varied else ''}" for kind in PAGES]
    for url in urls:  # the server builds and caches each page on its first request: not part of the measurement
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()

    async def fetch_all(settings: Settings, store: Store) -> list[tuple]:
        async with Fetcher(settings, store) as fetcher:

            async def one(url: str) -> tuple:
                started = time.monotonic()
                record, text = await fetcher.fetch(url)
                return url, record, text, time.monotonic() - started

            return await asyncio.gather(*(one(url) for url in urls))

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), allow_private_urls=True)
        with Store(Path(home) / "store.sqlite3") as store, TreeMemory(exclude={server_pid}) as memory:
            started = time.monotonic()
            results = asyncio.run(fetch_all(settings, store))
            wall = time.monotonic() - started
            stored = [store.get_fetch(url) for url, *_ in results]
    try:
        import resource  # POSIX only

        self_maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:
        self_maxrss_mb = 0.0
    pool = extract.extraction_pool()
    return {
        "scenario": "varied" if varied else "filler",
        "wall_s": wall,
        "peak_tree_mb": memory.peak_kb / 1024 if memory.available else None,
        "sum_of_process_peaks_mb": sum(memory.hwm_kb.values()) / 1024 if memory.available else None,
        "self_maxrss_mb": self_maxrss_mb,
        "process_peaks_mb": {}
        if not memory.available
        else {"self" if pid == os.getpid() else str(pid): kb // 1024 for pid, kb in memory.hwm_kb.items()},
        "workers_started": pool.started,
        "workers_killed": pool.killed,
        "pages": [
            {
                "page": url.split("/hostile/")[1],
                "seconds": round(seconds, 1),
                "ok": record.ok,
                "error": record.error,
                "text_chars": len(text or ""),
                "stored": stored_record is not None,
            }
            for (url, record, text, seconds), stored_record in zip(results, stored)
        ],
    }


# -- the old path: trafilatura on a whole page, in a child with a time limit ------------------------------------------
BEFORE_CHILD = """
import sys, time, resource
sys.path.insert(0, {root!r})
from drevalkit.testing.page_server import hostile_page
import trafilatura
page = hostile_page({kind!r}, {size}).decode()
started = time.monotonic()
trafilatura.extract(page, include_comments=False, include_tables=True, favor_recall=True)
trafilatura.extract_metadata(page)
print(time.monotonic() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def measure_before(kind: str, limit_s: float) -> str:
    code = BEFORE_CHILD.format(root=str(ROOT), kind=kind, size=int(SIZE_MB * 1_000_000))
    started = time.monotonic()
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        return f"old path on {kind} ({SIZE_MB:g} MB): not done after {limit_s:g} s (killed)"
    try:
        seconds, peak = (float(v) for v in out.stdout.split())
    except ValueError:
        return f"old path on {kind}: failed after {time.monotonic() - started:.0f} s: {out.stderr.strip()[-300:]}"
    return f"old path on {kind} ({SIZE_MB:g} MB): {seconds:.1f} s, peak {peak:.0f} MB (one page, one process)"


def start_server() -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "drevalkit.testing.page_server"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.port = int(server.stdout.readline())  # type: ignore[attr-defined]  # the port rides on the Popen
    return server


def report(result: dict) -> bool:
    peak = result["peak_tree_mb"]
    within = result["wall_s"] < TARGET_S and (peak is None or peak < TARGET_MB)
    print(f"\n== scenario {result['scenario']}: {len(result['pages'])} pages of {SIZE_MB:g} MB fetched at once")
    print(
        f"wall time {result['wall_s']:.1f} s; peak memory of the process tree "
        + (
            f"{peak:.0f} MB (sum of per-process peaks {result['sum_of_process_peaks_mb']:.0f} MB)"
            if peak is not None
            else f"unknown (no /proc); this process {result['self_maxrss_mb']:.0f} MB"
        )
        + f"; workers started {result['workers_started']}, killed {result['workers_killed']}"
    )
    if result["process_peaks_mb"]:
        peaks = result["process_peaks_mb"]
        others = ", ".join(f"{mb} MB" for pid, mb in peaks.items() if pid != "self")
        print(f"per-process peaks: this process {peaks.get('self', 0)} MB; child processes {others}")
    for page in result["pages"]:
        outcome = f"ok, {page['text_chars']:,} chars" if page["ok"] else "FAILED"
        note = f": {page['error']}" if page["error"] else ""
        print(
            f"  {page['page']:<28} {page['seconds']:5.1f} s  {outcome}{note}"
            f"{'' if page['stored'] else '  (not stored)'}"
        )
    print(f"target < {TARGET_S:g} s and < {TARGET_MB:g} MB: {'met' if within else 'NOT MET'}")
    return within


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", action="store_true", help="also time trafilatura on one whole page (slow)")
    parser.add_argument("--before-limit", type=float, default=120.0, help="seconds the old path may take")
    parser.add_argument("--scenario", choices=("filler", "varied"), help="run one scenario in this process")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.scenario and args.port:  # a child run by the parent below
        print(json.dumps(run_scenario(args.port, args.scenario == "varied", args.server_pid)))
        return 0

    server = start_server()
    try:
        all_met = True
        for scenario in [args.scenario] if args.scenario else ["filler", "varied"]:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--scenario",
                    scenario,
                    "--port",
                    str(server.port),
                    "--server-pid",
                    str(server.pid),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if child.returncode != 0:
                print(child.stdout, child.stderr, file=sys.stderr)
                return 1
            all_met &= report(json.loads(child.stdout.strip().splitlines()[-1]))
        if args.before:
            print("\n== before (the issue measured 41 s and 1.6 GB for the anchors page, 6 minutes for unclosed li)")
            for kind in ("anchors", "li"):
                print(measure_before(kind, args.before_limit))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
