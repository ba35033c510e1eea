"""The trace of one task's run: ``<task id>.trace.jsonl``, one JSON object per line, written as the run goes.

While the task runs, lines go to a hidden ``.<task id>.trace.jsonl.partial`` beside it (flushed after each line, so
a crash or a kill leaves the record of what happened); when the task ends the file is renamed into place, so a
``<task id>.trace.jsonl`` is always the complete record of a finished run. A restarted task starts a new trace.

Events (every line has ``event`` and ``t``, seconds since the task started):

- ``start``: task id and prompt, protocol, model, endpoint, limits and sampling, prompt version, dreval version.
- ``request``: ``turn``; ``messages``: the messages added to the conversation since the previous request, in full
  (with the first request, the system prompt and the task), ``message_count`` and ``pruned`` (how many tool results
  were sent as the placeholder), so the exact request can be rebuilt; ``estimated_tokens``; ``final``.
- ``reply``: ``turn``, ``content``, ``reasoning``, ``tool_calls`` (id, name, raw arguments), ``finish_reason``,
  ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``, ``latency_s``, ``retries`` and what they were for.
- ``tool``: ``turn``, ``name``, ``server``, ``arguments``, ``ok``, ``error``, ``result_chars`` (what the tool
  returned), ``sent_chars`` (what the model was shown, after the cut), ``cut``, ``urls``, ``seconds``.
- ``text_tool_calls``: a reply that wrote its tool calls in the message text (``openai-tools`` without a tool
  parser): ``turn``, ``forms`` (``<tool_call>``, ``<tools>``, ...), ``calls`` (name and arguments, run as if native),
  ``problem`` (why they cannot run: the task then ends as ``unreadable_tool_call``).
- ``rejected``: a malformed, unknown or repeated call: ``turn``, ``kind``, ``problem``, ``rolled_back``; kind
  ``text_tool_call`` with ``final``: a final reply that was a tool call written as text, not a report.
- ``limit``: ``reason`` (turn_cap, time_cap, context_cap, repeated_failures) and details.
- ``error``: an endpoint or internal error, with ``kind`` and ``message``.
- ``end``: ``termination``, ``status`` (report or failed), ``failure``, and the counts of the sidecar.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any


class Trace:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()
        self._handle: IO[str] | None = self.partial.open("w", encoding="utf-8")
        self.events = 0

    def write(self, event: str, **fields: Any) -> None:
        if self._handle is None:
            return
        line = {"event": event, "t": round(time.monotonic() - self._started, 3), **fields}
        self._handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._handle.flush()
        self.events += 1

    def close(self) -> None:
        """Finish the trace: flushed to disk and renamed into place."""
        if self._handle is None:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        os.replace(self.partial, self.path)

    def abandon(self) -> None:
        """Stop writing but leave the partial trace where it is (the task was interrupted)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The events of a trace file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
