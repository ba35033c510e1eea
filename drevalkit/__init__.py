"""drevalkit: evaluate deep-research agents (adaptive rubric judging and active fact-checking)."""

__version__ = "0.1.0"
