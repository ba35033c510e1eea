"""Options shared by several commands, defined once, and what they open: the settings, the reports to judge, the
store and the judge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from ..config import ConfigError, SettingProblem, Settings, find_config, load_settings, unknown_variables
from ..factcheck.search import SearchError
from ..ingest.task_files import TaskError
from ..llm import LLMClient, LLMUnavailable, backend_kind, open_llm
from ..quality.rubric import RubricError, read_rubric
from ..schemas import Rubric
from ..scoring import JobError, ScoreJob, build_jobs, collect_reports
from ..store import Store, StoreError
from .app import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_JUDGE, fail
from .console import plain, remember_secrets, stderr


def _apply(options: list[Callable[[Any], Any]], func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="dreval.toml to read, trusted (default: DREVAL_CONFIG, else ./dreval.toml, which may not redirect "
        "keys or allow private URLs, else the user config).",
    )(func)


def _judge_option_list(with_out: bool) -> list[Callable[[Any], Any]]:
    out = click.option(
        "--out", type=click.Path(path_type=Path, file_okay=False), help="Output folder (default ./dreval-out)."
    )
    return [
        config_option,
        click.option(
            "--backend",
            type=click.Choice(["auto", "openai", "local"]),
            help="Judge backend: an OpenAI-compatible endpoint or the embedded local model (default auto: "
            "the endpoint if one is configured, else the local model).",
        ),
        click.option("--base-url", help="OpenAI-compatible endpoint of the judge, e.g. http://localhost:8000/v1."),
        click.option("--api-key", help="API key of the endpoint (prefer the DREVAL_API_KEY env var)."),
        click.option("--model", help="Judge model name as the endpoint knows it."),
        click.option("--concurrency", type=int, help="Concurrent requests to the endpoint (default 8)."),
        click.option("--timeout", type=float, help="Seconds per LLM call (default 300)."),
        click.option(
            "--structured-output",
            type=click.Choice(["auto", "json_schema", "json_object", "text"]),
            help="How to ask for JSON; auto tries json_schema and falls back (default auto).",
        ),
        *([out] if with_out else []),
        click.option("--no-cache", is_flag=True, default=False, help="Do not read or write the LLM response cache."),
    ]


def judge_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of every command that talks to a judge."""
    return _apply(_judge_option_list(with_out=True), func)


def judge_options_without_out(func: Callable[..., Any]) -> Callable[..., Any]:
    """The judge options for a command whose ``--out`` is not the output folder (generate-tasks: the tasks file)."""
    return _apply(_judge_option_list(with_out=False), func)


def report_options(
    *, verb: str = "Score", default_system: str = "the folder's name, or 'default'", resume: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options that pick the reports and their tasks (and with ``resume``, whether finished results are reused);
    ``verb`` and ``default_system`` word the help of the command that judges them."""
    from ..ingest.importers import IMPORTERS

    options = [
        click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path)),
        click.option(
            "--task",
            "task_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Task file (JSON, or JSONL with --task-id).",
        ),
        click.option("--task-id", help="Which task of --task to use."),
        click.option("--prompt", help=f"{verb} against this task prompt instead of a task file."),
        click.option(
            "--tasks",
            "tasks_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Tasks for many reports; each report file is named <task id>.md or .json.",
        ),
        click.option("--system", help=f"Name of the system that wrote the reports (default: {default_system})."),
        click.option(
            "--format",
            "report_format",
            type=click.Choice(IMPORTERS.names()),
            help="Report format (default: detected from the file name and content).",
        ),
    ]
    if resume:
        options.append(
            click.option("--no-resume", is_flag=True, help="Score again even when a complete result exists.")
        )
    options.append(click.option("--max-report-mb", type=float, help="Refuse reports larger than this (default 5)."))
    return lambda func: _apply(options, func)


# what report_options name the reports and their tasks with, as build_jobs takes them
REPORT_PICKS = ("system", "task_file", "task_id", "prompt", "tasks_file", "report_format")


def read_jobs(
    reports: tuple[Path, ...], rubric_file: Path | None, *, verb: str, task_required: bool, **picks: Any
) -> tuple[list[ScoreJob], Rubric | None]:
    """The jobs of ``reports`` (``picks``: the ``REPORT_PICKS``) and the frozen ``--rubric``, which must be the
    rubric of every job's task (``verb``: what it cannot do to the others); bad input ends the command."""
    try:
        jobs = build_jobs(collect_reports(reports), task_required=task_required, **picks)
        fixed = read_rubric(rubric_file) if rubric_file else None
        if fixed is not None and any(job.task_id != fixed.task_id for job in jobs):
            raise JobError(f"{rubric_file} is the rubric of task {fixed.task_id!r}; it cannot {verb} other tasks")
    except (JobError, TaskError, RubricError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    return jobs, fixed


def factcheck_options(func: Callable[..., Any]) -> Callable[..., Any]:
    from ..factcheck.search import BACKENDS

    return _apply(
        [
            click.option(
                "--search",
                type=click.Choice(sorted(BACKENDS)),
                help="Search backend (default local: the offline evidence store and indexed folders).",
            ),
            click.option(
                "--max-claims", type=int, help="Claims checked per report, most check-worthy first (default 40)."
            ),
            click.option(
                "--evidence-per-claim",
                type=int,
                help="Evidence passages shown to the verifier per claim, cited sources first (default 5).",
            ),
            click.option(
                "--rounds",
                type=int,
                help="Search-and-verify rounds; later rounds retry unknown claims with refined queries (default 2).",
            ),
            click.option(
                "--allow-private-urls",
                is_flag=True,
                default=None,
                help="Allow fetching loopback and private-network addresses (off by default).",
            ),
            click.option("--replay", is_flag=True, help="Use stored searches and pages only: no web requests."),
        ],
        func,
    )


def jury_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--judge``, repeatable: the judges of a jury."""
    return click.option(
        "--judge",
        "judges",
        multiple=True,
        metavar="MODEL[@URL]",
        help="A judge: MODEL@URL (an OpenAI-compatible endpoint), MODEL (the configured endpoint) or local (the "
        "embedded model). Give it twice or more for a jury: every criterion and claim is judged by each, results "
        "keep each judge's scores, the mean (majority for verdicts) and their agreement; the first judge builds "
        "rubrics and extracts claims. Every judge gets the configured API key (OPENAI_API_KEY only OpenAI).",
    )(func)


def open_jury(settings: list[Settings], store: Store) -> list[LLMClient]:
    """The clients of the judges after the lead (opened by ``open_judge``)."""
    jury = []
    for judge_settings in settings:
        try:
            jury.append(open_llm(judge_settings, store))
        except LLMUnavailable as exc:
            fail(str(exc), EXIT_BAD_INPUT)
    return jury


def _flag_of(setting: str, value: Any, ctx: click.Context | None) -> str | None:
    """The option of the running command that gave ``setting`` its value: the option of that name, or one whose
    name ends the setting's (``--max-turns`` sets ``agent_max_turns``) and holds that very value."""
    if ctx is None:
        return None
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or not param.name:
            continue
        if param.name == setting or (setting.endswith("_" + param.name) and ctx.params.get(param.name) is value):
            return max(param.opts, key=len)
    return None


def _problem_text(problem: SettingProblem, overrides: dict[str, Any]) -> str:
    """A problem of an option's value named by the option typed; values from dreval.toml or the environment keep
    the setting's name and where they came from."""
    if problem.origin is None:
        name = problem.name.split(".")[0]
        flag = _flag_of(name, overrides.get(name), click.get_current_context(silent=True))
        if flag is not None:
            return f"{flag}: {problem.message}"
    return str(problem)


def build_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """The settings of a command, with one line on stderr naming the config file read (a file the user did not
    name could otherwise change a run unseen)."""
    if overrides.pop("no_cache", False):
        overrides["cache"] = False
    try:
        source = find_config(config_file)
        settings = load_settings(source, overrides)
    except ConfigError as exc:
        if not exc.problems:
            fail(str(exc), EXIT_BAD_INPUT)
        fail("; ".join(_problem_text(p, overrides) for p in exc.problems), EXIT_BAD_INPUT)
    for note in ([source.describe()] if source is not None else []) + unknown_variables():
        stderr.print(plain(note), highlight=False, markup=False, soft_wrap=True)
    return settings


def check_reports_folder(out: Path) -> None:
    """``--out`` of a command that writes one file per report must not be a file."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give the folder to write the reports into", EXIT_BAD_INPUT)


def open_store(settings: Settings) -> Store:
    remember_secrets(settings.secrets())  # never printed, even when an endpoint echoes one
    try:
        return Store(settings.store_path)
    except StoreError as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def open_judge(settings: Settings) -> tuple[Store, LLMClient]:
    """The store and the judge: an OpenAI-compatible endpoint, or the embedded local model when none is set."""
    store = open_store(settings)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        ) as progress:

            def on_progress(description: str, total: int) -> Callable[[int], None]:
                bar = progress.add_task(description, total=total)
                return lambda done: progress.advance(bar, done)

            llm = open_llm(settings, store, on_progress)
    except LLMUnavailable as exc:
        store.close()
        fail(str(exc), EXIT_BAD_INPUT)
    if backend_kind(settings) == "local" and settings.backend == "auto":
        stderr.print(
            f"no endpoint configured (DREVAL_BASE_URL): using the embedded local judge {llm.model} "
            "(slow on CPU; serve a model with vLLM/SGLang or use OpenAI for real evaluations)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    return store, llm


@contextmanager
def judging(store: Store, interrupted: str) -> Iterator[None]:
    """Exit as a run against the judge should: ``interrupted`` says what is kept, a bad search backend is bad input,
    an unusable judge its own code; the store is closed whatever happens."""
    try:
        yield
    except KeyboardInterrupt:
        fail(interrupted, EXIT_INTERRUPTED)
    except SearchError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except LLMUnavailable as exc:
        fail(str(exc), EXIT_JUDGE)
    finally:
        store.close()
