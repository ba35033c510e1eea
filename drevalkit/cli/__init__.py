"""The ``dreval`` command: one module per command group over the stages; see ``app`` for exit codes."""

from . import config, corpus, imports, rubric, score  # noqa: F401 - each module registers its commands
from . import agent  # noqa: F401,E402 - dreval run-agent
from . import report  # noqa: F401,E402 - dreval html, dreval leaderboard
from . import tasks  # noqa: F401,E402 - dreval generate-tasks
from . import validity  # noqa: F401,E402 - dreval stress, dreval agree
from .app import main

__all__ = ["main"]
