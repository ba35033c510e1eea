"""Prompt templates: jinja2 files shipped next to each stage. A stage's prompt version is a hash of all its
templates (they include each other) and of the fence format, so every result records exactly which wording
produced it.

Untrusted text (the task, the report, its sentences and claims, web pages, and whatever an LLM wrote from them,
such as rubric dimensions and criteria) only enters a prompt through the ``fence`` filter, which returns a block::

    <<<REPORT 3f9a1c0b7d2e>>>
    ...the text...
    <<<END REPORT 3f9a1c0b7d2e>>>

The id is derived from the block's name and content, and is chosen so that it does not occur in the content: the
text cannot contain its own end marker, yet the same text always gets the same block (the LLM response cache and
the server's prefix cache both need byte-identical prompts). On top of that, ``neutralise`` breaks anything in the
text that could pass for a marker: runs of three or more angle brackets (so no ``<<<...>>>`` marker of any block),
closing tags of any name (``</report>``, ``</system>``), chat-template control tokens (``<|im_end|>``,
``[INST]``, ``<<SYS>>``, ``<end_of_turn>``), also when written with look-alike characters (fullwidth ``＜／``,
``〈``, ``‹``, ...), HTML entities or URL/backslash escapes (``&lt;/``, ``%3C/``, ``\\u003c``), or with spaces or
invisible characters slipped in (``<\\u200b/report``).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections.abc import Callable
from functools import cached_property, lru_cache

import jinja2

FENCE_FORMAT = "fence-2"  # part of every prompt version: change it whenever fence() or neutralise() output changes
BOUNDARY_LENGTH = 12  # hex digits of the block id
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

# Characters a reader or a tokenizer may skip over: whitespace, format characters (zero-width space, joiners, word
# joiner, bidi controls, BOM), soft hyphen, variation selectors, Hangul fillers, tag characters, combining marks,
# the blank braille pattern and the musical formatting characters (begin/end beam, tie, slur, phrase).
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff\u0300-\u036f\u2800\U0001d173-\U0001d17a"
)
# Tag characters (U+E0020-U+E007E) mirror ASCII: invisible to a reader, yet a tokenizer may read "<<<END ..." in
# them. They are spelled out in ASCII (so the neutralising below sees them, and so does the judge); the other tag
# characters (language tag, cancel tag) are dropped.
_TAGS: dict[int, int | None] = {code: code - 0xE0000 for code in range(0xE0020, 0xE007F)}
_TAGS.update({code: None for code in (*range(0xE0000, 0xE0020), 0xE007F)})
_TAG_CHAR = re.compile("[\U000e0000-\U000e007f]")
_INVISIBLE_ENTITY = r"&(?:nbsp|shy|zwj|zwnj|lrm|rlm|#0*160|#0*173|#0*8203|#x0*a0|#x0*ad|#x0*200[b-f]);?"
_GAP_COUNTER = itertools.count()


def _atomic(body: str) -> str:
    """``body`` matched without backtracking into it (Python 3.10 has no atomic groups): spacing is consumed in
    one go, so long runs of spaces or invisible characters cost linear time."""
    name = f"gap{next(_GAP_COUNTER)}"
    return f"(?=(?P<{name}>{body}))(?P={name})"


def _gap() -> str:  # any spacing, also across lines (inside tags)
    return _atomic(rf"(?:[\s{_INVISIBLE}]|{_INVISIBLE_ENTITY})*")


def _inline_gap() -> str:  # spacing within one line (between the brackets of a run)
    return _atomic(rf"(?:[^\S\n{_INVISIBLE}]|[{_INVISIBLE}]|{_INVISIBLE_ENTITY})*")


# Look-alikes of "<" and ">", by how many angles a glyph shows (1, 2 or 3), and their escaped forms.
_OPEN_1 = "<\uff1c\ufe64\u3008\u2329\u27e8\u2039\u276e\u276c\u2770\u29fc\u02c2\u1438\u2989\u2991\u227a"
_OPEN_2 = "\u300a\u226a\u27ea\u00ab"
_OPEN_3 = "\u22d8"
_CLOSE_1 = ">\uff1e\ufe65\u3009\u232a\u27e9\u203a\u276f\u276d\u2771\u29fd\u02c3\u1433\u298a\u2992\u227b"
_CLOSE_2 = "\u300b\u226b\u27eb\u00bb"
_CLOSE_3 = "\u22d9"


def _numeric_entities(chars: str) -> str:
    """``&#N;`` and ``&#xH;`` (``;`` optional, as browsers read them) of each of ``chars``."""
    decimal = "|".join(str(ord(ch)) for ch in chars)
    hexadecimal = "|".join(f"{ord(ch):x}" for ch in chars)
    return rf"&#0*(?:{decimal});?(?!\d)|&#x0*(?:{hexadecimal});?(?![0-9a-f])"


# Named entities of the look-alikes (&lang; is "⟨", &Lt; "≪", &Ll; "⋘"); _weight decodes each to count its angles.
_OPEN_NAMED = r"&(?:lang|langle|LeftAngleBracket|lsaquo|laquo|Lt|ll|pr|prec);|&laquo"
_CLOSE_NAMED = r"&(?:rang|rangle|RightAngleBracket|rsaquo|raquo|Gt|gg|sc|succ);|&raquo"
_OPEN_ESCAPED = rf"&lt;?|{_OPEN_NAMED}|{_numeric_entities(_OPEN_1 + _OPEN_2 + _OPEN_3)}|%3c|\\u003c|\\x3c|\\074"
_CLOSE_ESCAPED = rf"&gt;?|{_CLOSE_NAMED}|{_numeric_entities(_CLOSE_1 + _CLOSE_2 + _CLOSE_3)}|%3e|\\u003e|\\x3e|\\076"
# A single token that shows three angles by itself (⋘ and its escapes) is a run on its own.
_OPEN_TRIPLE = rf"[{_OPEN_3}]|&Ll;|{_numeric_entities(_OPEN_3)}"
_CLOSE_TRIPLE = rf"[{_CLOSE_3}]|&Gg;|{_numeric_entities(_CLOSE_3)}"
_SLASH = r"(?:[/\uff0f\u2044\u2215\u29f8\u2571\u27cb\u2f03\u3033]|&sol;|&#0*47;?|&#x0*2f;?|%2f|\\u002f|\\x2f)"
_PIPE = r"(?:[|\uff5c\u2223\u01c0\u2502\u23d0\u05c0]|&vert;|&verbar;|&#0*124;?|&#x0*7c;?|%7c|\\u007c)"
_OPEN = rf"(?:[{_OPEN_1}{_OPEN_2}{_OPEN_3}]|{_OPEN_ESCAPED})"
_CLOSE = rf"(?:[{_CLOSE_1}{_CLOSE_2}{_CLOSE_3}]|{_CLOSE_ESCAPED})"
_LETTER = r"[^\W\d_]"

_OPEN_RUN = re.compile(rf"{_OPEN}(?:{_inline_gap()}{_OPEN})+|{_OPEN_TRIPLE}", re.IGNORECASE)
_CLOSE_RUN = re.compile(rf"{_CLOSE}(?:{_inline_gap()}{_CLOSE})+|{_CLOSE_TRIPLE}", re.IGNORECASE)
_OPEN_TOKEN = re.compile(_OPEN, re.IGNORECASE)
_CLOSE_TOKEN = re.compile(_CLOSE, re.IGNORECASE)
# A closing tag of any name: "<" + "/" + a letter, whatever the glyphs, escapes and invisible characters between.
_CLOSING_TAG = re.compile(rf"{_OPEN}{_gap()}{_SLASH}{_gap()}(?={_LETTER})", re.IGNORECASE)
# Chat-template control tokens: <|im_end|>, <|eot_id|>, <｜end▁of▁sentence｜>, [INST], [/INST], <<SYS>>,
# <start_of_turn>, <end_of_turn>.
_PIPE_TOKEN = re.compile(rf"{_OPEN}{_atomic(f'[{_INVISIBLE}]*')}{_PIPE}", re.IGNORECASE)
# What every match of the patterns above starts with, save a chat word's "[": an angle or a look-alike, or the
# first character of an escape (an entity's "&", a URL escape's "%3", a backslash escape's backslash); a text with
# none of them has nothing to neutralise but chat words
_OPENER = re.compile(rf"[{_OPEN_1}{_OPEN_2}{_OPEN_3}{_CLOSE_1}{_CLOSE_2}{_CLOSE_3}&\\]|%[237]")
_CHAT_WORD_BROKEN = r"(\g<rest>"  # its opening bracket or angle becomes "("
_CHAT_WORD = re.compile(
    rf"(?:\[|{_OPEN})(?P<rest>{_gap()}(?:{_SLASH}{_gap()})?(?:INST|SYS|start_of_turn|end_of_turn|im_start|im_end)\b)",
    re.IGNORECASE,
)


def _weight(token: str) -> int:
    if len(token) > 1:  # an escape: an entity counts the angles of the character it stands for, others one
        token = html.unescape(token)
        if len(token) != 1:
            return 1
    if token in _OPEN_3 or token in _CLOSE_3:
        return 3
    return 2 if token in _OPEN_2 or token in _CLOSE_2 else 1


def _collapse(token: re.Pattern[str], replacement: str) -> Callable[[re.Match[str]], str]:
    def collapse(match: re.Match[str]) -> str:
        run = match.group(0)
        return replacement if sum(_weight(t) for t in token.findall(run)) >= 3 else run

    return collapse


def neutralise(text: str) -> str:
    """Break everything in ``text`` that could pass for a block marker, a closing tag or a chat control token.

    Tag characters are spelled out in ASCII first. Runs of three or more angle brackets become ``<<`` or ``>>``; the
    ``<`` of a closing tag or of a control token becomes ``(`` (``</report>`` reads ``(/report>``, ``<|im_end|>``
    reads ``(|im_end|>``). The rest is unchanged.
    """
    if _TAG_CHAR.search(text):  # a translation table walks every character: half the cost on a report
        text = text.translate(_TAGS)
    if not _OPENER.search(text):  # one scan of a character class, not five of alternations (~0.2 ms a passage)
        return _CHAT_WORD.sub(_CHAT_WORD_BROKEN, text) if "[" in text else text
    return _neutralise_all(text)


def _neutralise_all(text: str) -> str:
    """``neutralise`` past its quick check (tag characters already spelled out)."""
    text = _OPEN_RUN.sub(_collapse(_OPEN_TOKEN, "<<"), text)
    text = _CLOSE_RUN.sub(_collapse(_CLOSE_TOKEN, ">>"), text)
    text = _CHAT_WORD.sub(_CHAT_WORD_BROKEN, text)
    text = _PIPE_TOKEN.sub("(|", text)
    return _CLOSING_TAG.sub("(/", text)


def boundary(name: str, content: str) -> str:
    """The block id for ``content``: a hash of the name and content, re-hashed until it does not occur in it."""
    lowered = content.lower()
    for attempt in itertools.count():
        digest = hashlib.sha256(f"{name}\0{attempt}\0{content}".encode("utf-8", "surrogatepass")).hexdigest()
        candidate = digest[:BOUNDARY_LENGTH]
        if candidate not in lowered:
            return candidate
    raise AssertionError("unreachable")


class Fenced(str):
    """A block of untrusted text with its markers: the string is the whole block; ``start`` and ``end`` are its
    marker lines and ``id`` its id, for templates that name them (``{% set r = text | fence("report") %}`` ...
    ``the report ends at {{ r.end }}``)."""

    name: str
    id: str
    content: str
    start: str
    end: str

    def __new__(cls, name: str, block_id: str, content: str) -> Fenced:
        start, end = f"<<<{name} {block_id}>>>", f"<<<END {name} {block_id}>>>"
        self = super().__new__(cls, f"{start}\n{content}\n{end}" if content else f"{start}\n{end}")
        self.name, self.id, self.content, self.start, self.end = name, block_id, content, start, end
        return self


def fence(value: object, name: str) -> Fenced:
    """Untrusted ``value`` as a block named ``name`` (``"report"`` gives ``<<<REPORT id>>>``); the jinja filter
    ``fence``, usable as ``{{ text | fence("report") }}`` or around a section: ``{% filter fence("task") %}``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"a fence name is a word of letters, digits and underscores, not {name!r}")
    text = "" if value is None else str(value)
    return _fenced_once(name.upper(), text) if len(text) <= _REMEMBERED_CHARS else _fenced(name.upper(), text)


def _fenced(label: str, text: str) -> Fenced:
    content = neutralise(text.replace("\r\n", "\n").strip("\r\n"))
    return Fenced(label, boundary(label, content), content)


# A report's task, dimensions, claims and evidence passages are fenced again in every prompt that shows them (an
# evidence passage four times on average in a fact-check): short texts are fenced once (the same text always gives
# the same block); a report, fenced once per prompt prefix, is not kept.
_REMEMBERED_CHARS = 8000
_fenced_once = lru_cache(maxsize=2048)(_fenced)


class PromptSet:
    """The templates in ``<package>/prompts/``."""

    def __init__(self, package: str):
        self.package = package
        self._loader = jinja2.PackageLoader(package, "prompts")
        self._env = jinja2.Environment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            # compiled once: no file checks on every render (1-2% of a scoring run's CPU), and a template edited
            # during a run cannot drift from the prompt version computed at its start
            auto_reload=False,
        )
        self._env.filters["fence"] = fence

    def render(self, name: str, **values: object) -> str:
        return self._env.get_template(name).render(**values).strip()

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256(FENCE_FORMAT.encode() + b"\0")
        for name in sorted(self._env.list_templates()):
            source, _, _ = self._loader.get_source(self._env, name)
            digest.update(name.encode() + b"\0" + source.encode("utf-8") + b"\0")
        return f"{self.package.rsplit('.', 1)[-1]}@{digest.hexdigest()[:12]}"
