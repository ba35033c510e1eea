"""The ``dreval`` command: the group (``app``, where the exit codes are) and one module per command over the
stages, each command added here."""

from .agree import agree_command
from .app import main
from .config import config_command
from .corpus import corpus
from .factcheck import factcheck_command
from .generate_tasks import generate_tasks_command
from .html import html_command
from .import_ import import_command
from .leaderboard import leaderboard_command
from .rubric import rubric_command
from .run_agent import run_agent_command
from .score import score_command
from .stress import stress_command

for command in (
    agree_command,
    config_command,
    corpus,
    factcheck_command,
    generate_tasks_command,
    html_command,
    import_command,
    leaderboard_command,
    rubric_command,
    run_agent_command,
    score_command,
    stress_command,
):
    main.add_command(command)

__all__ = ["main"]
