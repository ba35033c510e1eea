"""The ``dreval`` command group, its exit codes and how errors reach the terminal.

Exit codes: 0 every result complete; 1 finished but some results partial or failed (reasons printed and recorded);
2 bad invocation or input; 3 the judge endpoint cannot be used (unreachable, key rejected, unknown model);
130 interrupted (finished results are kept).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from .. import __version__
from .render import stderr, safe

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_JUDGE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def fail(message: str, code: int) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="dreval")
def main() -> None:
    """dreval: evaluate deep-research agents with adaptive rubrics and fact-checking."""
