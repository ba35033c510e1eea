"""What ``dreval generate-tasks`` prints: the stage and domain tables with score histograms of a run, the
``--dry-run`` plan and the ``--revalidate`` table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from ..config import Settings
from ..tasks.generate import GenerateOptions
from ..tasks.outputs import TaskOutputs
from ..tasks.personas import PersonaLibrary
from ..tasks.plan import plan
from .console import plain, safe, stderr, stdout


def print_generation(summary: dict[str, Any], outputs: TaskOutputs) -> None:
    """The stages and domains of a generation run, its score histograms, warnings, failures and totals."""
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


def print_plan(settings: Settings, library: PersonaLibrary, options: GenerateOptions, done: int) -> None:
    """The calls and tokens a run would spend, without spending them; ``done``: steps a run would reuse."""
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
    if done and options.resume:
        stdout.print(
            f"{done} finished steps are recorded for {plain(options.out)}: a run would reuse them",
            highlight=False,
            markup=False,
        )


def print_revalidation(report: dict[str, Any], tasks_file: Path) -> None:
    """Each task fresh, stale or failed, with its scores now and before, and the counts."""
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
