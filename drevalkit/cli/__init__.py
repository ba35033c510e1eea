"""The ``dreval`` command: one module per command group over the stages; see ``app`` for exit codes."""

from . import (  # noqa: F401 - each module registers its commands
    agent,  # noqa: F401,E402 - dreval run-agent
    config,
    corpus,
    imports,
    report,  # noqa: F401,E402 - dreval html, dreval leaderboard
    rubric,
    score,
    tasks,  # noqa: F401,E402 - dreval generate-tasks
    validity,  # noqa: F401,E402 - dreval stress, dreval agree
)
from .app import main

__all__ = ["main"]
