"""Text from reports, web pages and judge output made safe to print on a terminal.

Such text may carry escape sequences that recolour or clear the screen, move the cursor to overwrite earlier
output, set the window title, plant hyperlinks whose target differs from their text (OSC 8), or talk to the
terminal itself (DCS, APC); carriage returns and backspaces can overprint a line, and bidirectional overrides can
make text display in a different order than it reads. ``terminal_safe`` removes all of these and keeps the
printable text (any script, emoji included), newlines and tabs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

# ESC-introduced and 8-bit C1 sequences with their parameters and payloads (ECMA-48). Payloads of control strings
# stop at any control character, so a string that is never terminated costs linear time and leaves plain text.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]       # CSI: colours, cursor moves, erase, modes
    | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])                     # OSC (window title, OSC 8 hyperlinks, clipboard),
      [^\x00-\x1f\x7f-\x9f]* (?:\x07|\x1b\\|\x9c)                 # DCS, SOS, PM, APC: payload up to BEL or ST
    | \x1b [\x20-\x2f]+ [\x30-\x7e]                               # nF: character sets, ESC # 8 (fill with E)
    | \x1b [\x30-\x7e]                                            # Fp, Fe, Fs: ESC 7, ESC M, ESC c (reset)
    """,
    re.VERBOSE,
)
# What is left after the sequences: lone ESC and every other C0 control but tab and newline, DEL, C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI), as used in
# "Trojan Source" text; the plain marks (LRM, RLM, ALM) stay, they cannot reorder a line.
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
_LINE_SEPARATOR = re.compile("\r\n|[\r\u2028\u2029\x85]")
_WHITESPACE = re.compile(r"\s+")
# a character each of the patterns above needs: text without one (nearly all text) is returned after one scan
_NEEDS_CLEANING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` without escape sequences, control characters (newline and tab kept) and bidi overrides.

    Line breaks of any kind (CRLF, a lone CR, U+2028, U+2029, NEL) become newlines first, so a carriage return
    cannot overprint the start of a line. Safe to apply twice; printable characters are never changed.
    """
    if not _NEEDS_CLEANING.search(text):
        return text
    text = _LINE_SEPARATOR.sub("\n", text)
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _CONTROL.sub("", text)
    return _BIDI_CONTROL.sub("", text)


def collapse_whitespace(text: str) -> str:
    """``text`` with every run of whitespace (newlines, tabs) made one space and none at either end, for one-line
    messages and snippets."""
    return _WHITESPACE.sub(" ", text).strip()


def one_line(text: str, limit: int | None = None) -> str:
    """``terminal_safe`` text on one line: every run of whitespace (newlines, tabs) becomes one space, and text
    longer than ``limit`` characters is cut at a word boundary where possible and ends with an ellipsis."""
    text = collapse_whitespace(terminal_safe(text))
    if limit is None or len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if text[limit - 1] != " " and space >= (limit - 1) * 2 // 3:  # do not end in the middle of a word
        cut = cut[:space]
    return cut.rstrip() + "…"


# Formulas in TeX delimiters: \(...\), \[...\], $$...$$ and $...$. A "$" opens one only when no letter, digit or
# backslash comes before it and no space after it, and closes one only after a non-space, not followed by a letter
# or digit, on the same line: "US$5 billion to US$8 billion" and "$5 and $10" are money, not formulas.
_MATH_OPEN = re.compile(r"\\[(\[]|\$\$|(?<![\\$\w])\$(?![\s$])")
_MATH_CLOSE = {"\\(": "\\)", "\\[": "\\]", "$$": "$$"}
_DOLLAR_BODY = re.compile(r"[^\n$]{0,299}[^\s\\$]\$(?![\w$])")
_NUMBERS_ONLY = re.compile(r"[\d\s,;\-\u2013]*")  # "\[1\]": an escaped citation marker, not a formula
MATH_MAX_CHARS = 2000


def math_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every formula of ``text``, delimiters included, left to right. Linear in the text: a "$"
    formula ends at the next "$" of its line, and each closing delimiter is looked for once from where the last
    search for it ended (a formula is at most ``MATH_MAX_CHARS`` long)."""
    spans: list[tuple[int, int]] = []
    next_close: dict[str, int] = {}
    position = 0
    while (opening := _MATH_OPEN.search(text, position)) is not None:
        body, end = opening.end(), None
        if opening.group(0) == "$":
            closing = _DOLLAR_BODY.match(text, body)
            end = closing.end() if closing else None
        else:
            close = _MATH_CLOSE[opening.group(0)]
            found = next_close.get(close)
            if found is None or -1 < found < body:
                found = next_close[close] = text.find(close, body)
            if body < found <= body + MATH_MAX_CHARS and not (
                close == "\\]" and _NUMBERS_ONLY.fullmatch(text, body, found)
            ):
                end = found + len(close)
        if end is not None:
            spans.append((opening.start(), end))
        position = body if end is None else end  # (no formula opens inside a failed opening)
    return spans


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def word_count(text: str) -> int:
    """Words in ``text``; CJK text has no spaces, so its characters count as words in pairs."""
    return len(text.split()) + len(_CJK.findall(text)) // 2


def interval_text(
    value: float,
    low: float | None,
    high: float | None,
    *,
    digits: int = 2,
    signed: bool = False,
    percent: bool = False,
    thousands: bool = False,
    unit: str = "",
    no_interval: str = "",
) -> str:
    """An estimate with its interval, the one way dreval writes it: ``6.61 [6.20, 7.01]``, ``84% [72, 100]``,
    ``+12 pts [+3, +20]``. ``percent`` writes shares as percentages; ``unit`` follows the value; without an interval
    the value is followed by ``no_interval`` (e.g. ``"(no interval: 1 task)"``)."""
    scale = 100.0 if percent else 1.0
    spec = ("+" if signed else "") + ("," if thousands else "") + f".{digits}f"
    head = format(scale * value, spec) + ("%" if percent and not unit else "") + (f" {unit}" if unit else "")
    if low is None or high is None:
        return f"{head} {no_interval}".rstrip()
    return f"{head} [{format(scale * low, spec)}, {format(scale * high, spec)}]"


REDACTED = "***"
# Shorter strings are not treated as secrets, and a prefix is only redacted from this many characters on: replacing
# "EMPTY" or "sk-" wherever it occurs would mangle ordinary text without protecting anything.
SECRET_MIN_CHARS = 8
# Environment variables whose values are credentials whatever reads them (OPENAI_API_KEY, SERPER_API_KEY, HF_TOKEN).
_SECRET_VARIABLE = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD)$")


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of the environment variables that name credentials (``*_KEY``, ``*_TOKEN``, ``*_SECRET``,
    ``*_PASSWORD``), for ``redact_secrets``."""
    return [value for name, value in environ.items() if _SECRET_VARIABLE.search(name.upper()) and value]


def redact_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret in ``secrets`` replaced by ``***``, and every piece of text that is a prefix of
    one of them at least ``SECRET_MIN_CHARS`` long (endpoints echo keys cut short: ``sk-abc123…wxyz``).

    Secrets shorter than ``SECRET_MIN_CHARS`` are left alone. Safe to apply twice.
    """
    for secret in sorted({s.strip() for s in secrets if s and len(s.strip()) >= SECRET_MIN_CHARS}, key=len)[::-1]:
        head = secret[:SECRET_MIN_CHARS]
        if head not in text:
            continue
        parts: list[str] = []
        start = 0
        while (found := text.find(head, start)) != -1:
            end = found + SECRET_MIN_CHARS
            while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
                end += 1
            parts += [text[start:found], REDACTED]
            start = end
        text = "".join(parts) + text[start:]
    return text


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'max_tokens'?)`` for the candidate closest to a misspelt ``name``, or nothing when none is
    close: the tail of a message that refuses an unknown name."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""
