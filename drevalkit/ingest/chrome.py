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
| ``agent-narration`` | API agents | a paragraph, or a line of whole sentences, in which the agent only talks about its own work: ``Let me search for ...``, ``I'll now look for ...``, ``I need to find ...``, ``Now I have enough information to ...``, ``Searching for ...`` (with interjections such as ``Perfect!`` around them); English and Chinese |

The question echoed by a conversation header is returned too: a file without a task can use it as its prompt.

Narration inside a paragraph of findings is left in the text (cutting it out could change what the paragraph
says), but ``is_narration`` lets segmentation drop such a sentence, so it is never checked as a claim.
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
    "agent-narration": "lines and paragraphs in which an agent only talks about its own search",
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


# An agent talking about its own work, at the start of a sentence (after an interjection or a "now"/"next").
_SEARCH_VERBS = (
    r"(?:search|look|find|check|gather|research|fetch|browse|query|dig|investigate|explore|verify|confirm|collect|"
    r"locate|retrieve|obtain|pull|get|cross-check|double-check|re-check|read|open|visit|try|see|start|begin|continue)"
)
_WRITE_REPORT = (
    r"(?:compile|write|draft|prepare|create|put together|produce|provide|present|structure|synthesi[sz]e)\s+"
    r"(?:(?:the|a|an|my|this|your|our)\s+)?(?:(?:final|comprehensive|detailed|complete|full|thorough|structured|"
    r"research|in-depth)\s+){0,3}(?:report|answer|response|summary|analysis|overview|findings)"
)
_LEAD = r"(?:(?:now|next|first|then|finally|so|also|ok|okay|alright|great|good|perfect|excellent)\b[,!.]?\s+){0,3}"
_NARRATION = re.compile(
    _LEAD + r"(?:"
    rf"let(?:'s|’s| me| us)\s+(?:(?:now|first|also|next|then|quickly|further|additionally)\s+)?"
    rf"(?:{_SEARCH_VERBS}|{_WRITE_REPORT})\b"
    rf"|i(?:'ll|’ll| will| am going to|'m going to|’m going to| shall)\s+(?:(?:now|first|also|next|then|"
    rf"additionally|need to|try to)\s+)?(?:{_SEARCH_VERBS}|{_WRITE_REPORT}|do (?:a|another|one more|some) "
    r"(?:search|lookup)|make (?:a|another) search)\b"
    rf"|i\s+(?:still\s+)?(?:need|have|want|should|must|will need|would like|'d like|’d like)\s+to\s+(?:(?:now|also|"
    rf"first|further)\s+)?(?:{_SEARCH_VERBS}|{_WRITE_REPORT})\b"
    r"|(?:i(?:'m|’m| am))\s+(?:now\s+)?(?:searching|looking|checking|gathering|researching|going to search|"
    r"trying to find)\b"
    r"|i\s+(?:now\s+)?have\s+(?:enough|sufficient|all the|comprehensive|good|plenty of|a good amount of|"
    r"gathered|collected|found)\b[^.!?\n]{0,120}?\b(?:information|data|details|context|sources|results|"
    r"evidence|material|picture|understanding)\b"
    r"|i(?:'ve|’ve| have)\s+(?:now\s+)?(?:gathered|collected|completed|finished)\s+(?:enough|sufficient|"
    r"comprehensive|all|the|my|extensive|a lot)\b"
    r"|(?:based on|with|given) (?:my|the|this|these|all (?:the|this|these)) (?:research|searches|search results|"
    rf"findings|information)[^.!?\n]{{0,80}}?,\s+(?:i(?:'ll|’ll| will| can now| can)|let me)\s+(?:now\s+)?"
    rf"{_WRITE_REPORT}\b"
    r"|(?:searching|looking up|looking for|fetching|browsing|querying)\b[^.!?\n]{0,200}?(?:\.\.\.|…)$"
    r"|(?:让我|我(?:需要|将|会|要|来|先|再))(?:先|再|来|现在|继续|进一步)?(?:搜索|查找|查询|检索|查看|看看|了解一下)"
    r"|现在我(?:已经)?(?:有了|掌握了|收集了|获得了|有)(?:足够|充分|全面)的(?:信息|资料|数据)"
    r")",
    re.IGNORECASE,
)
_INTERJECTION = re.compile(r"(?:ok|okay|alright|all right|great|good|perfect|excellent|got it|now)[!.,]*", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？:：…])\s+|(?<=[。！？])")
_ENDS_SENTENCE = re.compile(r"[.!?。！？:：…]['\"”’)]*$")
_NOT_PROSE = re.compile(r"[#|>]|[-*+]\s|\d{1,3}[.)]\s|```|~~~")


def is_narration(sentence: str) -> bool:
    """True if ``sentence`` is an agent talking about its own search or writing (``Let me search for ...``,
    ``Now I have enough information to ...``): never a claim about the world."""
    return _NARRATION.match(sentence.strip().lstrip("*_ ")) is not None


def _all_narration(text: str) -> bool:
    """Every sentence of ``text`` is narration or a bare interjection, and one at least is narration."""
    sentences = [part.strip() for part in _SENTENCE_END.split(" ".join(text.split())) if part.strip()]
    narration = [is_narration(part) for part in sentences]
    return any(narration) and all(n or _INTERJECTION.fullmatch(part) for n, part in zip(narration, sentences))


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


def _prose_runs(lines: list[str]) -> list[list[int]]:
    """Runs of consecutive lines of prose: blank lines, code, headings, list items, quotes and tables end a run."""
    runs: list[list[int]] = [[]]
    in_code = False
    for number, raw in enumerate(lines):
        line = raw.strip()
        fence = line.startswith(("```", "~~~"))
        in_code = in_code != fence
        if not line or fence or in_code or _NOT_PROSE.match(line):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(number)
    return [run for run in runs if run]


def _narration(text: str, out: Stripped) -> str:
    """Paragraphs, and lines of whole sentences, that are only the agent's narration."""
    lines = text.split("\n")
    keep = [True] * len(lines)
    for run in _prose_runs(lines):
        if _all_narration(" ".join(lines[n] for n in run)):
            _record(out.removed, "agent-narration", "\n".join(lines[n] for n in run))
            after = run[-1] + 1
            paragraph = (run[0] == 0 or not lines[run[0] - 1].strip()) and after < len(lines)
            for n in [*run, after] if paragraph and not lines[after].strip() else run:  # with its blank line
                keep[n] = False
            continue
        for n in run:
            starts = n == run[0] or _ENDS_SENTENCE.search(lines[n - 1].rstrip())
            if starts and _ENDS_SENTENCE.search(lines[n].rstrip()) and _all_narration(lines[n]):
                _record(out.removed, "agent-narration", lines[n])
                keep[n] = False
    return "\n".join(line for line, kept in zip(lines, keep) if kept)


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
    text = _narration(text, out)
    text = _buttons(text, out)
    out.text = text.strip()
    return out
