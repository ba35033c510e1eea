"""Reports, pages and model output are hostile: the functions that read them stay linear on text built to make a
pattern (or a loop) backtrack or rescan, and still give the right answer on it.

Each case builds its hostile input at a size n and at 4n, checks what the function returned at both, and times it:
the larger must take less than ten times the smaller (about 4 when linear, 16 when quadratic, 64 when cubic). Times
are the CPU time of this thread, not the wall clock that a loaded machine stretches: the best of a few runs with the
garbage collector off. When both sizes take under a millisecond the ratio is timer noise and is not asserted; every
run also stays under a generous absolute cap. Each case says how long the code took on it before, at the size the
case used then: most cases run at that size as 4n, those already under a millisecond there run from it as n, and
the three slowest today run at a quarter of it, where the growth ratio still tells linear from quadratic."""

from __future__ import annotations

import gc
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytest

from drevalkit.agents.endpoint import Reply
from drevalkit.agents.protocols.base import strip_thinking
from drevalkit.agents.protocols.mirothinker import MiroThinkerProtocol, strip_tool_markup
from drevalkit.agents.protocols.text_calls import MAX_CALLS, read_text_calls
from drevalkit.citations import is_reference_heading, parse_reference_entries, scan_citations, split_references
from drevalkit.config import Settings
from drevalkit.factcheck.sentences import content_blocks, segment, sentence_splitter
from drevalkit.ingest.formats.deepresearcheval import parse_sources
from drevalkit.ingest.formats.html import _TITLE, html_to_markdown
from drevalkit.ingest.formats.openai_responses import _annotated, _only_links
from drevalkit.ingest.formats.references import normalise_references
from drevalkit.ingest.formats.source_list import find_source_list, read
from drevalkit.llm.client import parse_json_object
from drevalkit.render.markdown import render_markdown
from drevalkit.schemas import Report
from drevalkit.text import math_spans
from drevalkit.validity.probes import evidence_targets, fake_citation_variants, trim_style

GROWTH = 4
MAX_RATIO = 10.0  # t(4n) / t(n): about 4 when linear, 16 when quadratic, 64 when cubic
FLOOR_S = 0.001  # 4n this fast: the ratio is timer noise, and nothing is slow
CAP_S = 5.0  # any one run: slower than this is catastrophic whatever the ratio
RUNS, MORE_RUNS = 2, 4  # best of RUNS; when the ratio is over, up to MORE_RUNS more to rule out noise


@dataclass(frozen=True)
class Case:
    build: Callable[[int], Callable[[], object]]  # the call on the hostile input of size n (a fresh one each run)
    check: Callable[[object, int], bool | None]  # whether what it returned for size n is right (or asserts it)
    n: int


def _cpu_seconds(call: Callable[[], object]) -> tuple[float, object]:
    gc.disable()
    try:
        started = time.thread_time()
        result = call()
        return time.thread_time() - started, result
    finally:
        gc.enable()


class _Timer:
    """Runs a case at one size, checking every output and keeping the best time."""

    def __init__(self, case: Case, size: int):
        self.case, self.size, self.best = case, size, math.inf

    def run(self) -> float:
        seconds, result = _cpu_seconds(self.case.build(self.size))
        assert seconds < CAP_S, f"{seconds:.2f} s of CPU on size {self.size}"
        verdict = self.case.check(result, self.size)  # a check asserts, or says whether the output is right
        assert verdict in (None, True), f"wrong output on size {self.size}: {result!r:.500}"
        self.best = min(self.best, seconds)
        return self.best


def assert_linear(case: Case) -> None:
    small, large = _Timer(case, case.n), _Timer(case, GROWTH * case.n)
    for _ in range(RUNS):  # the small size first: a catastrophic case fails on the cap before 4n runs
        small.run()
    for _ in range(RUNS):
        large.run()
    for _ in range(MORE_RUNS):
        if large.best < FLOOR_S or large.best < MAX_RATIO * small.best:
            break
        small.run()  # noise only adds time: more runs can only bring each best down to its cost
        large.run()
    assert large.best < FLOOR_S or large.best < MAX_RATIO * small.best, (
        f"{GROWTH}x the input took {large.best / small.best:.1f}x the time "
        f"({small.best * 1000:.1f} ms at {case.n}, {large.best * 1000:.1f} ms at {GROWTH * case.n})"
    )


# ------------------------------------------------------------------------------------------ builders and checks


def _markers(tokens) -> list[tuple[int, ...]]:
    return [t.refs for t in tokens if t.kind == "marker"]


def _no_tokens(tokens, n: int) -> None:
    assert tokens == []


def _citations(spans: list[tuple[int, int]], text: str) -> partial:
    notes = [
        {"type": "url_citation", "start_index": start, "end_index": end, "url": f"https://a.example/{number}"}
        for number, (start, end) in enumerate(spans)
    ]
    return partial(_annotated, text, notes, {}, [], [])


def _linked_markers(count: int) -> Callable[[], object]:
    text = (
        "".join(f"[{n}](https://a.example/{n}) " for n in range(1, count))
        + "\n\n## References\n\n"
        + "".join(f"[{n}] https://b.example/{n}\n" for n in range(1, count // 2))
    )
    return partial(normalise_references, text)


def _check_linked_markers(done, count: int) -> None:
    listed = [f"[{n}] https://b.example/{n}" for n in range(1, count // 2)]
    added = [f"[{n}] https://a.example/{n}" for n in range(count // 2, count)]  # numbers the list lacks: their links
    assert done.text.split("## References\n\n")[1] == "\n".join(listed + added) + "\n"
    assert done.counts.rewritten["sources taken from linked markers"] == count - count // 2


def _glued_report(n: int) -> str:
    """One long line of markers glued to clauses, then its source list."""
    return "Claim one.1 " * n + "\n\n#### **Works cited**\n\n1. Source, accessed July 24, 2025, https://a.example/1\n"


def _parse(content: str) -> partial:
    protocol = MiroThinkerProtocol(Settings(agent_model="m", agent_base_url="http://127.0.0.1:9/v1"))
    return partial(protocol.parse, Reply(content=content))


def _check_unclosed_fields(step, n: int) -> None:
    (call,) = step.calls
    assert call.problem == "the tool call has no <server_name>, <tool_name>, <arguments>"
    assert call.raw == "<arguments>" * n and call.name == "" and call.arguments == {}


def _check_arguments_fence(step, n: int) -> None:
    (call,) = step.calls
    assert (call.server, call.name, call.arguments) == ("s", "google_search", {})
    assert call.problem.startswith("the arguments are not valid JSON")
    assert call.raw.endswith("```" + " " * n + "x</arguments>")


_PAGE_HEAD = "# T\n\nSome text, see [x](http://x.example/).\n\n"


def _page(body: str) -> partial:
    return partial(
        html_to_markdown,
        f"<html><body><article><h1>T</h1><p>Some text, see <a href='http://x.example/'>x"
        f"</a>.</p>{body}<ul><li>a</li><li>b</li></ul></article></body></html>",
    )


def _check_page(middle: Callable[[int], str]) -> Callable[[object, int], None]:
    def check(converted, n: int) -> None:
        assert converted.text == _PAGE_HEAD + middle(n) + "\n\n- a\n- b"  # the page's text, all of it, in order

    return check


def _json(text: str) -> Callable[[], object]:
    def parse():
        try:
            return parse_json_object(text)
        except ValueError as refused:
            return refused

    return parse


def _segment_after_citation_blocks(count: int) -> partial:
    sentence_splitter()  # loaded before the clock starts
    text = "A claim sentence with words.\n\n" + "".join(f"(https://a.example/{n})\n\n" for n in range(count))
    return partial(segment, Report(system="s", task_id="t", text=text))


def _check_citation_blocks(sentences, count: int) -> None:
    (sentence,) = sentences  # the blocks of citations attach to the one sentence before them
    assert sentence.text.startswith("A claim sentence with words. (https://a.example/0)")
    assert re.findall(r"https://a\.example/(\d+)", sentence.text) == [str(n) for n in range(count)]


def _check_fake_citations(variants, n: int) -> None:
    (variant,) = variants
    assert variant.probe == "fake-citations" and "Body sentence [1][2]." in variant.text
    assert "## References\n\n```\n" + "\n" * n + "x\n```\n[2] " in variant.text  # the code block kept whole


def _check_evidence_target(targets, n: int) -> None:
    (target,) = targets
    assert (target.figure, target.replacement, target.refs) == ("5", "8", (1,))
    assert target.sentence == "para [1] 5. ``` x" and target.altered == "para [1] 8. ``` x"


def _check_span_overlaps(text, n: int) -> None:
    assert re.sub(r"\[\d+\]", "", text) == "x" * n  # the text is kept, a marker after each one-letter span
    assert re.findall(r"\[(\d+)\]", text) == [str(k) for k in range(1, n // 10 + 1)]
    assert text.startswith("x[1]xxxxxxxxxx[2]x")


CASES = {
    # citations.py
    # before: four \s* in a row around optional marks: 18 s on 400 spaces
    "references-heading": Case(
        lambda n: partial(split_references, "References" + " " * n + "x"),
        lambda split, n: split == ("References" + " " * n + "x", ""),  # not a heading: no References section
        400,
    ),
    # before: quadratic: 24 s
    "paren-url-lead-in": Case(lambda n: partial(scan_citations, "(see" + " " * n + "x"), _no_tokens, 7500),
    # before: quadratic: 13 s
    "between-markers": Case(
        lambda n: partial(scan_citations, "a [1]" + " " * n + "x [2]"),
        lambda tokens, n: (
            _markers(tokens) == [(1,), (2,)] and [(t.start, t.end) for t in tokens] == [(2, 5), (n + 7, n + 10)]
        ),
        10000,
    ),
    # before: quadratic: 10 s
    "marker-number-split": Case(
        lambda n: partial(scan_citations, "[1" + " " * n + "-2]"),
        lambda tokens, n: _markers(tokens) == [(1, 2)] and (tokens[0].start, tokens[0].end) == (0, n + 5),
        7500,
    ),
    # before: every "![" scanned the rest of the line: 12 s
    "image-alt": Case(lambda n: partial(scan_citations, "![" * n), _no_tokens, 5000),
    # before: 18 s
    "image-target": Case(lambda n: partial(scan_citations, "![a](" * n), _no_tokens, 5000),
    # before: quadratic: 15 s
    "entry-title-url-suffix": Case(
        lambda n: partial(parse_reference_entries, "## References\n[1] url" + " " * n + "x https://a.example"),
        lambda entries, n: (
            [(e.index, e.url, e.title) for e in entries] == [(1, "https://a.example", "url" + " " * n + "x")]
        ),
        10000,
    ),
    # ingest/formats/references.py
    # before: a lazy name between runs of \s*: over 60 s on 1,000 spaces
    "reference-heading-line": Case(
        lambda n: partial(is_reference_heading, "# a" + " " * n + "x"), lambda kind, n: kind is False, 1000
    ),
    # markers written without brackets, read against the source list: runs of what each form starts with
    "glued-markers": Case(
        lambda n: partial(scan_citations, "a.1" * n + " end.2", {1, 2}),
        lambda tokens, n: [(t.start, t.refs) for t in tokens] == [(3 * n - 1, (1,)), (3 * n + 5, (2,))],  # the last
        20000,
    ),
    "spaced-markers": Case(
        lambda n: partial(scan_citations, "word 1" * n + ", x", {1}, "spaced"),
        lambda tokens, n: [t.refs for t in tokens] == [(1,)],
        20000,
    ),
    "lettered-markers": Case(
        lambda n: partial(scan_citations, "polyadic" + "1" * n + ".", {1}, "lettered"),
        lambda tokens, n: tokens == [],  # a run of digits is no reference number
        20000,
    ),
    "glued-markers-rewritten": Case(
        lambda n: partial(normalise_references, _glued_report(n)),
        lambda done, n: done.text.startswith(("Claim one.[1] " * n).rstrip()) and done.counts.markers == 1,
        5000,
    ),
    # ingest/formats/source_list.py
    "access-date-spaces": Case(
        lambda n: partial(read, "1. Title, accessed" + " " * n + "x https://a.example/1"),
        lambda entry, n: entry is not None and entry.url == "https://a.example/1",
        5000,
    ),
    "url-only-line-spaces": Case(
        lambda n: partial(find_source_list, "[1] A\n" + " " * n + "x\n"), lambda found, n: found is None, 5000
    ),
    "indented-continuations": Case(
        lambda n: partial(find_source_list, "## References\n\n1. A https://a.example/1\n" + "    > more\n" * n),
        lambda found, n: found is not None and [e.numbers for e in found.entries] == [(1,)],
        5000,
    ),
    "grouped-entries-without-urls": Case(
        lambda n: partial(find_source_list, "[1] [2] Title\n\n" * n), lambda found, n: found is None, 5000
    ),
    "many-headings": Case(
        lambda n: partial(find_source_list, "## Sources\n" * n + "1. A https://a.example/1\n"),
        lambda found, n: found is not None and found.start == n - 1,
        5000,
    ),
    # before: 4,000 Python steps per "[1](http" of a run of them: 13 s
    "link-target-end": Case(
        lambda n: partial(normalise_references, "[1](http://a(" * n),
        lambda done, n: (done.text.rstrip(), done.notes, done.linked) == ("[1](http://a(" * n, [], {}),  # unchanged
        3750,
    ),
    # before: the same loop: 7 s
    "source-list-links": Case(
        lambda n: partial(parse_sources, "[a](http://a(" * n),
        lambda parsed, n: (
            [s.index for s in parsed.used] == list(range(1, n + 1))
            and {s.url for s in parsed.used} == {"http://a"}
            and (parsed.unused, parsed.unreadable) == ([], 0)
        ),
        3750,
    ),
    # before: a search back to the start of the text per URL: 10 s on 240,000 URLs
    "bare-url-list": Case(
        lambda n: partial(parse_sources, "http://a.example/x " * n),
        lambda parsed, n: (
            [s.index for s in parsed.used] == list(range(1, n + 1))
            and {(s.url, s.title) for s in parsed.used} == {("http://a.example/x", "a.example")}
            and (parsed.unused, parsed.unreadable) == ([], 0)
        ),
        15000,
    ),
    # before: a scan of the numbers given per label: 20 s on 40,000 definitions
    "footnote-definitions": Case(
        lambda n: partial(normalise_references, "\n".join(f"[^{k}]: https://a.example" for k in range(n))),
        lambda done, n: (
            done.counts.rewritten["footnote definitions made the source list"] == n
            and done.text.startswith("\n\n## References\n\n")
            and len(re.findall(r"^\[\d+\] .*https://a\.example$", done.text, re.M)) == 1
        ),  # one URL: one source
        5000,
    ),
    # before: the References list re-read per linked marker: 28 s
    "linked-marker-entries": Case(_linked_markers, _check_linked_markers, 1000),
    # ingest/formats/openai_responses.py
    # before: every "[" scanned the rest of the line: 12 s
    "link-only-span": Case(lambda n: partial(_only_links, "[" * n), lambda only, n: only is False, 40000),
    # before: every span tested against every other: 11 s
    "span-overlaps": Case(
        lambda n: _citations([(k, k + 1) for k in range(0, n, 10)], "x" * n), _check_span_overlaps, 20000
    ),
    # before: list membership per annotation: 13 s
    "span-numbers": Case(
        lambda n: _citations([(0, 1)] * n, "xx"),
        lambda text, n: text == "x[" + ", ".join(str(k) for k in range(1, n + 1)) + "]x",  # one span, n sources
        8000,
    ),
    # before: a new sorted list per span merged into an edit: 14 s
    "edit-numbers": Case(
        lambda n: _citations([(k, n) for k in range(0, n, 4)], "x" * n),
        lambda text, n: text == "x" * n + "[" + ", ".join(str(k) for k in range(1, n // 4 + 1)) + "]",
        20000,
    ),
    # factcheck/sentences.py
    # before: cubic: over 60 s
    "heading-title": Case(lambda n: partial(content_blocks, "# a" + " " * n + "x\n"), lambda b, n: b == [], 1250),
    # before: quadratic: 12 s
    "chrome-line": Case(lambda n: partial(content_blocks, "copy" + " " * n + "x\n"), lambda b, n: b == [], 10000),
    # before: quadratic: 16 s
    "data-like-header": Case(
        lambda n: partial(content_blocks, "| 1`" + " " * n + "`! | b |\n|---|---|\n| 1 | 2 |\n"),
        lambda blocks, n: blocks == [("", "1" + " " * n + "!: 1; b: 2")],  # the table as one row of "header: cell"
        5000,
    ),
    # before: the sentence's text and lists copied per block: 9 s on 14,000 blocks
    "citation-blocks-attached": Case(_segment_after_citation_blocks, _check_citation_blocks, 2000),
    # source list lines anywhere (factcheck/source_lines.py): one scan of each line, one look at the next
    "source-list-lines": Case(
        lambda n: partial(
            content_blocks,
            "A claim sentence with words [1].\n"
            + "".join(f"[{k % 900 + 1}] [{k % 7 + 1}] Title {k}\nhttps://a.example/{k}\n" for k in range(n))
            + "".join(f"{k % 900 + 1}. T, accessed 2025, https://b.example/{k}\n" for k in range(n)),
        ),
        lambda blocks, n: blocks == [("", "A claim sentence with words [1].")],
        1000,
    ),
    # agents
    # before: every unclosed tag scanned the rest of the text: 22 s
    "unclosed-tool-calls": Case(
        lambda n: partial(strip_tool_markup, "<use_mcp_tool>" * n), lambda text, n: text == "", 12000
    ),
    # before: 27 s
    "unclosed-fields": Case(
        lambda n: _parse("<use_mcp_tool>" + "<arguments>" * n + "</use_mcp_tool>"), _check_unclosed_fields, 3750
    ),
    # before: cubic: 11 s on 2,500 spaces
    "arguments-fence": Case(
        lambda n: _parse(
            "<use_mcp_tool><server_name>s</server_name><tool_name>google_search</tool_name>"
            "<arguments>```" + " " * n + "x</arguments></use_mcp_tool>"
        ),
        _check_arguments_fence,
        2500,
    ),
    # tool calls written as text: new with their parser, each linear from the start
    "text-call-tag-named-in-prose": Case(
        lambda n: partial(read_text_calls, "the <tools> tag " * n), lambda found, n: found is None, 20000
    ),
    "text-call-empty-blocks": Case(  # empty blocks, then tags named without any closing tag after them
        lambda n: partial(read_text_calls, "<tool_call> </tool_call> " * n + "<tool_call> named " * n),
        lambda found, n: found is None,
        5000,
    ),
    "text-call-bare-json-lines": Case(  # each line opens a call that never ends: only the first few are read
        lambda n: partial(read_text_calls, "prose\n" + '{"name": "a", "arguments": [\n' * n),
        lambda found, n: found is None,
        5000,
    ),
    "text-call-blank-lines": Case(
        lambda n: partial(read_text_calls, "x\n[" + "\n" * n + "x"), lambda found, n: found is None, 20000
    ),
    "text-call-unclosed-parameters": Case(
        lambda n: partial(read_text_calls, "<function=web_search>" + "<parameter=q>" * n + "</function>"),
        lambda found, n: [(c.name, c.arguments) for c in found.calls] == [("web_search", {})],
        10000,
    ),
    "text-call-fence-lines": Case(
        lambda n: partial(read_text_calls, "x\n" + "```\n<tool_call>\n" * n), lambda found, n: found is None, 5000
    ),
    "text-calls-past-the-cap": Case(
        lambda n: partial(read_text_calls, '<tool_call>{"name": "a", "arguments": {}}</tool_call>' * n),
        lambda found, n: len(found.calls) == MAX_CALLS and len(found.notes) == 1,
        20000,
    ),
    # before: 15 s
    "unclosed-thinking": Case(lambda n: partial(strip_thinking, "<think>" * n), lambda text, n: text == "", 17000),
    # ingest/formats/html.py
    # before: every "<title>" scanned the rest of the page: over 60 s
    "page-title": Case(lambda n: partial(_TITLE.search, "<title>" * n), lambda found, n: found is None, 7000),
    # before: ^\s* ran on over the blank lines from every line start: 9 s
    "markdown-structure-counts": Case(
        lambda n: _page("<pre>x" + " \n" * n + "y</pre>"), _check_page(lambda n: "x" + " \n" * n + "y"), 2500
    ),
    # before: a set of every cut of the URL: 10 s and about 2 GB
    "link-url-cuts": Case(
        lambda n: _page("<p>http://a" + ")" * n + "</p>"), _check_page(lambda n: "http://a" + ")" * n), 15000
    ),
    # render/markdown.py
    # before: quadratic: 11 s
    "rendered-references-title": Case(
        lambda n: partial(render_markdown, "references" + " " * n + "x"),
        lambda rendered, n: (
            str(rendered.html) == f"<p>references{' ' * n}x</p>\n" and not rendered.highlighted | rendered.references
        ),
        10000,
    ),
    # formulas (text.py, shown whole by render/markdown.py): each closing delimiter is looked for once
    "formula-openers": Case(
        lambda n: partial(math_spans, "\\(" * n + "\\[1" * n + "$a" * n), lambda spans, n: spans == [], 20000
    ),
    "rendered-formula-openers": Case(
        lambda n: partial(render_markdown, "\\(x $" * n),
        lambda rendered, n: str(rendered.html) == "<p>" + "(x $" * n + "</p>\n",  # text, no formula
        5000,
    ),
    "rendered-formulas": Case(
        lambda n: partial(render_markdown, "$x$ " * n),
        lambda rendered, n: str(rendered.html).count('<span class="math">$x$</span>') == n,
        5000,
    ),
    # validity/probes.py
    # before: every opening without a closer scanned the rest of the line: 8.5 s
    "bold-openings": Case(
        lambda n: partial(trim_style, " **y" * n, 1),
        lambda text, n: text == " **y" * n + "\n",  # bold never closed: kept
        2500,
    ),
    # before: quadratic: 8 s
    "table-rule-spaces": Case(
        lambda n: partial(trim_style, "para\n" + " " * n + "x\n", 3),
        lambda text, n: text == "para\n" + " " * n + "x\n",  # not a table rule: kept
        5000,
    ),
    # before: ^\s* ran on over the block's blank lines from every line start: 12 s
    "references-code-block": Case(
        lambda n: partial(
            fake_citation_variants, "# T\n\nBody sentence [1].\n\n## References\n\n```\n" + "\n" * n + "x\n```\n", 1, 0
        ),
        _check_fake_citations,
        15000,
    ),
    # before: 13 s
    "sentences-of-code-block": Case(
        lambda n: partial(evidence_targets, "para [1] 5.\n```\n" + "\n" * n + "x\n", {1}, 1, 0),
        _check_evidence_target,
        5000,
    ),
    # llm/client.py
    # before: cubic: 16 s on 2,500 spaces
    "json-fence": Case(
        lambda n: _json("```" + " " * n + "x"),
        lambda refused, n: isinstance(refused, ValueError),  # no JSON object in it: refused, not guessed
        2500,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_linear_on_hostile_input(name):
    assert_linear(CASES[name])


def test_the_growth_check_fails_a_backtracking_pattern_and_a_wrong_output():
    """The check is no formality: two ``\\s*`` in a row (cubic on spaces, the kind of pattern the cases guard
    against) fail it well before its cap, and so does a right-speed call with a wrong answer."""
    backtracking = Case(lambda n: partial(re.search, r"\s*\s*x", " " * n), lambda found, n: found is None, 150)
    with pytest.raises(AssertionError, match="4x the input took"):
        assert_linear(backtracking)
    with pytest.raises(AssertionError, match="wrong output"):
        assert_linear(Case(lambda n: partial(scan_citations, "a [1]" + " " * n), lambda tokens, n: tokens == [], 10))
