"""The one base of every error dreval reports to its user, and the exit codes of the ``dreval`` command.

Each stage raises its own subclass (``TaskError``, ``ReportError``, ``LLMUnavailable``, ...), which also derives
from the built-in exception it always was (``ValueError``, ``RuntimeError``), so existing ``except`` clauses keep
working. ``exit_code`` is what the command exits with when such an error ends it; the CLI prints its message as one
line, never a traceback.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0  # every result complete
EXIT_INCOMPLETE = 1  # finished, but some results partial or failed (reasons printed and recorded)
EXIT_BAD_INPUT = 2  # bad invocation or input
EXIT_JUDGE = 3  # the judge endpoint cannot be used (unreachable, key rejected, unknown model)
EXIT_INTERRUPTED = 130  # interrupted (finished results are kept)


class DrevalError(Exception):
    """An error with a message meant for the user (one line, no traceback)."""

    exit_code: ClassVar[int] = EXIT_BAD_INPUT
