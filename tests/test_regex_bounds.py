"""Reports, pages and model output are hostile: the functions that read them stay linear on text built to make a
pattern (or a loop) backtrack or rescan. Each case says how long the code took on it before; the 5 s bound is
generous for loaded CI machines (each case now takes well under a second)."""

from __future__ import annotations

import time
from functools import partial

import pytest

from drevalkit.agents.endpoint import Reply
from drevalkit.agents.protocols.base import strip_thinking
from drevalkit.agents.protocols.mirothinker import MiroThinkerProtocol, strip_tool_markup
from drevalkit.citations import parse_reference_entries, scan_citations, split_references
from drevalkit.config import Settings
from drevalkit.factcheck.claims import content_blocks, segment, sentence_splitter
from drevalkit.ingest.formats.deepresearcheval import parse_sources
from drevalkit.ingest.formats.html import _TITLE, html_to_markdown
from drevalkit.ingest.formats.openai_responses import _annotated, _only_links
from drevalkit.ingest.formats.references import _add_linked_entries, normalise_references, reference_heading
from drevalkit.llm.client import parse_json_object
from drevalkit.render.markdown import render_markdown
from drevalkit.schemas import Report
from drevalkit.validity.probes import evidence_targets, fake_citation_variants, trim_style

LIMIT_S = 5.0


def _citations(spans: list[tuple[int, int]], text: str) -> partial:
    notes = [
        {"type": "url_citation", "start_index": start, "end_index": end, "url": f"https://a.example/{number}"}
        for number, (start, end) in enumerate(spans)
    ]
    return partial(_annotated, text, notes, {}, [], [])


def _linked_markers() -> partial:
    count = 4000
    text = (
        "".join(f"[{n}](https://a.example/{n}) " for n in range(1, count))
        + "\n\n## References\n\n"
        + "".join(f"[{n}] https://b.example/{n}\n" for n in range(1, count // 2))
    )
    return partial(_add_linked_entries, text, {n: f"https://a.example/{n}" for n in range(1, count)}, [])


def _parse(content: str) -> partial:
    protocol = MiroThinkerProtocol(Settings(agent_model="m", agent_base_url="http://127.0.0.1:9/v1"))
    return partial(protocol.parse, Reply(content=content))


def _page(body: str) -> partial:
    return partial(
        html_to_markdown,
        f"<html><body><article><h1>T</h1><p>Some text, see <a href='http://x.example/'>x"
        f"</a>.</p>{body}<ul><li>a</li><li>b</li></ul></article></body></html>",
    )


def _json(text: str) -> None:
    try:
        parse_json_object(text)
    except ValueError:
        pass


def _segment_after_citation_blocks() -> partial:
    sentence_splitter()  # loaded before the clock starts
    text = "A claim sentence with words.\n\n" + "".join(f"(https://a.example/{n})\n\n" for n in range(14000))
    return partial(segment, Report(system="s", task_id="t", text=text))


CASES = [
    # reports/citations.py
    # before: four \s* in a row around optional marks: 18 s on 400 spaces
    pytest.param(lambda: partial(split_references, "References" + " " * 400 + "x"), id="references-heading"),
    # before: quadratic: 24 s
    pytest.param(lambda: partial(scan_citations, "(see" + " " * 30000 + "x"), id="paren-url-lead-in"),
    # before: quadratic: 13 s
    pytest.param(lambda: partial(scan_citations, "a [1]" + " " * 40000 + "x [2]"), id="between-markers"),
    # before: quadratic: 10 s
    pytest.param(lambda: partial(scan_citations, "[1" + " " * 30000 + "-2]"), id="marker-number-split"),
    # before: every "![" scanned the rest of the line: 12 s
    pytest.param(lambda: partial(scan_citations, "![" * 20000), id="image-alt"),
    # before: 18 s
    pytest.param(lambda: partial(scan_citations, "![a](" * 20000), id="image-target"),
    # before: quadratic: 15 s
    pytest.param(
        lambda: partial(parse_reference_entries, "## References\n[1] url" + " " * 40000 + "x https://a.example"),
        id="entry-title-url-suffix",
    ),
    # reports/formats/references.py
    # before: a lazy name between runs of \s*: over 60 s on 1,000 spaces
    pytest.param(lambda: partial(reference_heading, "# a" + " " * 1000 + "x"), id="reference-heading-line"),
    # before: 4,000 Python steps per "[1](http" of a run of them: 13 s
    pytest.param(lambda: partial(normalise_references, "[1](http://a(" * 15000), id="link-target-end"),
    # before: the same loop: 7 s
    pytest.param(lambda: partial(parse_sources, "[a](http://a(" * 15000), id="source-list-links"),
    # before: a search back to the start of the text per URL: 10 s
    pytest.param(lambda: partial(parse_sources, "http://a.example/x " * 240000), id="bare-url-list"),
    # before: a scan of the numbers given per label: 20 s
    pytest.param(
        lambda: partial(normalise_references, "\n".join(f"[^{n}]: https://a.example" for n in range(40000))),
        id="footnote-definitions",
    ),
    # before: the References list re-read per linked marker: 28 s
    pytest.param(_linked_markers, id="linked-marker-entries"),
    # reports/formats/openai_responses.py
    # before: every "[" scanned the rest of the line: 12 s
    pytest.param(lambda: partial(_only_links, "[" * 40000), id="link-only-span"),
    # before: every span tested against every other: 11 s
    pytest.param(lambda: _citations([(n, n + 1) for n in range(0, 80000, 10)], "x" * 80000), id="span-overlaps"),
    # before: list membership per annotation: 13 s
    pytest.param(lambda: _citations([(0, 1)] * 32000, "xx"), id="span-numbers"),
    # before: a new sorted list per span merged into an edit: 14 s
    pytest.param(lambda: _citations([(n, 80000) for n in range(0, 80000, 4)], "x" * 80000), id="edit-numbers"),
    # factcheck/claims.py
    # before: cubic: over 60 s
    pytest.param(lambda: partial(content_blocks, "# a" + " " * 5000 + "x\n"), id="heading-title"),
    # before: quadratic: 12 s
    pytest.param(lambda: partial(content_blocks, "copy" + " " * 40000 + "x\n"), id="chrome-line"),
    # before: quadratic: 16 s
    pytest.param(
        lambda: partial(content_blocks, "| 1`" + " " * 20000 + "`! | b |\n|---|---|\n| 1 | 2 |\n"),
        id="data-like-header",
    ),
    # before: the sentence's text and lists copied per block: 9 s
    pytest.param(_segment_after_citation_blocks, id="citation-blocks-attached"),
    # agents
    # before: every unclosed tag scanned the rest of the text: 22 s
    pytest.param(lambda: partial(strip_tool_markup, "<use_mcp_tool>" * 12000), id="unclosed-tool-calls"),
    # before: 27 s
    pytest.param(lambda: _parse("<use_mcp_tool>" + "<arguments>" * 15000 + "</use_mcp_tool>"), id="unclosed-fields"),
    # before: cubic: 11 s on 2,500 spaces
    pytest.param(
        lambda: _parse(
            "<use_mcp_tool><server_name>s</server_name><tool_name>google_search</tool_name>"
            "<arguments>```" + " " * 2500 + "x</arguments></use_mcp_tool>"
        ),
        id="arguments-fence",
    ),
    # before: 15 s
    pytest.param(lambda: partial(strip_thinking, "<think>" * 17000), id="unclosed-thinking"),
    # reports/formats/html.py
    # before: every "<title>" scanned the rest of the page: over 60 s
    pytest.param(lambda: partial(_TITLE.search, "<title>" * 28000), id="page-title"),
    # before: ^\s* ran on over the blank lines from every line start: 9 s
    pytest.param(lambda: _page("<pre>x" + " \n" * 10000 + "y</pre>"), id="markdown-structure-counts"),
    # before: a set of every cut of the URL: 10 s and about 2 GB
    pytest.param(lambda: _page("<p>http://a" + ")" * 60000 + "</p>"), id="link-url-cuts"),
    # report/markdown.py
    # before: quadratic: 11 s
    pytest.param(lambda: partial(render_markdown, "references" + " " * 40000 + "x"), id="rendered-references-title"),
    # validity/probes.py
    # before: every opening without a closer scanned the rest of the line: 8.5 s
    pytest.param(lambda: partial(trim_style, " **y" * 10000, 1), id="bold-openings"),
    # before: quadratic: 8 s
    pytest.param(lambda: partial(trim_style, "para\n" + " " * 20000 + "x\n", 3), id="table-rule-spaces"),
    # before: ^\s* ran on over the block's blank lines from every line start: 12 s
    pytest.param(
        lambda: partial(
            fake_citation_variants,
            "# T\n\nBody sentence [1].\n\n## References\n\n```\n" + "\n" * 60000 + "x\n```\n",
            1,
            0,
        ),
        id="references-code-block",
    ),
    # before: 13 s
    pytest.param(
        lambda: partial(evidence_targets, "para [1] 5.\n```\n" + "\n" * 20000 + "x\n", {1}, 1, 0),
        id="sentences-of-code-block",
    ),
    # llm/client.py
    # before: cubic: 16 s on 2,500 spaces
    pytest.param(lambda: partial(_json, "```" + " " * 2500 + "x"), id="json-fence"),
]


@pytest.mark.parametrize("build", CASES)
def test_linear_on_hostile_input(build):
    call = build()
    started = time.monotonic()
    call()
    assert time.monotonic() - started < LIMIT_S
