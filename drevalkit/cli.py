"""The ``dreval`` command: parse options, build settings, call a stage, print a summary, set the exit code.

Exit codes: 0 every result complete; 1 finished but some results partial or failed (reasons printed and recorded);
2 bad invocation or input; 3 the judge endpoint cannot be used (unreachable, key rejected, unknown model).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .reports.importers import IMPORTERS
from .config import ConfigError, Settings, load_settings, redact_url
from .llm import LLMClient, LLMError, LLMUnavailable, backend_kind, open_llm
from .report.html import scorecard_path
from .quality.rubric import RubricBook, RubricError, read_rubric, rubric_path
from .factcheck.corpus import CorpusError, add_folder, corpus_files
from .factcheck.pipeline import open_factchecker
from .factcheck.search import BACKENDS, SearchError
from .schemas import Rubric, Scorecard, Task, Usage
from .scoring import ScoreJob, Scorer, result_path
from .store import Store, StoreError
from .tasks.loading import TaskError, load_tasks, select_task

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_JUDGE = 0, 1, 2, 3
REPORT_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".json")

stderr = Console(stderr=True)
stdout = Console()


class Abort(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def judge_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that talks to a judge."""
    options = [
        click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="dreval.toml to read (default: ./dreval.toml if present, or DREVAL_CONFIG)."),
        click.option("--backend", type=click.Choice(["auto", "openai", "local"]),
                     help="Judge backend: an OpenAI-compatible endpoint or the embedded local model (default auto: "
                     "the endpoint if one is configured, else the local model)."),
        click.option("--base-url", help="OpenAI-compatible endpoint of the judge, e.g. http://localhost:8000/v1."),
        click.option("--api-key", help="API key of the endpoint (prefer the DREVAL_API_KEY env var)."),
        click.option("--model", help="Judge model name as the endpoint knows it."),
        click.option("--concurrency", type=int, help="Concurrent requests to the endpoint (default 8)."),
        click.option("--timeout", type=float, help="Seconds per LLM call (default 300)."),
        click.option("--structured-output", type=click.Choice(["auto", "json_schema", "json_object", "text"]),
                     help="How to ask for JSON; auto tries json_schema and falls back (default auto)."),
        click.option("--out", type=click.Path(path_type=Path, file_okay=False),
                     help="Output folder (default ./dreval-out)."),
        click.option("--no-cache", is_flag=True, default=False, help="Do not read or write the LLM response cache."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(config_file: Path | None, **overrides: Any) -> Settings:
    if overrides.pop("no_cache", False):
        overrides["cache"] = False
    try:
        return load_settings(config_file, overrides)
    except ConfigError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
        raise  # unreachable


def open_judge(settings: Settings) -> tuple[Store, LLMClient]:
    """The store and the judge: an OpenAI-compatible endpoint, or the embedded local model when none is set."""
    kind = backend_kind(settings)
    try:
        store = Store(settings.store_path)
    except StoreError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
        raise
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                      console=stderr, transient=True) as progress:

            def on_progress(description: str, total: int) -> Callable[[int], None]:
                bar = progress.add_task(description, total=total)
                return lambda done: progress.advance(bar, done)

            llm = open_llm(settings, store, on_progress)
    except LLMUnavailable as exc:
        store.close()
        fail(str(exc), EXIT_BAD_INPUT)
        raise
    if kind == "local" and settings.backend == "auto":
        stderr.print(f"no endpoint configured (DREVAL_BASE_URL): using the embedded local judge {llm.model} "
                     "(slow on CPU; serve a model with vLLM/SGLang or use OpenAI for real evaluations)",
                     highlight=False, soft_wrap=True, markup=False)
    return store, llm


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="dreval")
def main() -> None:
    """dreval: evaluate deep-research agents with adaptive rubrics and fact-checking."""


def _collect_reports(paths: tuple[Path, ...]) -> list[tuple[Path, str | None]]:
    """Report files from the arguments, folders expanded, each with the name of the folder it was found in."""
    files: list[tuple[Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                raise Abort(f"{path}: no report files ({', '.join(REPORT_SUFFIXES)}) in this folder", EXIT_BAD_INPUT)
            files.extend((p, path.resolve().name) for p in found)
        elif path.exists():
            files.append((path, None))
        else:
            raise Abort(f"{path}: no such file or folder", EXIT_BAD_INPUT)
    return files


def _build_jobs(
    files: list[tuple[Path, str | None]], system: str | None, task_file: Path | None, task_id: str | None,
    prompt: str | None, tasks_file: Path | None, task_required: bool = True,
) -> list[ScoreJob]:
    """One job per report; the system is --system, else the report's folder name, else 'default'."""
    jobs = _jobs_for(files, system, task_file, task_id, prompt, tasks_file, task_required)
    seen: dict[tuple[str, str], Path] = {}
    for job in jobs:
        key = (job.system, job.task_id)
        if key in seen:
            raise Abort(f"{seen[key]} and {job.report_path} would both be the result of system {job.system!r} on "
                        f"task {job.task_id!r}; score them separately or give each folder its own --system",
                        EXIT_BAD_INPUT)
        seen[key] = job.report_path
    return jobs


def _jobs_for(
    files: list[tuple[Path, str | None]], system: str | None, task_file: Path | None, task_id: str | None,
    prompt: str | None, tasks_file: Path | None, task_required: bool,
) -> list[ScoreJob]:
    reports = [path for path, _ in files]
    systems = {path: system or folder or "default" for path, folder in files}
    given = [name for name, value in (("--task", task_file), ("--prompt", prompt), ("--tasks", tasks_file)) if value]
    if not given and not task_required:
        return [ScoreJob(path, systems[path], path.stem, None) for path in reports]
    if len(given) != 1:
        raise Abort("give exactly one of --task FILE, --prompt TEXT or --tasks FILE (reports named by task id)",
                    EXIT_BAD_INPUT)
    if tasks_file is not None:
        by_id = {t.id: t for t in load_tasks(tasks_file)}
        jobs = []
        for path in reports:
            task = by_id.get(path.stem)
            problem = "" if task else f"no task with id {path.stem!r} (the report's file name) in {tasks_file}"
            jobs.append(ScoreJob(path, systems[path], path.stem, task, problem))
        return jobs
    if len(reports) != 1:
        raise Abort("--task and --prompt score one report; for many, use --tasks with files named <task id>.md",
                    EXIT_BAD_INPUT)
    if prompt is not None:
        if not prompt.strip():
            raise Abort("--prompt is empty", EXIT_BAD_INPUT)
        task = Task.model_validate({"prompt": prompt.strip()})
    else:
        assert task_file is not None
        task = select_task(load_tasks(task_file), task_id, task_file)
    return [ScoreJob(reports[0], systems[reports[0]], task.id, task)]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


_STATUS_STYLE = {"complete": "green", "partial": "yellow", "failed": "red"}


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE[status]}]{status}[/]"


def _dimension_table(card: Scorecard) -> Table:
    table = Table(title=f"{escape(card.system)} / {escape(card.task_id)}: {_status(card.status)}")
    for column, justify in (("dimension", "left"), ("weight", "right"), ("score", "right"), ("status", "left")):
        table.add_column(column, justify=justify)
    assert card.quality is not None
    for dim_id, dim in card.quality.dimension_scores.items():
        spread = f" ± {dim.spread.std:.2f}" if dim.spread else ""
        table.add_row(escape(dim_id), f"{dim.weight:.2f}", _fmt(dim.score) + spread, _status(dim.status))
    spread = f" ± {card.quality.spread.std:.2f}" if card.quality.spread else ""
    table.add_row("[bold]total[/]", f"{card.quality.weight_judged:.2f}", f"[bold]{_fmt(card.quality.total)}[/]" + spread,
                  _status(card.quality.status))
    return table


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _factcheck_table(card: Scorecard) -> Table:
    fc = card.factcheck
    assert fc is not None
    table = Table(title=f"fact-check: {_status(fc.status)} ({len(fc.claims)} claims checked"
                        + (f", {fc.claims_skipped} over budget" if fc.claims_skipped else "") + ")")
    for column in ("right", "wrong", "unknown", "failed", "citation accuracy", "searches", "fetches"):
        table.add_column(column, justify="right")
    c = fc.counts
    table.add_row(f"{c.right} ({_pct(fc.ratios.get('right'))})", f"{c.wrong} ({_pct(fc.ratios.get('wrong'))})",
                  f"{c.unknown} ({_pct(fc.ratios.get('unknown'))})", str(c.failed), _pct(fc.citation_accuracy),
                  str(card.usage.searches), str(card.usage.fetches))
    return table


def _wrong_claims(card: Scorecard, limit: int = 5) -> None:
    fc = card.factcheck
    assert fc is not None
    claims = {c.id: c for c in fc.claims}
    wrong = [v for v in fc.verdicts if v.label == "wrong"]
    for verdict in wrong[:limit]:
        stdout.print(f"[red]wrong[/] {escape(claims[verdict.claim_id].text)}", highlight=False, soft_wrap=True)
        stdout.print(f"      {verdict.rationale}", highlight=False, soft_wrap=True, style="dim", markup=False)
    if len(wrong) > limit:
        stdout.print(f"... and {len(wrong) - limit} more wrong claims (see the result file)")


def _results_table(cards: list[Scorecard]) -> Table:
    table = Table(title="dreval score")
    for column in ("system", "task", "status", "quality", "right", "wrong", "claims", "calls", "tokens in/out", "s"):
        table.add_column(column, justify="left" if column in ("system", "task", "status") else "right",
                         overflow="fold")
    for card in cards[:50]:
        total = card.quality.total if card.quality else None
        fc = card.factcheck
        table.add_row(escape(card.system), escape(card.task_id), _status(card.status), _fmt(total),
                      _pct(fc.ratios.get("right")) if fc else "—", _pct(fc.ratios.get("wrong")) if fc else "—",
                      str(len(fc.claims)) if fc else "—", str(card.usage.calls),
                      f"{card.usage.prompt_tokens}/{card.usage.completion_tokens}", f"{card.seconds:.1f}")
    return table


def _summary(cards: list[Scorecard], skipped: int, out: Path) -> None:
    if len(cards) == 1 and (cards[0].quality is not None or cards[0].factcheck is not None):
        if cards[0].quality is not None and cards[0].quality.dimension_scores:
            stdout.print(_dimension_table(cards[0]))
        if cards[0].factcheck is not None:
            stdout.print(_factcheck_table(cards[0]))
            _wrong_claims(cards[0])
    else:
        stdout.print(_results_table(cards))
        if len(cards) > 50:
            stdout.print(f"... and {len(cards) - 50} more results")
    for card in cards:
        for reason in card.reasons[:3]:
            stderr.print(f"[yellow]{escape(card.system)}/{escape(card.task_id)}:[/] {escape(reason)}", highlight=False,
                         soft_wrap=True)
    totals = [c.quality.total for c in cards if c.quality and c.quality.total is not None]
    counts = {s: sum(c.status == s for c in cards) for s in ("complete", "partial", "failed")}
    line = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if skipped:
        line += f" ({skipped} already done, skipped)"
    if totals:
        line += f"; mean total {sum(totals) / len(totals):.2f}/10"
    usage = Usage()
    for card in cards:
        usage.add(card.usage)
    line += f"; {usage.calls} LLM calls, {usage.cache_hits} cache hits, {usage.prompt_tokens} prompt tokens"
    if usage.searches or usage.fetches:
        line += f", {usage.searches} searches, {usage.fetches} pages"
    stdout.print(line, highlight=False)
    if len(cards) == 1:
        stdout.print(f"result: {result_path(out, cards[0].system, cards[0].task_id)}", highlight=False, markup=False)
        stdout.print(f"scorecard: {scorecard_path(out, cards[0].system, cards[0].task_id)}", highlight=False,
                     markup=False)
    else:
        stdout.print(f"results: {out / 'results'}  scorecards: {out / 'html'}", highlight=False, markup=False)


def report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that pick the reports, their tasks and how results are stored."""
    options = [
        click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path)),
        click.option("--task", "task_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="Task file (JSON, or JSONL with --task-id)."),
        click.option("--task-id", help="Which task of --task to use."),
        click.option("--prompt", help="Score against this task prompt instead of a task file."),
        click.option("--tasks", "tasks_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="Tasks for many reports; each report file is named <task id>.md or .json."),
        click.option("--system", help="Name of the system that wrote the reports (default: the folder's name, "
                     "or 'default')."),
        click.option("--format", "report_format", type=click.Choice(IMPORTERS.names()),
                     help="Report format (default: by file suffix; .json is DeepResearchEval)."),
        click.option("--no-resume", is_flag=True, help="Score again even when a complete result exists."),
        click.option("--max-report-mb", type=float, help="Refuse reports larger than this (default 5)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def factcheck_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--search", type=click.Choice(sorted(BACKENDS)),
                     help="Search backend (default local: the offline evidence store and indexed folders)."),
        click.option("--max-claims", type=int, help="Claims checked per report, most check-worthy first (default 40)."),
        click.option("--evidence-per-claim", type=int,
                     help="Evidence passages shown to the verifier per claim, cited sources first (default 5)."),
        click.option("--rounds", type=int, help="Search-and-verify rounds; later rounds retry unknown claims "
                     "with refined queries (default 2)."),
        click.option("--allow-private-urls", is_flag=True, default=None,
                     help="Allow fetching loopback and private-network addresses (off by default)."),
        click.option("--replay", is_flag=True, help="Use stored searches and pages only: no web requests."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@report_options
@click.option("--no-quality", is_flag=True, help="Skip rubric judging (fact-check only).")
@click.option("--no-factcheck", is_flag=True, help="Skip fact-checking (quality only).")
@click.option("--samples", type=int, help="Judge each report N times and record mean and spread (default 1).")
@click.option("--rubric", "rubric_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this frozen rubric instead of building or reusing OUT/rubrics/<task>.json.")
@click.option("--rebuild-rubrics", is_flag=True, help="Build rubrics anew even if frozen ones exist.")
@factcheck_options
@judge_options
def score(no_quality: bool, no_factcheck: bool, rubric_file: Path | None, rebuild_rubrics: bool,
          **options: Any) -> None:
    """Score REPORTS (files or folders): quality against each task's adaptive rubric, and an active fact-check."""
    if no_quality and no_factcheck:
        fail("--no-quality and --no-factcheck leave nothing to do", EXIT_BAD_INPUT)
    _run(options, quality=not no_quality, factcheck=not no_factcheck, rubric_file=rubric_file,
         rebuild_rubrics=rebuild_rubrics)


@main.command()
@report_options
@factcheck_options
@judge_options
def factcheck(**options: Any) -> None:
    """Fact-check REPORTS: extract claims, find evidence (cited sources first, then search), verify each claim.

    A task is optional here; without one, results are named after the report files.
    """
    _run(options, quality=False, factcheck=True)


def _run(options: dict[str, Any], *, quality: bool, factcheck: bool, rubric_file: Path | None = None,
         rebuild_rubrics: bool = False) -> None:
    reports, report_format, no_resume = options.pop("reports"), options.pop("report_format"), options.pop("no_resume")
    task_file, task_id, prompt = options.pop("task_file"), options.pop("task_id"), options.pop("prompt")
    tasks_file, system, replay = options.pop("tasks_file"), options.pop("system"), options.pop("replay")
    settings = build_settings(options.pop("config_file"), **options)
    try:
        jobs = _build_jobs(_collect_reports(reports), system, task_file, task_id, prompt, tasks_file,
                           task_required=quality)
        fixed = read_rubric(rubric_file) if rubric_file else None
        if fixed is not None and any(job.task_id != fixed.task_id for job in jobs):
            raise Abort(f"{rubric_file} is the rubric of task {fixed.task_id!r}; it cannot score other tasks",
                        EXIT_BAD_INPUT)
    except (Abort, TaskError, RubricError) as exc:
        fail(str(exc), getattr(exc, "code", EXIT_BAD_INPUT))
        return
    for job in jobs:
        job.report_format = report_format
    store, llm = open_judge(settings)
    plan = _Plan(quality, factcheck, fixed, rebuild_rubrics, not (no_resume or rebuild_rubrics), replay)
    cards, skipped = asyncio.run(_score(settings, store, llm, jobs, plan))
    _summary(cards, skipped, settings.out)
    if len(cards) == 1 and cards[0].status == "failed" and cards[0].report_ref is None:
        fail(cards[0].reasons[0] if cards[0].reasons else "the report could not be scored", EXIT_BAD_INPUT)
    sys.exit(EXIT_OK if all(c.status == "complete" for c in cards) else EXIT_INCOMPLETE)


@dataclass
class _Plan:
    quality: bool
    factcheck: bool
    fixed_rubric: Rubric | None
    rebuild_rubrics: bool
    resume: bool
    replay: bool


async def _score(settings: Settings, store: Store, llm: LLMClient, jobs: list[ScoreJob],
                 plan: _Plan) -> tuple[list[Scorecard], int]:
    skipped = 0
    try:
        async with AsyncExitStack() as stack:
            checker = None
            if plan.factcheck:
                checker = await stack.enter_async_context(open_factchecker(settings, llm, store, replay=plan.replay))
            await llm.check()
            rubrics = (RubricBook(settings.out, llm, rebuild=plan.rebuild_rubrics, fixed=plan.fixed_rubric)
                       if plan.quality else None)
            scorer = Scorer(settings, llm, rubrics, checker)
            with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.description}"), console=stderr, transient=True,
                          disable=len(jobs) < 2) as progress:
                bar = progress.add_task("", total=len(jobs))

                def done(card: Scorecard, was_skipped: bool) -> None:
                    nonlocal skipped
                    skipped += was_skipped
                    progress.update(bar, advance=1, description=f"{card.task_id}: {card.status}")

                cards = await scorer.score_all(jobs, on_done=done, resume=plan.resume)
    except SearchError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
        raise
    except LLMUnavailable as exc:
        fail(f"{exc} (finished results are kept in {settings.out})", EXIT_JUDGE)
        raise
    finally:
        await llm.close()
        store.close()
    return cards, skipped


@main.command()
@click.argument("tasks_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--task-id", "task_ids", multiple=True, help="Only these task ids (repeatable).")
@click.option("--rebuild", is_flag=True, help="Build anew even if frozen rubrics exist.")
@judge_options
def rubric(tasks_file: Path, task_ids: tuple[str, ...], rebuild: bool, config_file: Path | None,
           **judge: Any) -> None:
    """Build and freeze the adaptive rubric of each task in TASKS_FILE into OUT/rubrics/."""
    settings = build_settings(config_file, **judge)
    try:
        tasks = load_tasks(tasks_file)
        if task_ids:
            tasks = [select_task(tasks, tid, tasks_file) for tid in task_ids]
    except TaskError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
        return
    store, llm = open_judge(settings)

    async def build_all() -> list[tuple[Task, str]]:
        book = RubricBook(settings.out, llm, rebuild=rebuild)
        try:
            await llm.check()

            async def one(task: Task) -> tuple[Task, str]:
                try:
                    built, _ = await book.get(task)
                    return task, f"{len(built.dimensions)} dimensions, hash {built.hash}"
                except (LLMError, RubricError) as exc:
                    if isinstance(exc, LLMUnavailable):
                        raise
                    return task, f"failed: {exc}"

            return list(await asyncio.gather(*(one(t) for t in tasks)))
        except LLMUnavailable as exc:
            fail(str(exc), EXIT_JUDGE)
            raise
        finally:
            await llm.close()
            store.close()

    results = asyncio.run(build_all())
    for task, outcome in results:
        stdout.print(f"{rubric_path(settings.out, task.id)}: {outcome}", highlight=False, markup=False)
    sys.exit(EXIT_INCOMPLETE if any(o.startswith("failed") for _, o in results) else EXIT_OK)


@main.group()
def corpus() -> None:
    """The offline evidence corpus searched by the `local` backend (stored in DREVAL_HOME)."""


@corpus.command("add")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False))
def corpus_add(folder: Path, config_file: Path | None) -> None:
    """Index the HTML, PDF, text and markdown files below FOLDER.

    A urls.json in FOLDER mapping file names to URLs stores each file under that URL, so reports citing those URLs
    are checked against the local copies without network access.
    """
    settings = build_settings(config_file)
    try:
        files = corpus_files(folder)
        store = Store(settings.store_path)
    except (CorpusError, StoreError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
        return
    try:
        with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), console=stderr,
                      transient=True, disable=len(files) < 20) as progress:
            bar = progress.add_task("", total=len(files))
            report = add_folder(store, folder, int(settings.fetch_max_mb * 1_000_000),
                                on_file=lambda _: progress.advance(bar))
    except CorpusError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
        return
    finally:
        store.close()
    for name, reason in report.failed:
        stderr.print(f"[yellow]skipped {escape(name)}:[/] {escape(reason)}", highlight=False, soft_wrap=True)
    stdout.print(f"indexed {len(report.added)} documents from {folder} into {settings.store_path}", highlight=False,
                 markup=False)
    sys.exit(EXIT_OK if report.added else EXIT_INCOMPLETE)


@main.command("config")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False))
def show_config(config_file: Path | None) -> None:
    """Show the effective settings (secrets masked) and where the store lives."""
    settings = build_settings(config_file)
    shown = settings.model_dump(mode="json")
    for name, value in shown.items():
        if name.endswith("api_key"):
            shown[name] = "set (hidden)" if value else None
        elif name.endswith("_url") and value:
            shown[name] = redact_url(value)
    for key, value in shown.items():
        stdout.print(f"{key} = {value!r}", highlight=False, markup=False)
    stdout.print(f"store = {str(settings.store_path)!r}", highlight=False, markup=False)


if __name__ == "__main__":  # pragma: no cover
    main()
