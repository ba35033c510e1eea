"""The ``dreval`` command group, its exit codes and how errors reach the terminal.

Exit codes (``drevalkit.errors``): 0 every result complete; 1 finished but some results partial or failed (reasons
printed and recorded); 2 bad invocation or input; 3 the judge endpoint cannot be used (unreachable, key rejected,
unknown model); 130 interrupted (finished results are kept). A ``DrevalError`` that no command handled itself ends
the command with its own exit code and its message on one line.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from ..__version__ import __version__
from ..errors import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_JUDGE, EXIT_OK, DrevalError
from .console import safe, stderr

__all__ = ["EXIT_BAD_INPUT", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_JUDGE", "EXIT_OK", "fail", "main"]


def fail(message: str, code: int) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


class DrevalGroup(click.Group):
    """Ends any command on a ``DrevalError`` it did not handle with the error's exit code and one line."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DrevalError as exc:
            fail(str(exc), exc.exit_code)


@click.group(cls=DrevalGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="dreval")
def main() -> None:
    """dreval: evaluate deep-research agents with adaptive rubrics and fact-checking."""
