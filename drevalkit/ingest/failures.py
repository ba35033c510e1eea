"""Recognising a "report" that is really an agent's error or give-up message, so it is recorded as a failed report
with the reason instead of being scored as if it were a report.

The rules are conservative: a real report that mentions an error somewhere is never caught, because every rule
looks only at short texts, or at how the text begins, or at what most of its lines are.

| rule | a text is a failed report when |
| --- | --- |
| ``empty`` | nothing is left once whitespace (and interface chrome) is removed |
| ``error-message`` | it starts with an error or give-up phrase (``Error generating final report``, ``Error:``, ``Exception:``, ``Traceback (most recent call last)``, ``Failed to generate``, ``Report generation failed``, ``No answer found after``, ``answer not found after``, ``Maximum retries exceeded``, ``Max retries exceeded``, ``Request timed out``, ``Rate limit exceeded``, ``Internal server error``, ``The research could not be completed``, ``Research failed``, ``[ERROR]``, ``HTTP 5xx``) and is shorter than 300 words |
| ``give-up`` | it is shorter than 120 words and says the agent could not do the task (``I was unable to find / complete / generate``, ``I couldn't find enough``, ``Sorry, I could not``, ``I cannot complete this research``, ...) |
| ``error-object`` | the whole text is a JSON object with an ``error`` key (an API error body) |
| ``log-dump`` | it has at least 5 non-empty lines and at least 60% of them are log or traceback lines (timestamps with a level, ``INFO:`` / ``[WARNING]`` prefixes, ``File "...", line N``) |
| ``plan-only`` | a Gemini export whose chrome removal left no report: the research plan was never run |
"""

from __future__ import annotations

import re

from ..files import ParseFailure, load_json
from ..text import word_count

MAX_ERROR_WORDS = 300
MAX_GIVE_UP_WORDS = 120

_ERROR_START = re.compile(
    r"^\W{0,4}(?:"
    r"error generating (?:the )?(?:final )?report|error(?: code \w+)?\s*:|exception\s*:|"
    r"traceback \(most recent call last\)|failed to (?:generate|produce|complete|create)\b|"
    r"report generation failed|research failed|the research could not be completed|"
    r"no answer found after|answer not found after|no final (?:answer|report)\b|"
    r"maximum retries exceeded|max(?:imum)? retries (?:exceeded|reached)|request timed out|timed out after|"
    r"rate limit (?:exceeded|reached)|internal server error|service unavailable|\[error\]|http (?:error )?5\d\d\b"
    r")",
    re.IGNORECASE,
)
_GIVE_UP = re.compile(
    r"\b(?:i (?:was|am|'m) (?:unable|not able) to (?:find|complete|generate|produce|finish|locate|access)|"
    r"i (?:could not|couldn't|cannot|can't) (?:find|complete|generate|produce|finish|locate) (?:any|enough|the|this|a)\b|"
    r"sorry, (?:but )?(?:i|we) (?:could not|couldn't|cannot|can't|was unable|were unable)|"
    r"(?:unable|failed) to (?:complete|finish) (?:the|this) (?:research|task|report))",
    re.IGNORECASE,
)
_LOG_LINE = re.compile(
    r"^\s*(?:"
    r"\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\]?.{0,40}?\b(?:DEBUG|INFO|WARN(?:ING)?|ERROR|CRITICAL|TRACE)\b|"
    r"\[?(?:DEBUG|INFO|WARN(?:ING)?|ERROR|CRITICAL|TRACE)\]?\s*[:\]\-|]|"
    r"File \"[^\"]+\", line \d+|Traceback \(most recent call last\)|\w+(?:Error|Exception): |"
    r"\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s+(?:DEBUG|INFO|WARN(?:ING)?|ERROR)\b"
    r")"
)


def detect_failure(text: str) -> str | None:
    """Why ``text`` is an error or give-up message rather than a report (the rule and a quote), or None."""
    stripped = text.strip()
    if not stripped:
        return "empty: the report text is empty"
    words = word_count(stripped)
    first_line = stripped.split("\n", 1)[0].strip()
    quote = first_line[:160] + ("..." if len(first_line) > 160 else "")
    if words < MAX_ERROR_WORDS and _ERROR_START.match(stripped):
        return f"error-message: the agent returned an error instead of a report ({quote!r})"
    if stripped.startswith("{") and words < MAX_ERROR_WORDS * 3:
        try:
            data = load_json(stripped)
        except ParseFailure:
            data = None
        if isinstance(data, dict) and "error" in data:
            return f"error-object: the agent returned an API error object ({quote!r})"
    if words < MAX_GIVE_UP_WORDS and _GIVE_UP.search(stripped):
        return f"give-up: the agent gave up instead of writing a report ({quote!r})"
    lines = [line for line in stripped.split("\n") if line.strip()]
    if len(lines) >= 5:
        log_lines = sum(1 for line in lines if _LOG_LINE.match(line))
        if log_lines >= 0.6 * len(lines):
            return f"log-dump: {log_lines} of {len(lines)} lines are log or traceback lines, not a report ({quote!r})"
    return None
