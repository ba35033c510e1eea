"""``dreval generate-tasks``: fresh research tasks from personas, kept only if they need deep research; and
``--revalidate`` to re-check old tasks. Options -> the task stage (``task_runs``) -> what it did (``task_console``)
-> exit code."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click

from ..config import Settings
from ..factcheck.search import BACKENDS, Searcher
from ..tasks.dedup import make_similarity
from ..tasks.generate import GenerateOptions, GenerationError, TaskGenerator
from ..tasks.journal import run_id
from ..tasks.personas import PersonaError, PersonaLibrary, load_personas
from ..tasks.revalidate import TaskRevalidator, read_tasks_for_revalidation
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail
from .console import safe, stderr
from .options import build_settings, judge_options_without_out, open_judge, open_store
from .task_console import print_generation, print_plan, print_revalidation
from .task_runs import StageProgress, open_roles, run_stage, searchability_of


def _iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter("expected a date as YYYY-MM-DD") from None


@click.command("generate-tasks")
@click.option("--n", "n", type=click.IntRange(min=1), help="Target number of tasks, balanced across domains.")
@click.option("--per-domain", type=click.IntRange(min=1), help="Tasks wanted per domain (the quota).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("tasks.jsonl"),
    show_default=True,
    help="Tasks file to write; the rejected candidates, summary and no-search answers "
    "go beside it (<stem>.rejected.jsonl, <stem>.summary.json, <stem>.baselines/).",
)
@click.option(
    "--personas",
    "personas_dir",
    type=click.Path(path_type=Path),
    help="Folder (or file) of your own persona YAML files instead of dreval's library.",
)
@click.option("--domain", "domains", multiple=True, help="Only this domain (repeatable).")
@click.option(
    "--synthesize-personas",
    type=click.IntRange(min=0),
    default=0,
    help="Ask the generator for N more personas per domain (deduplicated, saved beside the output).",
)
@click.option(
    "--candidates",
    "task_candidates",
    type=click.IntRange(1, 12),
    help="Candidate tasks written per persona (default 4).",
)
@click.option("--language", "task_language", help="Language of the tasks, as a code: en, zh, de, ... (default en).")
@click.option("--id-prefix", help="Number the tasks PREFIX001, PREFIX002, ... instead of content-hash ids.")
@click.option(
    "--against",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="An existing task set (e.g. a published benchmark): drop tasks too close to it (repeatable).",
)
@click.option(
    "--qualification-threshold",
    type=click.FloatRange(0, 1),
    help="Minimum confidence of the qualification judge (default 0.7).",
)
@click.option(
    "--necessity-threshold", type=click.FloatRange(0, 1), help="Maximum quality of the no-search answer (default 0.7)."
)
@click.option(
    "--dedup-method",
    type=click.Choice(["auto", "embedding", "lexical"]),
    help="Near-duplicate detection (default auto: embeddings when installed).",
)
@click.option(
    "--dedup-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="Similarity from which tasks are near-duplicates (default 0.85 embedding, 0.5 lexical).",
)
@click.option(
    "--searchability/--no-searchability",
    default=None,
    help="Keep only tasks web search finds enough material for (default: on with a web search backend).",
)
@click.option("--search", type=click.Choice(sorted(BACKENDS)), help="Search backend for the searchability check.")
@click.option("--generator-model", help="Model that writes personas and tasks (default --model).")
@click.option("--judge-model", help="Model that judges both filters (default --model).")
@click.option("--answer-model", help="Model that answers tasks without search (default the judge model).")
@click.option(
    "--as-of",
    callback=_iso_date,
    help="Today's date for the prompts, YYYY-MM-DD (default: today, or the date of the run being resumed).",
)
@click.option("--dry-run", is_flag=True, help="Print the planned calls and estimated tokens, spend nothing.")
@click.option("--no-resume", is_flag=True, help="Start anew: forget the finished steps recorded for this output.")
@click.option(
    "--revalidate",
    "revalidate_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Re-run both filters on the tasks of this file and report which have gone stale.",
)
@judge_options_without_out
def generate_tasks_command(
    n: int | None,
    per_domain: int | None,
    out: Path,
    personas_dir: Path | None,
    domains: tuple[str, ...],
    synthesize_personas: int,
    id_prefix: str | None,
    against: tuple[Path, ...],
    searchability: bool | None,
    as_of: str | None,
    dry_run: bool,
    no_resume: bool,
    revalidate_file: Path | None,
    config_file: Path | None,
    **options: Any,
) -> None:
    """Generate fresh research tasks from personas, keeping only those that need deep web research."""
    settings = build_settings(config_file, **options)
    if settings.model is None and settings.judge_model:
        settings = settings.model_copy(update={"model": settings.judge_model})
    if revalidate_file is not None:
        _revalidate(settings, revalidate_file, searchability, as_of)
    library = _personas(personas_dir, domains)
    run_options = GenerateOptions(
        out=out,
        n=n,
        per_domain=per_domain,
        synthesize=synthesize_personas,
        id_prefix=id_prefix,
        against=list(against),
        as_of=as_of,
        resume=not no_resume,
    )
    if dry_run:
        _dry_run(settings, library, run_options, searchability)
    result = _generate(settings, library, run_options, searchability)
    print_generation(result.summary, result.outputs)
    summary = result.summary
    # incomplete: a failed step, fewer tasks than --n, an unmet --per-domain quota, or a filter that cannot discriminate
    incomplete = (
        summary["counts"]["failed"]
        or (n and summary["counts"]["kept"] < n)
        or (per_domain and any(d["met"] is False for d in summary["domains"]))
        or any(h["dominant_value"] is not None for h in summary["histograms"].values())
    )
    sys.exit(EXIT_INCOMPLETE if incomplete else EXIT_OK)


def _personas(personas_dir: Path | None, domains: tuple[str, ...]) -> PersonaLibrary:
    """The persona library (``--personas``, else dreval's), its warnings printed."""
    try:
        library = load_personas(personas_dir, list(domains) or None)
    except PersonaError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    for warning in library.warnings:
        stderr.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    return library


def _dry_run(
    settings: Settings, library: PersonaLibrary, run_options: GenerateOptions, requested: bool | None
) -> NoReturn:
    """Print the plan of the run and exit, spending nothing."""
    store = open_store(settings)
    try:
        run_options.searchability = searchability_of(settings, store, requested)
        done = sum(stage != "run" for stage, _ in store.journal_entries(run_id("generate", run_options.out)))
    finally:
        store.close()
    print_plan(settings, library, run_options, done)
    sys.exit(EXIT_OK)


def _generate(settings: Settings, library: PersonaLibrary, run_options: GenerateOptions, requested: bool | None) -> Any:
    store, llm = open_judge(settings)
    run_options.searchability = searchability_of(settings, store, requested)
    try:
        similarity = make_similarity(settings.dedup_method, settings.embedding_model)
    except RuntimeError as exc:
        store.close()
        fail(str(exc), EXIT_BAD_INPUT)
    roles = open_roles(settings, store, llm)

    async def body(searcher: Searcher | None, progress: StageProgress) -> Any:
        generator = TaskGenerator(
            settings,
            store,
            roles,
            library,
            run_options,
            progress=progress,
            searcher=searcher,
            similarity=similarity,
        )
        return await generator.run()

    journal = run_id("generate", run_options.out)
    return run_stage(settings, store, llm, roles, run_options.searchability, journal, body)


def _revalidate(settings: Settings, tasks_file: Path, requested: bool | None, as_of: str | None) -> NoReturn:
    """Re-run both filters on the tasks of ``tasks_file``, print which have gone stale and exit."""
    try:
        tasks = read_tasks_for_revalidation(tasks_file)
    except GenerationError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    store, llm = open_judge(settings)
    enabled = searchability_of(settings, store, requested)
    roles = open_roles(settings, store, llm)

    async def body(searcher: Searcher | None, progress: StageProgress) -> Any:
        revalidator = TaskRevalidator(
            settings, store, roles, tasks_file, as_of=as_of, progress=progress, searcher=searcher
        )
        return await revalidator.run(tasks)

    report = run_stage(settings, store, llm, roles, enabled, run_id("revalidate", tasks_file), body)
    print_revalidation(report, tasks_file)
    counts = report["counts"]
    sys.exit(EXIT_OK if counts["fresh"] == counts["tasks"] else EXIT_INCOMPLETE)
