"""How the products' exports write citations that plain markdown does not: references headings in each language, and
markers without brackets. ``drevalkit.citations`` reads them with the rest.

References headings (``REFERENCE_HEADINGS``): ``Works cited`` and its Gemini translations (``引用的著作``,
``引用文献``, ``Fuentes citadas``, ``Sources des citations``, ``Referenzen``, ...), ``References``, ``Sources``,
``参考文献``, ``Quellen``, ``Références``, ...

Markers written without brackets, as Google Docs exports of Gemini reports write them, are read only when the
numbers a report's source list holds are known, and only numbers of that list:

* glued to the end of a clause: ``offspring.1``, ``history.11,12``, ``(ROI).4``, ``"sufficient".4``, ``优势。1``
  (a letter, closing bracket, quote or emphasis, then the clause's punctuation, then the numbers, then a space or
  the line's end); never after a digit (``2.5``, ``Table 3.1``, ``version 2.0``, ``in 2019.``, ``2021.8``) nor
  after a label (``Fig.3``, ``No.5``, ``pp.12``);
* spaced before full-width punctuation, after a full-width bracket or at a CJK line's end: ``能力を備えている 1。``,
  ``毫秒）3，``, ``晕轨道 7``; never after a standalone label (``第 3。``, ``表 3。``);
* once a report has ``LOOSE_AFTER`` glued ones, spaced before ``,;:`` or a table cell's end (``models 9,
  improving``, ``| Logit bias 11 |``), never after a label or a word that counts (``to 16,``, ``top 10:``), nor in a
  cell that is only a name and a number (``| Llama 3 |``);
* in a report written so throughout, right after a plain lowercase word: ``polyadic1.``, ``self-realization21,``
  (never ``Python3.`` or ``GPT4.``).
"""

from __future__ import annotations

import re

# the heading of a source list, as reports and the products' exports write it in each language
REFERENCE_HEADINGS = frozenset(
    (
        "references|reference|reference list|sources|source list|sources cited|cited sources|sources used|"
        "sources used in the report|references and sources|sources and references|bibliography|works cited|"
        "citations|cited works|works consulted|literature|further reading and references|notes and references|"
        "参考文献|参考资料|参考来源|资料来源|引用来源|引用文献|引用|来源|引用的著作|參考文獻|參考資料|資料來源|"
        "出典|参考文献一覧|参考資料|참고 문헌|참고문헌|인용된 저작물|출처|quellen|quellenverzeichnis|literatur|"
        "literaturverzeichnis|zitierte werke|referenzen|quellenangaben|références|sources et références|"
        "ouvrages cités|sources des citations|sources citées|bibliographie|referencias|fuentes|fuentes citadas|"
        "obras citadas|trabajos citados|bibliografía|riferimenti|fonti|fonti citate|opere citate|bibliografia|"
        "referências|fontes|fontes citadas|bronnen|geciteerde werken|источники|список литературы"
    ).split("|")
)

CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"  # scripts and full-width forms
CJK_PUNCTUATION = "。，、；：！？）」』】"
CLOSERS = ")]}\"'”’»*_`）」』】"  # what a clause may end with before its punctuation and a glued marker
# words a number follows as a label or a quantity, not as a citation: ``Fig.3``, ``No.5``, ``top 10:``, ``to 16,``
LABELS = frozenset(
    "table tab fig figs figure section sec sect chapter chap ch version ver release no nos nr num vol vols pp p pg "
    "page pages para art article eq eqs equation step steps part item line lines appendix app annex phase stage "
    "level tier round week day grade rule clause note n op ed edn edition rev model gen series class type option "
    "case ex q question task lesson unit module year book psalm act verse approx ca jan feb mar apr jun jul aug sep "
    "sept oct nov dec v vs".split()
)
COUNTING = LABELS | frozenset(
    "to from by of than about around over under nearly approximately only just least most top up down and or at "
    "in on per for with within between after before since until each every the a an some all first last next past "
    "roughly almost exactly plus minus times x is are was were be been has have had".split()
)
LOOSE_AFTER = 3  # glued markers that show a report writes markers without brackets, so spaced ones are read too

# one named group per form, its numbers; each starts with a cheap first character and checks what it follows in
# ``acceptable`` (a lookbehind first was tried at every position of every text: slow everywhere)
UNBRACKETED_PATTERNS = {
    "glued": rf"[.,;:!?。，；：！？](?P<glued>\d{{1,3}}(?:,\d{{1,3}}){{0,20}})(?=[\s|\\{CJK}]|$)",
    "spaced_cjk": rf"(?: |(?<=[）」』】]))(?P<spaced_cjk>\d{{1,3}}(?:[,，、] ?\d{{1,3}}){{0,20}})"
    rf"(?=[{CJK_PUNCTUATION}]|[ \t]*(?:\n|$))",
    "spaced": r" (?P<spaced>\d{1,3})(?=[,;:](?:\s|$)|[ \t]+\|)",
    "lettered": r"(?P<lettered>\d{1,3}(?:, ?\d{1,3}){0,20})(?=[.,;:!?](?:\s|$)|[ \t]*(?:\||\n|$))",
}
# where each form can start (a lookahead of the scan, which then skips every other position at once)
UNBRACKETED_STARTS = {"glued": r"[.,;:!?。，；：！？]\d", "spaced_cjk": r" ?\d", "spaced": r" \d", "lettered": r"\d"}
_LETTERED_WORD = re.compile(r"(?<![\w.-])(?:[a-zß-ɏ]+-)*[a-zß-ɏ]{3,}$")
_WORD_AT_END = re.compile(r"[^\W\d_]+$")
_CJK_CHAR = re.compile(f"[{CJK}]")


def _word_before(text: str, end: int) -> str:
    found = _WORD_AT_END.search(text[max(0, end - 30) : end])
    return found.group(0).lower() if found else ""


def acceptable(kind: str, text: str, at: int, start: int, end: int) -> bool:
    """Whether the numbers at ``text[start:end]``, matched as ``kind`` from ``at``, are a marker by what they follow
    (the module docstring); whether the list holds them is the caller's to check."""
    before = text[at - 1] if at else " "
    if before.isspace() or before == "|":
        return False
    if kind == "lettered":  # polyadic1.: a plain word of three lowercase letters or more, then the numbers
        return _LETTERED_WORD.search(text, max(0, start - 40), start) is not None
    if kind == "spaced_cjk":
        at_line_end = text[end : end + 1] not in CJK_PUNCTUATION or end == len(text)
        return before not in "第表图圖" and not (at_line_end and not _CJK_CHAR.match(before))
    if not (before.isalpha() or before in CLOSERS):
        return False
    if kind == "glued":
        return _word_before(text, start - 1) not in LABELS  # Fig.3, No.5
    if _word_before(text, start - 1) in COUNTING:  # spaced: to 16, top 10:
        return False
    cell = text[text.rfind("|", 0, start) + 1 : start]
    at_cell_end = text[end:].lstrip(" \t").startswith("|")
    return not (at_cell_end and len(cell.split()) < 2 and len(_CJK_CHAR.findall(cell)) < 4)  # | Llama 3 |
