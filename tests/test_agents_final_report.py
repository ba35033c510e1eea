"""The agent's final report (drevalkit.agents.final_report): its citation map rebuilt from the pages the agent read
(pages never read flagged), an unnumbered list wrapped in a fence, a report without references, and error or give-up
text that never becomes a report."""

import pytest

from drevalkit.agents.final_report import build_report
from drevalkit.agents.protocols.base import strip_thinking
from drevalkit.agents.tools import PageRead, TaskTools, Toolbox, url_key
from drevalkit.schemas import SearchHit


def tools_with(read: dict[str, str], seen: dict[str, str] | None = None) -> TaskTools:
    tools = Toolbox(None, None, page_chars=1000, search_results=5).for_task()  # type: ignore[arg-type]  # no search or fetch: the report never calls them
    for url, title in read.items():
        tools.read_pages[url_key(url)] = PageRead(url=url, final_url=url, title=title, chars=10, turn=1)
    for url, title in (seen or {}).items():
        tools.seen[url_key(url)] = SearchHit(url=url, title=title)
    return tools


REPORT = """<think>I will now write.</think>
# Webb's cost

The telescope cost about 10 billion dollars [1]. It launched in 2021 [2]. A third figure [3]. Unknown [7].
See also [a page](https://inline.example/page).

## References

[1] my title. https://a.example/cost/
[2] B. https://b.example/launch#top
[3] C. https://c.example/never
"""


def test_report_citation_map_flags_pages_never_read():
    tools = tools_with(
        {"https://a.example/cost": "Cost of Webb", "https://b.example/launch": "Launch"},
        seen={"https://c.example/never": "C"},
    )
    report = build_report(strip_thinking(REPORT), tools)
    assert report.failure is None and "<think>" not in report.text
    by_index = {c.index: c for c in report.citations}
    assert by_index[1].read and by_index[1].title == "Cost of Webb" and by_index[2].read
    assert not by_index[3].read and "only saw in search results" in by_index[3].problem
    assert "no URL" in by_index[7].problem
    inline = next(c for c in report.citations if c.index is None)
    assert inline.url == "https://inline.example/page" and "never read" in inline.problem
    assert {c.index for c in report.unread} == {3, 7, None}
    # References rebuilt from the pages read: their titles, and the URLs they were read at
    assert "[1] Cost of Webb - https://a.example/cost\n" in report.text
    assert "[2] Launch - https://b.example/launch\n" in report.text and report.text.count("## References") == 1
    assert "[3] C - https://c.example/never" in report.text  # kept, flagged in the metadata


def test_report_unnumbered_list_wrapped_in_a_fence_and_without_references():
    tools = tools_with({"https://a.example/x": "A"})
    fenced = "```markdown\n# R\n\nFact one [1].\n\n## Sources\n\n- https://a.example/x\n```"
    report = build_report(fenced, tools)
    assert report.failure is None and not report.text.startswith("```")
    assert report.citations[0].index == 1 and report.citations[0].read and not report.unread
    bare = build_report("# R\n\nNo citations in this report at all, which is allowed but weak.", tools)
    assert bare.failure is None and "References" not in bare.text and not bare.citations


@pytest.mark.parametrize(
    "answer, rule",
    [
        ("Error generating final report: context length exceeded", "error-message"),
        ("No answer found after 50 turns.", "error-message"),
        ("I was unable to find enough reliable information to answer this question.", "give-up"),
        ("   ", "empty"),
    ],
)
def test_error_and_give_up_text_never_becomes_a_report(answer, rule):
    report = build_report(answer, tools_with({}))
    assert report.failure is not None and report.failure.startswith(rule) and report.text == ""
