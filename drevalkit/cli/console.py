"""Terminal rendering: consoles, progress bars, tables and summaries. Text from reports, pages and judges is
hostile: it is stripped of control characters and escape sequences and has its rich markup escaped before it is
printed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..layout import OutputLayout
from ..schemas import Scorecard, Usage
from ..text import environment_secrets, redact_secrets, terminal_safe


def _width(stream: object) -> int | None:
    """Piped to a file, tables keep one row per line instead of wrapping into unreadable narrow columns."""
    return None if getattr(stream, "isatty", lambda: False)() else 200


stderr = Console(stderr=True, width=_width(sys.stderr))
stdout = Console(width=_width(sys.stdout))


_secrets: set[str] = set()


def remember_secrets(values: Iterable[str]) -> None:
    """Keys of this run's settings (judge, agent, search), redacted from all text ``safe`` and ``plain`` return."""
    _secrets.update(values)


def _redacted(text: str) -> str:
    """The last guard before the terminal: no configured key, nor one in a ``*_KEY``/``*_TOKEN`` variable."""
    return redact_secrets(text, [*_secrets, *environment_secrets(os.environ)])


def safe(text: object) -> str:
    """Untrusted text ready for a rich markup string: controls stripped, secrets redacted, markup escaped."""
    return escape(_redacted(terminal_safe(str(text))))


def plain(text: object) -> str:
    """Untrusted text for ``markup=False`` printing: controls stripped, secrets redacted."""
    return _redacted(terminal_safe(str(text)))


def progress_bar(label: str, *, disable: bool = False) -> Progress:
    """The bar of a run over many items on stderr (stdout stays for results), gone when the run ends; the
    description of its one task names the item last done."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr,
        transient=True,
        disable=disable,
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


_STATUS_STYLE = {"complete": "green", "partial": "yellow", "failed": "red"}


def status(value: str) -> str:
    return f"[{_STATUS_STYLE[value]}]{value}[/]"


def dimension_table(card: Scorecard) -> Table:
    table = Table(title=f"{safe(card.system)} / {safe(card.task_id)}: {status(card.status)}")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("dimension", "left"),
        ("weight", "right"),
        ("score", "right"),
        ("status", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    assert card.quality is not None
    for dim_id, dim in card.quality.dimension_scores.items():
        spread = f" ± {dim.spread.std:.2f}" if dim.spread else ""
        table.add_row(safe(dim_id), f"{dim.weight:.2f}", _fmt(dim.score) + spread, status(dim.status))
    spread = f" ± {card.quality.spread.std:.2f}" if card.quality.spread else ""
    table.add_row(
        "[bold]total[/]",
        f"{card.quality.weight_judged:.2f}",
        f"[bold]{_fmt(card.quality.total)}[/]" + spread,
        status(card.quality.status),
    )
    return table


def _judge_name(judge: object) -> str:
    model, endpoint = getattr(judge, "model", ""), getattr(judge, "endpoint", "")
    return safe(f"{model}@{endpoint}" if endpoint else model)


def _agreement(agreement: object) -> str:
    value = getattr(agreement, "value", None)
    return "undefined" if value is None else f"{value:.2f}"


def jury_table(card: Scorecard) -> Table:
    """Each judge's total and dimension scores beside the jury's mean, and how far they agree."""
    q = card.quality
    assert q is not None and q.jury
    agreement = q.agreement
    title = f"jury of {len(q.jury)} judges: Krippendorff's alpha {_agreement(agreement)}"
    if agreement is not None and agreement.items:
        title += f" over {agreement.items} criteria"
        if agreement.spread is not None:
            title += f", totals {agreement.spread:.2f} apart"
    table = Table(title=title)
    table.add_column("judge")
    dimensions = list(q.dimension_scores)
    for dim_id in dimensions:
        table.add_column(safe(dim_id), justify="right")
    table.add_column("total", justify="right")
    for juror in q.jury:
        table.add_row(
            _judge_name(juror.judge), *(_fmt(juror.dimension_scores.get(d)) for d in dimensions), _fmt(juror.total)
        )
    table.add_row(
        "[bold]mean[/]", *(_fmt(q.dimension_scores[d].score) for d in dimensions), f"[bold]{_fmt(q.total)}[/]"
    )
    if agreement is not None and agreement.disputed:
        table.caption = "most disputed criteria: " + ", ".join(safe(c) for c in agreement.disputed)
    return table


def factcheck_table(card: Scorecard) -> Table:
    fc = card.factcheck
    assert fc is not None
    table = Table(
        title=f"fact-check: {status(fc.status)} ({len(fc.claims)} claims checked"
        + (f", {fc.claims_skipped} over budget" if fc.claims_skipped else "")
        + ")"
    )
    for column in (
        "right",
        "wrong",
        "unknown",
        "failed",
        "flagged",
        "evidence coverage",
        "citations readable",
        "citation accuracy",
        "searches",
        "fetches",
    ):
        table.add_column(column, justify="right")
    c = fc.counts
    flagged = sum(bool(v.flags) for v in fc.verdicts)
    table.add_row(
        f"{c.right} ({_pct(fc.ratios.get('right'))})",
        f"{c.wrong} ({_pct(fc.ratios.get('wrong'))})",
        f"{c.unknown} ({_pct(fc.ratios.get('unknown'))})",
        str(c.failed),
        str(flagged),
        _pct(fc.evidence_coverage),
        _pct(fc.citation_reachability),
        _pct(fc.citation_accuracy),
        str(card.usage.searches),
        str(card.usage.fetches),
    )
    if fc.fetch_failures:
        table.caption = "fetch failures: " + ", ".join(f"{safe(cause)} {n}" for cause, n in fc.fetch_failures.items())
    return table


def print_wrong_claims(card: Scorecard, limit: int = 5) -> None:
    fc = card.factcheck
    assert fc is not None
    claims = {c.id: c for c in fc.claims}
    wrong = [v for v in fc.verdicts if v.label == "wrong"]
    for verdict in wrong[:limit]:
        stdout.print(f"[red]wrong[/] {safe(claims[verdict.claim_id].text)}", highlight=False, soft_wrap=True)
        stdout.print(f"      {plain(verdict.rationale)}", highlight=False, soft_wrap=True, style="dim", markup=False)
    if len(wrong) > limit:
        stdout.print(f"... and {len(wrong) - limit} more wrong claims (see the result file)")


def results_table(cards: list[Scorecard], limit: int = 50) -> Table:
    table = Table(title="dreval score")
    for column in ("system", "task", "status", "quality", "right", "wrong", "claims", "calls", "tokens in/out", "s"):
        table.add_column(column, justify="left" if column in ("system", "task", "status") else "right", overflow="fold")
    for card in cards[:limit]:
        total = card.quality.total if card.quality else None
        fc = card.factcheck
        table.add_row(
            safe(card.system),
            safe(card.task_id),
            status(card.status),
            _fmt(total),
            _pct(fc.ratios.get("right")) if fc else "—",
            _pct(fc.ratios.get("wrong")) if fc else "—",
            str(len(fc.claims)) if fc else "—",
            str(card.usage.calls),
            f"{card.usage.prompt_tokens}/{card.usage.completion_tokens}",
            f"{card.seconds:.1f}",
        )
    return table


def print_summary(scored: list[Scorecard], skipped: list[Scorecard], layout: OutputLayout, html: bool = True) -> None:
    """What this run did (results reused from an earlier run are counted apart, not re-summarised); ``html``:
    whether scorecard pages were written."""
    if len(scored) == 1 and not skipped and (scored[0].quality is not None or scored[0].factcheck is not None):
        card = scored[0]
        if card.quality is not None and card.quality.dimension_scores:
            stdout.print(dimension_table(card))
            if card.quality.jury:
                stdout.print(jury_table(card))
        if card.factcheck is not None:
            stdout.print(factcheck_table(card))
            agreement = card.factcheck.agreement
            if agreement is not None:
                unanimous = "" if agreement.unanimous is None else f", unanimous on {_pct(agreement.unanimous)}"
                stdout.print(
                    f"jury of {agreement.judges} judges on the claims: Fleiss' kappa "
                    f"{_agreement(agreement)} over {agreement.items} claims{unanimous} (verdicts are the "
                    "majority; a tie is unknown)",
                    highlight=False,
                    markup=False,
                )
            print_wrong_claims(card)
    elif scored:
        stdout.print(results_table(scored))
        if len(scored) > 50:
            stdout.print(f"... and {len(scored) - 50} more results")
    for card in scored:
        for reason in card.reasons[:3]:
            stderr.print(
                f"[yellow]{safe(card.system)}/{safe(card.task_id)}:[/] {safe(reason)}", highlight=False, soft_wrap=True
            )
    counts = {s: sum(c.status == s for c in scored) for s in ("complete", "partial", "failed")}
    line = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing scored"
    if skipped:
        line += f" ({len(skipped)} already done in an earlier run, skipped)"
    totals = [c.quality.total for c in scored if c.quality and c.quality.total is not None]
    if totals:
        line += f"; mean total {sum(totals) / len(totals):.2f}/10"
    usage = Usage()
    for card in scored:
        usage.add(card.usage)
    line += f"; {usage.calls} LLM calls, {usage.cache_hits} cache hits, {usage.prompt_tokens} prompt tokens"
    if usage.searches or usage.fetches:
        line += f", {usage.searches} searches, {usage.fetches} pages"
    stdout.print(line, highlight=False)
    cards = scored + skipped
    if len(cards) == 1:
        print_path("result", layout.result(cards[0].system, cards[0].task_id))
        page = layout.scorecard(cards[0].system, cards[0].task_id)
        if html and page.is_file():
            print_path("scorecard", page)
        elif html:  # it failed to render: the reason is among those printed above
            stdout.print("scorecard: not written (see the reason above)", highlight=False, markup=False)
    else:
        pages = f"  scorecards: {plain(layout.html_dir)}" if html else ""
        stdout.print(f"results: {plain(layout.results_dir)}{pages}", highlight=False, markup=False)


def print_path(label: str, path: Path) -> None:
    stdout.print(f"{label}: {plain(path)}", highlight=False, markup=False)
