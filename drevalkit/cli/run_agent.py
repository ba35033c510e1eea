"""``dreval run-agent``: run a model behind an OpenAI-compatible endpoint as a research agent over a task set.

    dreval run-agent --tasks tasks.jsonl --base-url URL --model NAME --protocol P --out reports/SYSTEM/

Writes ``<task id>.md``, ``<task id>.meta.json`` and ``<task id>.trace.jsonl`` per task (see
``drevalkit.agents.task_output``) and prints one row per task. Exits 0 when every task has a report, 1 when some failed
(recorded with the reason and the trace), 2 on a bad invocation, 3 when the agent endpoint cannot be used, 130 when
interrupted (finished tasks are kept; run the same command again to continue).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..agents import NATIVE_CALLS_HINT, PROTOCOLS, AgentRunError, RunSummary, TaskOutcome, arun_agent
from ..aio import run_loop
from ..factcheck.search import BACKENDS, SearchError
from ..ingest.task_files import TaskError, load_tasks
from ..llm import LLMUnavailable
from ..schemas import Task
from ..shards import Shard
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_JUDGE, EXIT_OK, fail
from .console import plain, progress_bar, safe, stderr, stdout
from .options import build_settings, check_reports_folder, config_option, open_store
from .shards import pick_shard, shard_option

# option name -> setting name
_SETTINGS = {
    "base_url": "agent_base_url",
    "api_key": "agent_api_key",
    "model": "agent_model",
    "protocol": "agent_protocol",
    "concurrency": "agent_concurrency",
    "max_turns": "agent_max_turns",
    "time_cap": "agent_time_cap",
    "context_tokens": "agent_context_tokens",
    "max_tokens": "agent_max_tokens",
    "temperature": "agent_temperature",
    "top_p": "agent_top_p",
    "repetition_penalty": "agent_repetition_penalty",
    "keep_tool_results": "agent_keep_tool_results",
    "page_chars": "agent_page_chars",
    "extract": "agent_extract",
    "max_failures": "agent_max_failures",
    "search": "search",
    "search_results": "search_results",
    "allow_private_urls": "allow_private_urls",
}


@click.command("run-agent")
@click.option(
    "--tasks",
    "tasks_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tasks to run (JSON or JSONL; any format dreval import --tasks reads).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the reports of this system, e.g. reports/my-agent/ (then: dreval score OUT).",
)
@click.option("--task-id", "task_ids", multiple=True, help="Run only this task (repeatable).")
@click.option("--limit", type=int, help="Run only the first N tasks.")
@click.option("--base-url", help="The agent's OpenAI-compatible endpoint, e.g. http://localhost:30000/v1.")
@click.option("--api-key", help="API key of the agent's endpoint (prefer DREVAL_AGENT_API_KEY).")
@click.option("--model", help="The agent model's name as its endpoint knows it.")
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOLS.names()),
    help="How tools are offered: openai-tools (native function calling, default) or mirothinker "
    "(MiroThinker's in-prompt MCP calls, for a model served without a tool parser).",
)
@click.option("--concurrency", type=int, help="Tasks run at once (default 4).")
@click.option("--max-turns", type=int, help="Model calls per task before the final report is asked for (default 50).")
@click.option("--time-cap", type=float, help="Seconds of research per task (default 1800).")
@click.option("--context-tokens", type=int, help="The agent model's context budget in tokens (default 131072).")
@click.option("--max-tokens", type=int, help="Tokens per turn (default: 8192 openai-tools, 16384 mirothinker).")
@click.option("--temperature", type=float, help="Sampling temperature (default: the protocol's; mirothinker 1.0).")
@click.option("--top-p", type=float, help="Nucleus sampling (default: the protocol's; mirothinker 0.95).")
@click.option("--repetition-penalty", type=float, help="Sent as an extra body field (mirothinker default 1.05).")
@click.option(
    "--keep-tool-results",
    type=int,
    help="Tool results kept verbatim in what is sent, older ones replaced by a placeholder (default 5; -1 keeps all).",
)
@click.option("--page-chars", type=int, help="Characters of a read page shown to the agent (default 20000).")
@click.option(
    "--extract",
    type=click.Choice(["off", "agent", "judge"]),
    help="Summarise read pages with an 'extract what was asked' call to the agent's model or the judge's "
    "(default off: the page cut to --page-chars).",
)
@click.option("--max-failures", type=int, help="Malformed or repeated tool calls in a row that end a task (default 3).")
@click.option(
    "--search",
    type=click.Choice(sorted(BACKENDS)),
    help="Search backend of the agent's web search (default local: the offline store and indexed folders).",
)
@click.option("--search-results", type=int, help="Results per search (default 5).")
@click.option(
    "--allow-private-urls",
    is_flag=True,
    default=None,
    help="Allow reading loopback and private-network addresses (off by default).",
)
@click.option("--no-resume", is_flag=True, help="Run every task again, even those finished in an earlier run.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Run again the tasks that failed on the model's account (endpoint and internal errors are always run again).",
)
@shard_option
@config_option
def run_agent_command(
    tasks_file: Path,
    out: Path,
    task_ids: tuple[str, ...],
    limit: int | None,
    no_resume: bool,
    retry_failed: bool,
    shard: Shard | None,
    config_file: Path | None,
    **options: Any,
) -> None:
    """Run an agent model over TASKS as a research agent and write one report per task into OUT, ready for
    dreval score: the same tools (web search, guarded page reading), limits and report contract for every model."""
    settings = build_settings(config_file, **{_SETTINGS[name]: value for name, value in options.items()})
    tasks = pick_shard(_pick_tasks(tasks_file, task_ids, limit), shard, lambda task: task.id, "tasks")
    check_reports_folder(out)
    store = open_store(settings)
    outcomes: list[TaskOutcome] = []
    try:
        with progress_bar("agent") as progress:
            bar = progress.add_task("", total=len(tasks))

            def done(outcome: TaskOutcome) -> None:
                outcomes.append(outcome)
                progress.update(bar, advance=1, description=plain(f"{outcome.task_id}: {outcome.termination}"))

            summary = run_loop(
                arun_agent(
                    settings,
                    tasks,
                    out,
                    store=store,
                    resume=not no_resume,
                    retry_failed=retry_failed,
                    on_done=done,
                    shard=shard,
                )
            )
    except KeyboardInterrupt:
        fail(
            f"interrupted: {_written(outcomes, out, 'finished in this run and are kept in')}; run the same command "
            "again to continue",
            EXIT_INTERRUPTED,
        )
    except (AgentRunError, SearchError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except LLMUnavailable as exc:
        fail(f"{exc} ({_written(outcomes, out, 'finished in this run are kept in')})", EXIT_JUDGE)
    finally:
        store.close()
    _print_summary(summary, out, tasks_file, shard)
    sys.exit(EXIT_INCOMPLETE if summary.failed else EXIT_OK)


def _written(outcomes: list[TaskOutcome], out: Path, kept: str) -> str:
    """What a stopped run leaves behind, without naming a folder that may never have been created."""
    written = sum(o.status != "skipped" for o in outcomes)
    return f"{written} tasks {kept} {out}" if written else "no reports were written"


def _pick_tasks(tasks_file: Path, task_ids: tuple[str, ...], limit: int | None) -> list[Task]:
    try:
        tasks = load_tasks(tasks_file)
    except TaskError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if task_ids:
        known = {task.id for task in tasks}
        missing = [task_id for task_id in task_ids if task_id not in known]
        if missing:
            fail(f"no task with id {', '.join(map(repr, missing))} in {tasks_file}", EXIT_BAD_INPUT)
        tasks = [task for task in tasks if task.id in set(task_ids)]
    if limit is not None:
        if limit < 1:
            fail("--limit must be at least 1", EXIT_BAD_INPUT)
        tasks = tasks[:limit]
    if not tasks:
        fail(f"no tasks in {tasks_file}", EXIT_BAD_INPUT)
    return tasks


_STYLE = {"report": "green", "failed": "red", "skipped": "dim"}


def _print_summary(summary: RunSummary, out: Path, tasks_file: Path, shard: Shard | None) -> None:
    ran = summary.ran
    if ran:
        table = Table(title="dreval run-agent")
        for column in ("task", "status", "ended", "turns", "tool calls", "tokens in/out", "s", "unread cites"):
            table.add_column(
                column, justify="left" if column in ("task", "status", "ended") else "right", overflow="fold"
            )
        for outcome in ran[:50]:
            status = f"[{_STYLE[outcome.status]}]{outcome.status}[/]"
            ended = safe(outcome.termination) + (" (cut short)" if outcome.cut_short else "")
            table.add_row(
                safe(outcome.task_id),
                status,
                ended,
                str(outcome.turns),
                str(outcome.tool_calls),
                f"{outcome.prompt_tokens}/{outcome.completion_tokens}",
                f"{outcome.seconds:.1f}",
                str(outcome.unread_citations),
            )
        stdout.print(table)
        if len(ran) > 50:
            stdout.print(f"... and {len(ran) - 50} more tasks (see the sidecars)")
    for outcome in summary.failed:
        stderr.print(
            f"[red]failed:[/] {safe(outcome.task_id)}: {safe(outcome.failure or 'no report')}",
            highlight=False,
            soft_wrap=True,
        )
    reports = [o for o in ran if o.status == "report"]
    line = f"{len(reports)} reports" + (
        f" ({sum(o.cut_short for o in reports)} cut short)" if any(o.cut_short for o in reports) else ""
    )
    line += f", {sum(o.status == 'failed' for o in ran)} failed"
    if summary.skipped:
        line += f", {len(summary.skipped)} already done in an earlier run (skipped)"
    line += (
        f"; {sum(o.turns for o in ran)} turns, {sum(o.tool_calls for o in ran)} tool calls, "
        f"{sum(o.prompt_tokens for o in ran)} prompt / {sum(o.completion_tokens for o in ran)} completion tokens; "
        f"{summary.seconds:.1f} s"
    )
    stdout.print(plain(line), highlight=False, markup=False, soft_wrap=True)
    written = sum(o.text_tool_calls for o in ran)
    if written:
        stderr.print(
            plain(
                f"note: {written} tool calls were written in the message text and run as if native (the server "
                f"parses none for this model); {NATIVE_CALLS_HINT}"
            ),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    stdout.print(
        plain(
            f"reports: {out}  next: dreval score {out} --tasks {tasks_file}"
            + (f" --shard {shard.label}" if shard else "")
        ),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
