"""``dreval corpus``: the offline evidence corpus searched by the ``local`` backend."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ..documents import ExtractionLimits
from ..factcheck.corpus import SUFFIX_TYPES, CorpusError, add_folder, corpus_files
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail
from .console import plain, safe, stderr, stdout
from .options import build_settings, config_option, open_store


@click.group("corpus")
def corpus() -> None:
    """The offline evidence corpus searched by the `local` backend (stored in DREVAL_HOME)."""


@corpus.command("add")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@config_option
def corpus_add(folder: Path, config_file: Path | None) -> None:
    """Index the HTML, PDF, text and markdown files below FOLDER.

    A urls.json in FOLDER mapping file names to URLs stores each file under that URL, so reports citing those URLs
    are checked against the local copies without network access.
    """
    settings = build_settings(config_file)
    try:
        files = corpus_files(folder)
    except CorpusError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if not files:  # nothing indexed and nothing skipped: say what was looked for, not just "0 documents"
        fail(
            f"no documents found in {folder} (looked for {', '.join(SUFFIX_TYPES)} files, in subfolders too)",
            EXIT_INCOMPLETE,
        )
    store = open_store(settings)
    try:
        with Progress(
            TextColumn("indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr,
            transient=True,
            disable=len(files) < 20,
        ) as progress:
            bar = progress.add_task("", total=len(files))
            report = add_folder(
                store,
                folder,
                settings.fetch_max_bytes,
                on_file=lambda _: progress.advance(bar),
                limits=ExtractionLimits.of(settings),
            )
    except CorpusError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    finally:
        store.close()
    for name, reason in report.failed:
        stderr.print(f"[yellow]skipped {safe(name)}:[/] {safe(reason)}", highlight=False, soft_wrap=True)
    count = len(report.added)
    stdout.print(
        f"indexed {count} document{'' if count == 1 else 's'} from {plain(folder)} into {plain(settings.store_path)}",
        highlight=False,
        markup=False,
    )
    sys.exit(EXIT_OK if report.added else EXIT_INCOMPLETE)
