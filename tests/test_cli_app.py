"""The ``dreval`` group: an error meant for the user that no command handled ends the command with that error's exit
code and one line on stderr, never a traceback; every user-facing error derives from ``DrevalError``."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.config import ConfigError
from drevalkit.errors import EXIT_BAD_INPUT, EXIT_JUDGE, DrevalError
from drevalkit.factcheck.search import SearchError
from drevalkit.ingest.formats.base import ReportError
from drevalkit.ingest.task_files import TaskError
from drevalkit.llm import LLMError, LLMUnavailable
from drevalkit.llm.local_model import LocalModelError
from drevalkit.quality.rubric import RubricError
from drevalkit.registry import RegistryError
from drevalkit.store import StoreError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TaskError("tasks.jsonl:3: not a JSON object"), EXIT_BAD_INPUT),
        (LLMUnavailable("the judge is down"), EXIT_JUDGE),
    ],
)
def test_an_unhandled_dreval_error_ends_the_command_with_its_code_and_one_line(error: DrevalError, code: int):
    @click.command("explode")
    def explode() -> None:
        raise error

    main.add_command(explode)
    try:
        result = CliRunner().invoke(main, ["explode"])
    finally:
        main.commands.pop("explode")
    assert result.exit_code == code
    assert result.output.strip() == f"error: {error}"  # one line, no traceback
    assert "Traceback" not in result.output


def test_every_user_facing_error_is_a_dreval_error_and_keeps_its_builtin_base():
    for cls, builtin in [
        (TaskError, ValueError), (ReportError, ValueError), (ConfigError, ValueError), (RubricError, RuntimeError),
        (SearchError, RuntimeError), (StoreError, RuntimeError), (RegistryError, LookupError),
        (LLMError, RuntimeError), (LocalModelError, RuntimeError),
    ]:  # fmt: skip
        assert issubclass(cls, DrevalError) and issubclass(cls, builtin), cls
    assert LLMError.exit_code == LocalModelError.exit_code == EXIT_JUDGE
    assert TaskError.exit_code == ReportError.exit_code == EXIT_BAD_INPUT
