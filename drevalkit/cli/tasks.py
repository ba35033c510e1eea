"""``dreval generate-tasks``: fresh research tasks from personas, kept only if they need deep research; and
``--revalidate`` to re-check old tasks. Parse options -> the generation stage -> render -> exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import Settings
from ..factcheck.search import BACKENDS, SearchError, make_backend
from ..llm import LLMClient, LLMUnavailable, open_llm
from ..store import Store
from ..tasks.dedup import make_similarity
from ..tasks.generate import GenerateOptions, GenerationError, TaskGenerator
from ..tasks.journal import run_id
from ..tasks.outputs import TaskOutputs
from ..tasks.personas import PersonaError, load_personas
from ..tasks.pipeline import Roles, with_searcher
from ..tasks.plan import plan
from ..tasks.revalidate import TaskRevalidator, read_tasks_for_revalidation
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_JUDGE, EXIT_OK, fail, main
from .console import plain, safe, stderr, stdout
from .options import build_settings, judge_options, open_judge, open_store

STAGE_LABELS = {
    "personas": "synthesizing personas",
    "generation": "writing tasks",
    "qualification": "qualification filter",
    "answer": "answering without search",
    "necessity": "necessity filter",
    "searchability": "searchability",
}


def _judge_options_but_out(func: Any) -> Any:
    """The shared judge options, except ``--out`` (a folder there; here the tasks file)."""
    holder = judge_options(lambda: None)
    params = [p for p in getattr(holder, "__click_params__", []) if p.name != "out"]
    func.__click_params__ = getattr(func, "__click_params__", []) + params
    return func


def _iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter("expected a date as YYYY-MM-DD") from None


@main.command("generate-tasks")
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
@_judge_options_but_out
def generate_tasks(
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
        return
    try:
        library = load_personas(personas_dir, list(domains) or None)
    except PersonaError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    for warning in library.warnings:
        stderr.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
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
        store = open_store(settings)
        run_options.searchability = _searchability(settings, store, searchability)
        store.close()
        _print_plan(settings, library, run_options)
        sys.exit(EXIT_OK)
    store, llm = open_judge(settings)
    run_options.searchability = _searchability(settings, store, searchability)
    try:
        similarity = make_similarity(settings.dedup_method, settings.embedding_model)
    except RuntimeError as exc:
        store.close()
        fail(str(exc), EXIT_BAD_INPUT)
    roles = _roles(settings, store, llm)

    async def run() -> Any:
        try:
            await llm.check()

            async def body(searcher: Any) -> Any:
                generator = TaskGenerator(
                    settings,
                    store,
                    roles,
                    library,
                    run_options,
                    progress=hook,
                    searcher=searcher,
                    similarity=similarity,
                )
                return await generator.run()

            return await with_searcher(settings, store, run_options.searchability, body)
        finally:
            await roles.close()

    with _progress() as hook:
        result = _execute(run, store, run_id("generate", out))
    _print_summary(result.summary, result.outputs)
    summary = result.summary
    # incomplete: a failed step, fewer tasks than --n, an unmet --per-domain quota, or a filter that cannot discriminate
    incomplete = (
        summary["counts"]["failed"]
        or (n and summary["counts"]["kept"] < n)
        or (per_domain and any(d["met"] is False for d in summary["domains"]))
        or any(h["dominant_value"] is not None for h in summary["histograms"].values())
    )
    sys.exit(EXIT_INCOMPLETE if incomplete else EXIT_OK)


def _searchability(settings: Settings, store: Store, requested: bool | None) -> bool:
    """On when asked, off when refused, else on exactly when the configured backend searches the web."""
    if requested is False:
        return False
    try:
        backend = make_backend(settings, store)
    except SearchError as exc:
        store.close()
        fail(f"searchability: {exc}", EXIT_BAD_INPUT)
    return True if requested else bool(getattr(backend, "remote", True))


def _roles(settings: Settings, store: Store, default: LLMClient) -> Roles:
    clients: dict[str, LLMClient] = {default.model: default}

    def client(model: str | None) -> LLMClient:
        if not model or model == default.model:
            return default
        if model not in clients:
            try:
                clients[model] = open_llm(settings.model_copy(update={"model": model}), store)
            except LLMUnavailable as exc:
                fail(str(exc), EXIT_BAD_INPUT)
        return clients[model]

    judge = client(settings.judge_model)
    return Roles(
        generator=client(settings.generator_model),
        answer=client(settings.answer_model) if settings.answer_model else judge,
        judge=judge,
    )


class _progress:
    """One progress bar per stage on stderr, created when the stage first reports."""

    def __enter__(self) -> Any:
        self.bars: dict[str, Any] = {}
        self.view = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=False,
        )
        self.view.__enter__()
        return self

    def __call__(self, stage: str, advance: int, total: int) -> None:
        if stage not in self.bars:
            self.bars[stage] = self.view.add_task(STAGE_LABELS.get(stage, stage), total=0)
        bar = self.bars[stage]
        if total:
            self.view.update(bar, total=(self.view.tasks[bar].total or 0) + total)
        if advance:
            self.view.advance(bar, advance)

    def __exit__(self, *exc: object) -> None:
        self.view.__exit__(None, None, None)


def _execute(run: Callable[[], Awaitable[Any]], store: Store, journal_run: str) -> Any:
    """Run the stage; interruptions and unusable services become one message and an exit code."""
    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        done = sum(stage != "run" for stage, _ in store.journal_entries(journal_run))
        fail(
            f"interrupted: {done} finished steps are recorded in the journal and no output file was written; run "
            "the same command again to continue",
            EXIT_INTERRUPTED,
        )
    except LLMUnavailable as exc:
        fail(f"{exc} (finished steps are kept in the journal: run the same command again to continue)", EXIT_JUDGE)
    except (SearchError, GenerationError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    finally:
        store.close()


def _revalidate(settings: Settings, tasks_file: Path, searchability: bool | None, as_of: str | None) -> None:
    try:
        tasks = read_tasks_for_revalidation(tasks_file)
    except GenerationError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    store, llm = open_judge(settings)
    enabled = _searchability(settings, store, searchability)
    roles = _roles(settings, store, llm)

    async def run() -> Any:
        try:
            await llm.check()

            async def body(searcher: Any) -> Any:
                return await TaskRevalidator(
                    settings, store, roles, tasks_file, as_of=as_of, progress=hook, searcher=searcher
                ).run(tasks)

            return await with_searcher(settings, store, enabled, body)
        finally:
            await roles.close()

    with _progress() as hook:
        report = _execute(run, store, run_id("revalidate", tasks_file))
    table = Table(title=f"revalidation of {safe(tasks_file)} as of {report['as_of']}")
    for column in ("task", "status", "due", "confidence", "no-search quality", "why"):
        table.add_column(column, overflow="fold")
    for record in report["tasks"]:
        q, n = record.get("qualification") or {}, record.get("necessity") or {}
        style = {"fresh": "green", "stale": "yellow", "failed": "red"}[record["status"]]
        table.add_row(
            safe(record["id"]),
            f"[{style}]{record['status']}[/]",
            "yes" if record["due"] else "",
            _score(q.get("confidence"), record.get("qualification_before")),
            _score(n.get("quality"), record.get("necessity_before")),
            safe("; ".join(record["reasons"])),
        )
    stdout.print(table)
    counts = report["counts"]
    stdout.print(
        f"{counts['fresh']} fresh, {counts['stale']} stale, {counts['failed']} failed of {counts['tasks']} "
        f"({counts['due']} past their revalidate_after date); report: "
        f"{plain(TaskOutputs(tasks_file).revalidation)}",
        highlight=False,
        markup=False,
    )
    sys.exit(EXIT_OK if counts["fresh"] == counts["tasks"] else EXIT_INCOMPLETE)


def _score(now: float | None, before: float | None) -> str:
    if now is None:
        return "—"
    return f"{now:.2f}" + (f" (was {before:.2f})" if isinstance(before, (int, float)) else "")


_BLOCKS = " ▏▎▍▌▋▊▉█"


def _bar(count: int, largest: int, width: int = 30) -> str:
    if not count:
        return ""
    cells = max(1.0 / 8, width * count / largest)
    return "█" * int(cells) + (_BLOCKS[int((cells - int(cells)) * 8)] if cells - int(cells) >= 1 / 8 else "")


def _print_summary(summary: dict[str, Any], outputs: TaskOutputs) -> None:
    stages = Table(title="dreval generate-tasks: stages")
    for column in ("stage", "entered", "passed", "rejected", "failed", "rejection rate"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for row in summary["stages"]:
        if row.get("skipped"):
            stages.add_row(row["stage"], "—", "—", "—", "—", "off")
            continue
        rate = row["rejection_rate"]
        stages.add_row(
            row["stage"],
            str(row["entered"]),
            str(row["passed"]),
            str(row["rejected"]),
            str(row["failed"]),
            "—" if rate is None else f"{rate:.0%}",
        )
    stdout.print(stages)
    domains = Table(title="by domain")
    for column in ("domain", "personas", "candidates", "passed filters", "kept", "quota"):
        domains.add_column(column, justify="left" if column == "domain" else "right")
    for row in summary["domains"]:
        quota = "—" if row["quota"] is None else (f"{row['quota']}" + ("" if row["met"] else " [yellow](not met)[/]"))
        domains.add_row(
            safe(row["domain"]),
            f"{row['personas_used']}/{row['personas_available']}",
            str(row["candidates"]),
            str(row["passed_filters"]),
            str(row["kept"]),
            quota,
        )
    stdout.print(domains)
    for name, label in (("qualification", "qualification confidence"), ("necessity", "no-search answer quality")):
        hist = summary["histograms"][name]
        stdout.print(f"[bold]{label}[/] ({hist['n']} scores)", highlight=False)
        largest = max(hist["counts"], default=0) or 1
        for bin_label, count in zip(hist["bins"], hist["counts"]):
            stdout.print(f"  {bin_label}  {_bar(count, largest):<31} {count}", highlight=False, markup=False)
    for warning in summary["warnings"]:
        stderr.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    for failure in summary["failures"][:10]:
        where = failure.get("candidate_id") or failure.get("persona_id") or failure.get("domain")
        stderr.print(
            f"[red]failed[/] {safe(failure['stage'])} {safe(where)}: {safe(failure['reason'])}",
            highlight=False,
            soft_wrap=True,
        )
    counts, usage = summary["counts"], summary["usage"]["total"]
    stdout.print(
        f"{counts['kept']} tasks kept of {counts['candidates']} candidates from {counts['personas_used']} "
        f"personas ({counts['rejected']} rejected, {counts['failed']} failed); {usage['calls']} LLM calls, "
        f"{usage['cache_hits']} cache hits, {summary['journal']['reused']} steps reused from the journal, "
        f"{usage['prompt_tokens']} prompt tokens",
        highlight=False,
    )
    stdout.print(
        f"tasks: {plain(outputs.tasks)}  rejected: {plain(outputs.rejected)}  summary: {plain(outputs.summary)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _print_plan(settings: Settings, library: Any, options: GenerateOptions) -> None:
    planned = plan(settings, library, options)
    table = Table(title="dreval generate-tasks --dry-run (nothing is spent)")
    for column in ("stage", "calls (expected)", "calls (at most)", "prompt tokens", "completion tokens"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in planned["stages"]:
        table.add_row(
            row["stage"],
            str(row["calls"]),
            str(row["max_calls"]),
            f"{row['prompt_tokens']:,}",
            f"{row['completion_tokens']:,}",
        )
    total = planned["total"]
    table.add_row(
        "[bold]total[/]",
        f"[bold]{total['calls']}[/]",
        str(total["max_calls"]),
        f"{total['prompt_tokens']:,}",
        f"{total['completion_tokens']:,}",
    )
    stdout.print(table)
    quota = f"quota {planned['quota']} per domain" if planned["quota"] else "every persona"
    first = ", ".join(f"{safe(d)} {k}" for d, k in planned["first_wave_personas"].items())
    stdout.print(
        f"{len(planned['domains'])} domains, {quota}, {planned['candidates_per_persona']} candidates per "
        f"persona; personas in the first wave: {first}",
        highlight=False,
        soft_wrap=True,
    )
    stdout.print(
        f"expected calls assume {planned['assumed_pass_rate']:.0%} of candidates pass every filter; "
        "later waves run only for domains still short of their quota",
        highlight=False,
        soft_wrap=True,
    )
    if planned["searches"]["queries"]:
        stdout.print(f"about {planned['searches']['queries']} search queries", highlight=False)
    price = settings.price_for(settings.model or "")
    if price is not None:
        cost = price.cost(total["prompt_tokens"], 0, total["completion_tokens"])
        stdout.print(f"estimated cost at the {safe(settings.model)} price: {cost:.2f}", highlight=False)
    store = open_store(settings)
    try:
        done = sum(stage != "run" for stage, _ in store.journal_entries(run_id("generate", options.out)))
    finally:
        store.close()
    if done and options.resume:
        stdout.print(
            f"{done} finished steps are recorded for {plain(options.out)}: a run would reuse them",
            highlight=False,
            markup=False,
        )
