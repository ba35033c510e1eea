"""How many citation markers of real reports link to a source: import folders of reports and count, per report.

Each folder given is one format (say ``gemini-docs/``, ``chatgpt-docx/``); every report file in it (``.md``,
``.json``, ``.jsonl``, ``.html``, ...) is imported with ``dreval import``'s own code into a scratch folder. Printed per
report:

* ``markers``: distinct reference numbers the original's markers cite, ``linked``: how many of them cite a source
  with a URL, ``files``: an attached file (no URL), all from the sidecar's ``citations`` counts; ``%``: linked;
* ``sources``: the sources of the imported References list;
* ``seen`` / ``ok``: what every later stage reads in the imported markdown (``parse_citations``): distinct numbers
  its markers cite, and how many of those have a URL. A version of dreval whose sidecar has no counts is measured by
  these alone (``markers`` = ``seen``, ``linked`` = ``ok``): what it linked, not what the original held.

and a total per folder. The reports are the caller's (published reports are never committed here); the figures say
nothing about the judge, only about reading citations. Run:
``python benchmarks/citation_linking.py /tmp/realreports/gemini-docs /tmp/realreports/chatgpt-docx``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.citations import parse_citations
from drevalkit.ingest.importers import import_reports

SUFFIXES = (".md", ".markdown", ".txt", ".json", ".jsonl", ".html", ".htm")


def _counts(markdown: Path) -> dict[str, int | str | None]:
    citations, summary = parse_citations(markdown.read_text(encoding="utf-8"))
    urls = {c.index: c.url for c in citations if c.index is not None and c.url}
    seen = summary["cited_indices"]
    side = json.loads(markdown.with_name(markdown.stem + ".meta.json").read_text(encoding="utf-8"))
    recorded = side.get("citations") or {}
    ok = sum(1 for n in seen if n in urls)
    return {
        "markers": recorded.get("markers", len(seen)),
        "linked": recorded.get("resolved", ok),
        "files": recorded.get("attached", 0),
        "sources": recorded.get("sources", len(urls)),
        "seen": len(seen),
        "ok": ok,
        "status": side.get("status"),
    }


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}" if whole else "    -"


def measure(folder: Path, scratch: Path) -> None:
    """Print one line per report of ``folder`` and the folder's total."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    total = {"markers": 0, "linked": 0, "files": 0, "reports": 0, "under": 0}
    print(f"\n{folder.name}: {len(files)} files")
    print(f"  {'markers':>7} {'linked':>6} {'files':>5} {'%':>5} {'sources':>7} {'seen':>5} {'ok':>5}  report")
    for path in files:
        outcome = import_reports([path], scratch / folder.name / path.stem)
        for problem in outcome.problems:
            print(f"  problem: {problem}")
        for written in outcome.written:
            row = _counts(written)
            markers, linked, files = int(row["markers"] or 0), int(row["linked"] or 0), int(row["files"] or 0)
            state = "" if row["status"] == "imported" else f" ({row['status']})"
            print(
                f"  {markers:>7} {linked:>6} {files:>5} {_percent(linked, markers)} {row['sources']:>7} {row['seen']:>5} "
                f"{row['ok']:>5}  {path.name}{state}"
            )
            total["markers"] += markers
            total["linked"] += linked
            total["files"] += files
            total["reports"] += 1
            total["under"] += markers > 0 and linked < 0.9 * markers
    print(
        f"  total: {total['reports']} reports, {total['markers']} markers, {total['linked']} linked "
        f"({_percent(total['linked'], total['markers']).strip()}%), {total['files']} to attached files; "
        f"{total['under']} reports under 90% linked"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="one folder of reports per format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for folder in args.folders:
            measure(folder, Path(scratch))


if __name__ == "__main__":
    main()
