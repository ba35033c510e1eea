"""Options shared by several commands, defined once, and the judge they open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from ..config import ConfigError, SettingProblem, Settings, load_settings
from ..llm import LLMClient, LLMUnavailable, backend_kind, open_llm
from ..store import Store, StoreError
from .app import EXIT_BAD_INPUT, fail
from .console import stderr


def _apply(options: list[Callable[[Any], Any]], func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="dreval.toml to read (default: ./dreval.toml if present, or DREVAL_CONFIG).",
    )(func)


def judge_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of every command that talks to a judge."""
    return _apply(
        [
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
            click.option(
                "--out", type=click.Path(path_type=Path, file_okay=False), help="Output folder (default ./dreval-out)."
            ),
            click.option(
                "--no-cache", is_flag=True, default=False, help="Do not read or write the LLM response cache."
            ),
        ],
        func,
    )


def report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that pick the reports, their tasks and how results are stored."""
    from ..ingest.importers import IMPORTERS

    return _apply(
        [
            click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path)),
            click.option(
                "--task",
                "task_file",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Task file (JSON, or JSONL with --task-id).",
            ),
            click.option("--task-id", help="Which task of --task to use."),
            click.option("--prompt", help="Score against this task prompt instead of a task file."),
            click.option(
                "--tasks",
                "tasks_file",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Tasks for many reports; each report file is named <task id>.md or .json.",
            ),
            click.option(
                "--system", help="Name of the system that wrote the reports (default: the folder's name, or 'default')."
            ),
            click.option(
                "--format",
                "report_format",
                type=click.Choice(IMPORTERS.names()),
                help="Report format (default: detected from the file name and content).",
            ),
            click.option("--no-resume", is_flag=True, help="Score again even when a complete result exists."),
            click.option("--max-report-mb", type=float, help="Refuse reports larger than this (default 5)."),
        ],
        func,
    )


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
    if overrides.pop("no_cache", False):
        overrides["cache"] = False
    try:
        return load_settings(config_file, overrides)
    except ConfigError as exc:
        if not exc.problems:
            fail(str(exc), EXIT_BAD_INPUT)
        fail("; ".join(_problem_text(p, overrides) for p in exc.problems), EXIT_BAD_INPUT)


def open_store(settings: Settings) -> Store:
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
