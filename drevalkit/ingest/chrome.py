"""Interface chrome of deep-research products, removed from exported reports by a fixed, documented rule set.

A report copied or exported from a product's web page carries text that is not part of the report: the
conversation header, the user's question echoed back, the research plan, buttons, status lines and disclaimers.
Each rule below matches only such fixed phrases or blocks in fixed places (the start or end of the text, or a
button phrase on its own); everything else, the report proper, is left exactly as it was. Every removal is
returned with the rule that made it, for the import sidecar.

| rule | product | what is removed |
| --- | --- | --- |
| ``gemini-conversation`` | Gemini | a leading ``Conversation with Gemini`` block through the end of the Deep Research chrome: the echoed question, the research plan (``Here's a research plan ...``, ``Research Websites``, the numbered steps, ``More``, ``Analyze Results``, ``Create Report``, ``Ready in a few mins``), the ``Edit plan`` / ``Start research`` buttons, ``I've completed your research ...``, the ``<title> Completed <date> Deep Research`` status, the disclaimer and the canvas toolbar ``<title> Contents Export Create`` |
| ``gemini-export-to-sheets`` | Gemini | ``Export to Sheets`` (the button under every table) on a line of its own; in a Gemini export (one that starts with the conversation block, or whose file says it comes from gemini.google.com; its text is flattened) also between words |
| ``gemini-disclaimer`` | Gemini | ``Gemini can make mistakes, so double-check it`` on a line of its own; in a Gemini export also between words |
| ``gemini-link-suffix`` | Gemini | ``Opens in a new window`` at the end of a link text |
| ``chatgpt-conversation`` | ChatGPT | a leading ``You said:`` ... ``ChatGPT said:`` block (the echoed question) |
| ``chatgpt-status`` | ChatGPT | a ``Research completed in 8m · 17 sources`` line among the first ten lines |
| ``chatgpt-disclaimer`` | ChatGPT | a ``ChatGPT can make mistakes. ...`` line |
| ``perplexity-header`` | Perplexity | the leading Perplexity logo ``<img src="https://r2cdn.perplexity.ai/...">`` and the ``# <question>`` heading right after it |
| ``perplexity-markup`` | Perplexity | ``<span style="display:none">[^...]</span>`` lines and the ``<div ...>⁂</div>`` separator |
| ``claude-footer`` | Claude | a trailing ``Retry`` / ``Claude can make mistakes. Please double-check responses.`` block and up to three short lines after it (project and model names) |
| ``ui-buttons`` | any | lines that are only a button label (``Copy``, ``Share``, ``Export``, ``Edit``, ``Retry``, ``Regenerate``, ``Copy table``, ``Edit plan``, ``Start research``, ``Export to Docs``, ...) in the leading or trailing run of lines |

The question echoed by a conversation header is returned too: a file without a task can use it as its prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RULES: dict[str, str] = {
    "gemini-conversation": "leading Gemini conversation header, echoed question, research plan, buttons, status, "
    "disclaimer and canvas toolbar",
    "gemini-export-to-sheets": "the 'Export to Sheets' table button",
    "gemini-disclaimer": "'Gemini can make mistakes, so double-check it'",
    "gemini-link-suffix": "'Opens in a new window' at the end of link texts",
    "chatgpt-conversation": "leading 'You said:' ... 'ChatGPT said:' block",
    "chatgpt-status": "'Research completed in ...' status line",
    "chatgpt-disclaimer": "'ChatGPT can make mistakes' line",
    "perplexity-header": "leading Perplexity logo and the echoed question heading",
    "perplexity-markup": "hidden citation spans and the ⁂ separator",
    "claude-footer": "trailing 'Retry' / 'Claude can make mistakes' block",
    "ui-buttons": "button-label lines at the start or end",
}

_HEAD_LIMIT = 40_000  # the chrome before a report is short; nothing past this is ever taken for it

_GEMINI_HEAD = re.compile(r"^\s*Conversation with Gemini\b[ \t]*\n?[ \t]*")
_GEMINI_DISCLAIMER = "Gemini can make mistakes, so double-check it"
_GEMINI_PLAN = re.compile(
    r"(?:Here's|Here is|I've put together)\s+(?:a|the|my)\s+(?:research\s+)?plan\b[^\n]{0,160}?"
    r"(?:let me know[!.]?|before I start researching\.|changes\.)",
    re.IGNORECASE,
)
# No leading \s* on patterns that are searched for: on a long run of blanks that costs quadratic time.
_GEMINI_BUTTONS = re.compile(r"Edit plan\s+(?:Start research\s*)+")
_GEMINI_DONE = re.compile(r"I've completed your research\.[^\n]{0,120}?request changes\.\s*", re.IGNORECASE)
# Matched where the blanks after the previous part end (see _after_blanks): a leading \s* or a \s+ after the lazy
# title would retry the whole run of blanks for every split of it (quadratic on a page of blank lines).
_BLANKS = re.compile(r"\s*")
_TITLE_GAP = r"\S[^\n]{0,199}?[ \t]*\n?[ \t]*"  # a title of one line, then a space or one line break
_GEMINI_STATUS = re.compile(
    _TITLE_GAP + r"Completed\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2},?\s+(?:\d{4},?\s+)?\d{1,2}:\d{2}\s*(?:[AP]M)?\s+"
    r"Deep Research\s*"
)
_GEMINI_TOOLBAR = re.compile(rf"(?:{_TITLE_GAP})?Contents\s+Export\s+Create\s+")
# '[' is excluded from the link text so each '[' of a run of them fails at once (300 steps each before).
_GEMINI_LINK_SUFFIX = re.compile(r"\[([^\[\]\n]{0,300}?)[ \t]*Opens in a new window\]\(")

# Line-based and bounded (at most 200 lines of question): overlapping \s* runs made the first form cubic.
_CHATGPT_HEAD = re.compile(
    r"^[ \t\n]*(?:ChatGPT[ \t]*\n[ \t\n]*)?You said:[ \t]*\n(?P<question>(?:[^\n]*\n){1,200}?)"
    r"[ \t]*ChatGPT said:[ \t]*\n"
)
_CHATGPT_SAID = re.compile(r"^\s*ChatGPT said:\s*\n")
_CHATGPT_STATUS = re.compile(r"^[ \t]*(?:Deep )?[Rr]esearch completed in \d+\s*m(?:in(?:utes?)?)?\b[^\n]{0,120}$")
_CHATGPT_DISCLAIMER = re.compile(r"^[ \t]*ChatGPT can make mistakes\.[^\n]{0,120}$", re.MULTILINE)

_PERPLEXITY_LOGO = re.compile(r"^\s*<img\s+src=\"https://r2cdn\.perplexity\.ai/[^\"]*\"[^>\n]*>[ \t]*\n?")
_PERPLEXITY_QUESTION = re.compile(r"^\s*#[ \t]+(?P<question>[^\n]*)\n(?:\s*(?:---|\*\*\*)[ \t]*\n)?")
_PERPLEXITY_MARKUP = re.compile(
    r"^[ \t]*(?:<span style=\"display:none\">[^\n]*</span>|<div[^>\n]*>\s*⁂\s*</div>)[ \t]*\n?", re.MULTILINE
)

_CLAUDE_FOOTER = re.compile(
    r"(?:Retry\s*)?\[?Claude can make mistakes\.?\]?(?:\([^)\s]*\))?\s*\[?Please double-check responses\.?\]?"
    r"(?:\([^)\s]*\))?"
)

BUTTONS = {
    "copy",
    "share",
    "export",
    "edit",
    "retry",
    "regenerate",
    "copy table",
    "edit plan",
    "start research",
    "export to docs",
    "export to sheets",
    "create",
    "listen",
    "copy link",
    "good response",
    "bad response",
    "more actions",
    "read aloud",
    "show thinking",
    "hide thinking",
}


@dataclass
class Stripped:
    text: str
    removed: list[dict[str, str]] = field(default_factory=list)
    question: str | None = None  # the user's question echoed by a conversation header


def _record(removed: list[dict[str, str]], rule: str, text: str, part: str = "") -> None:
    text = text.strip()
    if text:
        removed.append({"rule": rule, "text": text, **({"part": part} if part else {})})


def _remove_all(pattern: re.Pattern[str], text: str, out: Stripped, rule: str) -> str:
    """``text`` without any match of ``pattern``, each one recorded as removed by ``rule``."""
    for match in pattern.finditer(text):
        _record(out.removed, rule, match.group(0))
    return pattern.sub("", text)


def _after_blanks(text: str, pos: int) -> int:
    blanks = _BLANKS.match(text, pos)
    assert blanks is not None  # \s* always matches
    return blanks.end()


def _gemini_head(text: str, out: Stripped) -> str:
    head = _GEMINI_HEAD.match(text)
    if not head:
        return text
    region = text[:_HEAD_LIMIT]
    end = head.end()
    disclaimer = region.find(_GEMINI_DISCLAIMER, end)
    if disclaimer >= 0:
        end = disclaimer + len(_GEMINI_DISCLAIMER)
        toolbar = _GEMINI_TOOLBAR.match(text, _after_blanks(text, end))
        if toolbar:
            end = toolbar.end()
    else:
        for pattern in (_GEMINI_BUTTONS, _GEMINI_DONE):
            for match in pattern.finditer(region, end):
                end = max(end, match.end())
        status = _GEMINI_STATUS.match(text, _after_blanks(text, end))
        if status:
            end = status.end()
    block = text[head.start() : end]
    # the parts of the block, for the sidecar: header, echoed question, plan, buttons, status, disclaimer + toolbar
    plan = _GEMINI_PLAN.search(block)
    buttons = _GEMINI_BUTTONS.search(block)
    done = _GEMINI_DONE.search(block)
    disclaimer_at = block.find(_GEMINI_DISCLAIMER)
    starts = {0: "header", head.end() - head.start(): "question"}
    for found, part in ((plan, "research plan"), (buttons, "buttons"), (done, "status")):
        if found:
            starts[found.start()] = part
    if disclaimer_at >= 0:
        starts[disclaimer_at] = "disclaimer and toolbar"
    cuts = sorted(starts) + [len(block)]
    for start, stop in zip(cuts, cuts[1:]):
        _record(out.removed, "gemini-conversation", block[start:stop], starts[start])
    if plan:
        question = block[head.end() - head.start() : plan.start()].strip()
        if question and len(question) <= 20000:
            out.question = question
    return text[end:]


def _drop_phrase(text: str, phrase: str, rule: str, out: Stripped, inline: bool) -> str:
    """Remove a fixed phrase: its whole line when it stands alone; with ``inline`` (a Gemini export, whose text is
    flattened onto few lines) also between words, with the blanks before it."""
    escaped = re.escape(phrase)
    count = 0
    text, n = re.subn(rf"^[ \t]*{escaped}[ \t]*(?:\n|$)", "", text, flags=re.MULTILINE)
    count += n
    if inline:
        text, n = re.subn(rf"(?<=\S)[ \t]+{escaped}(?=[ \t]+\S|[ \t]*\n|[ \t]*$)", "", text)
        count += n
        text, n = re.subn(rf"^{escaped}[ \t]+", "", text, flags=re.MULTILINE)
        count += n
    for _ in range(count):
        _record(out.removed, rule, phrase)
    return text


def _chatgpt(text: str, out: Stripped) -> str:
    head = _CHATGPT_HEAD.match(text[:_HEAD_LIMIT])
    if head:
        _record(out.removed, "chatgpt-conversation", head.group(0))
        out.question = out.question or head.group("question").strip()
        text = text[head.end() :]
    else:
        said = _CHATGPT_SAID.match(text)
        if said:
            _record(out.removed, "chatgpt-conversation", said.group(0))
            text = text[said.end() :]
    lines = text.split("\n")
    for i, line in enumerate(lines[:10]):
        if _CHATGPT_STATUS.match(line):
            _record(out.removed, "chatgpt-status", line)
            del lines[i]
            break
    text = "\n".join(lines)
    return _remove_all(_CHATGPT_DISCLAIMER, text, out, "chatgpt-disclaimer")


def _perplexity(text: str, out: Stripped) -> str:
    logo = _PERPLEXITY_LOGO.match(text)
    if logo:
        _record(out.removed, "perplexity-header", logo.group(0))
        text = text[logo.end() :]
        question = _PERPLEXITY_QUESTION.match(text)
        if question:
            _record(out.removed, "perplexity-header", question.group(0))
            out.question = out.question or (question.group("question").strip() or None)
            text = text[question.end() :]
    return _remove_all(_PERPLEXITY_MARKUP, text, out, "perplexity-markup")


def _claude(text: str, out: Stripped) -> str:
    tail_start = max(0, len(text) - 2000)
    for match in _CLAUDE_FOOTER.finditer(text, tail_start):
        after = text[match.end() :].strip("\n ")
        rest = [line for line in after.split("\n") if line.strip()]
        if len(rest) <= 3 and all(len(line) <= 60 for line in rest):
            _record(out.removed, "claude-footer", text[match.start() :])
            return text[: match.start()].rstrip()
    return text


def _buttons(text: str, out: Stripped) -> str:
    lines = text.split("\n")

    def is_button(line: str) -> bool:
        return line.strip().lower() in BUTTONS

    start = 0
    while start < len(lines) and (not lines[start].strip() or is_button(lines[start])):
        if lines[start].strip():
            _record(out.removed, "ui-buttons", lines[start])
        start += 1
    end = len(lines)
    while end > start and (not lines[end - 1].strip() or is_button(lines[end - 1])):
        if lines[end - 1].strip():
            _record(out.removed, "ui-buttons", lines[end - 1])
        end -= 1
    return "\n".join(lines[start:end])


def strip_chrome(text: str, product: str | None = None) -> Stripped:
    """The text without interface chrome (see the module docstring for the rules), what was removed, and the
    question a conversation header echoed. ``product="gemini"`` says the text is a Gemini export even without its
    conversation block (the importer knows it from the file, e.g. a gemini.google.com URL)."""
    out = Stripped(text="")
    text = _gemini_head(text, out)
    gemini = bool(out.removed) or product == "gemini"
    text = _drop_phrase(text, "Export to Sheets", "gemini-export-to-sheets", out, inline=gemini)
    text = _drop_phrase(text, _GEMINI_DISCLAIMER, "gemini-disclaimer", out, inline=gemini)
    suffixes = len(_GEMINI_LINK_SUFFIX.findall(text)) if "Opens in a new window" in text else 0
    if suffixes:
        text = _GEMINI_LINK_SUFFIX.sub(lambda m: f"[{m.group(1)}](", text)
        _record(out.removed, "gemini-link-suffix", f"Opens in a new window (x{suffixes})")
    text = _chatgpt(text, out)
    text = _perplexity(text, out)
    text = _claude(text, out)
    text = _buttons(text, out)
    out.text = text.strip()
    return out
