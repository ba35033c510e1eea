"""``dreval factcheck``: the scoring run of ``dreval score`` with the fact-check alone, where a task is optional."""

from __future__ import annotations

from typing import Any

import click

from .options import factcheck_options, judge_options, jury_option, report_options
from .score import run_scoring
from .shards import shard_option


@click.command("factcheck")
@report_options()
@shard_option
@factcheck_options
@jury_option
@judge_options
def factcheck_command(**options: Any) -> None:
    """Fact-check REPORTS: extract claims, find evidence (cited sources first, then search), verify each claim.

    A task is optional here; without one, results are named after the report files.
    """
    run_scoring(options, quality=False, factcheck=True)
