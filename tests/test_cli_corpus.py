"""``dreval corpus add`` caps a file at ``fetch_max_mb`` in the unit the fetcher caps a page at (MiB), so a document
is readable or too large the same way whether it is indexed from a folder or fetched from a server."""

from __future__ import annotations

import asyncio
import os
import random
import string
import subprocess
import sys

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.config import Settings
from drevalkit.factcheck.fetch import Fetcher
from drevalkit.store import Store
from drevalkit.testing.static_site import StaticSite

MIB = 1024 * 1024
UNDER = 1_040_000  # bytes: over 1 MB (10^6 bytes), under 1 MiB
OVER = MIB + 1


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    text = varied_text(OVER)  # ordinary prose, not filler: one repeated sentence would be refused as filler
    (docs / "under.txt").write_bytes(text[:UNDER])
    (docs / "over.txt").write_bytes(text[:OVER])
    return docs


def varied_text(size: int) -> bytes:
    """``size`` bytes of words that do not repeat in a pattern (compresses about 2 to 1, like real text)."""
    rng = random.Random(7)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10))) for _ in range(5000)]
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(12)).capitalize() + ".\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode("ascii")[:size]


@pytest.fixture
def corpus_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("DREVAL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DREVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DREVAL_FETCH_MAX_MB", "1")
    return tmp_path / "home" / "store.sqlite3"


def test_corpus_add_and_the_fetcher_apply_one_cap_in_mib(folder, corpus_env, tmp_path):
    result = CliRunner().invoke(main, ["corpus", "add", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    assert "indexed 1 document from" in result.output
    assert f"skipped over.txt: file too large: {OVER:,} bytes is over the 1 MiB cap (fetch_max_mb)" in result.stderr
    with Store(corpus_env) as store:
        indexed = store.get_fetch((folder / "under.txt").resolve().as_uri())
        assert indexed is not None and indexed.ok and store.get_fetch((folder / "over.txt").resolve().as_uri()) is None

    settings = Settings(home=tmp_path / "web", allow_private_urls=True, fetch_max_mb=1)
    assert settings.fetch_max_bytes == MIB

    async def fetch(urls):
        with Store(settings.store_path) as store:
            async with Fetcher(settings, store) as fetcher:
                return [await fetcher.fetch(url) for url in urls]

    with StaticSite(folder) as site:
        (under, text), (over, _) = asyncio.run(fetch([site.url("under.txt"), site.url("over.txt")]))
    assert under.ok and len(text) == UNDER
    assert over.error == f"page too large: Content-Length {OVER} bytes is over the 1 MiB cap (fetch_max_mb)"


def test_an_empty_folder_says_what_was_looked_for(corpus_env, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.docx").write_bytes(b"not a kind corpus add reads")
    result = CliRunner().invoke(main, ["corpus", "add", str(tmp_path / "empty")], catch_exceptions=False)
    assert result.exit_code == 1 and "indexed 0" not in result.output
    assert f"no documents found in {tmp_path / 'empty'} (looked for .html, .htm" in result.stderr
    assert ".pdf" in result.stderr and ".md" in result.stderr


def test_a_broken_pdf_is_skipped_with_one_line_and_no_pypdf_log(corpus_env, tmp_path):
    docs = tmp_path / "broken"
    docs.mkdir()
    (docs / "a.txt").write_text("Hornsdale Power Reserve opened in December 2017.\n")
    (docs / "b.pdf").write_bytes(b"\x00\x01\x02")
    # a real process: PDFs are read in worker processes, whose log lines go to the terminal, not to CliRunner
    done = subprocess.run(
        [sys.executable, "-m", "drevalkit.cli", "corpus", "add", str(docs)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "indexed 1 document from" in done.stdout and "skipped b.pdf: cannot read PDF" in done.stderr
    assert "invalid pdf header" not in done.stderr and "EOF marker" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
