"""The report as the scorecard shows it (drevalkit.render.markdown): citation markers resolve exactly where the
fact-check's citation parse resolves them, whatever the shape of the References section."""

import html
import re

import pytest

from drevalkit.citations import parse_citations
from drevalkit.render.markdown import Highlight, render_markdown

from .support import Page

BODY = (
    "The bridge opened in 1998 [1]. It cost 12 million euros [2, 3]. Traffic doubled by 2010 [4].\n"
    "A later survey found cracks [5]."
)
ENTRIES = [
    "[1] Bridge history. https://bridges.example/history",
    "[2] Cost report. https://audit.example/cost",
    "[3] Budget debate, 1997. https://parliament.example/debate",
    "[4] Traffic counts. https://roads.example/counts",
]
REFERENCE_SHAPES = {
    "heading, blank line": BODY + "\n\n## References\n\n" + "\n".join(ENTRIES),
    "plain line, entries straight after": BODY + "\n\nReferences\n" + "\n".join(ENTRIES),
    "plain line glued to the body": BODY + "\nReferences\n" + "\n".join(ENTRIES),
    "bold line with a colon": BODY + "\n\n**Sources:**\n" + "\n".join(ENTRIES),
    "heading, entries straight after": BODY + "\n## Bibliography\n" + "\n".join(ENTRIES),
    "numbered list": BODY + "\n\n## References\n\n" + "\n".join(re.sub(r"^\[(\d)\]", r"\1.", e) for e in ENTRIES),
    "footnote definitions, no heading": BODY.replace("[", "[^").replace("[^2, 3]", "[^2][^3]")
    + "\n\n"
    + "\n".join(re.sub(r"^\[(\d)\]", r"[^\1]:", e) for e in ENTRIES),
    "link definitions, no heading": BODY
    + "\n\n"
    + "\n".join(re.sub(r"^\[(\d)\] (.*) (http\S+)", r"[\1]: \3", e) for e in ENTRIES),
}


def _shown(html: str) -> tuple[set[int], set[int]]:
    """(numbers of markers linked to an entry of the page, numbers shown as having no entry)."""
    page = Page(html)
    linked = {int(a["href"].removeprefix("#ref-")) for a in page.find("a", class_="cite")}
    missing = {int(m) for m in re.findall(r'<span class="cite-missing"[^>]*>(\d+)</span>', html)}
    return linked, missing


@pytest.mark.parametrize("shape", sorted(REFERENCE_SHAPES))
def test_the_page_resolves_the_markers_the_fact_check_resolves(shape):
    text = REFERENCE_SHAPES[shape]
    _, summary = parse_citations(text)
    resolved = set(summary["cited_indices"]) - set(summary["dangling_markers"])
    assert resolved == {1, 2, 3, 4} and summary["dangling_markers"] == [5], summary  # the parse reads every shape
    rendered = render_markdown(text)
    html = str(rendered.html)
    linked, missing = _shown(html)
    assert (linked, missing) == (resolved, {5})
    ids = [a["id"] for a in Page(html).find("span", class_="ref-entry")]
    assert sorted(ids) == [f"ref-{n}" for n in range(1, 5)]  # one anchor per entry, each a marker's target


def test_entries_run_into_a_plain_references_line_stand_one_a_line():
    # the paragraph "References\n[1] ...\n[2] ..." keeps its line breaks; the body's own paragraph does not
    text = "First line of prose\nwrapped here [1].\n\nReferences\n" + "\n".join(ENTRIES[:2])
    html = str(render_markdown(text).html)
    assert "First line of prose\nwrapped here" in html  # a soft break in prose stays a space
    assert re.search(r"References<br>\s*<span class=\"ref-entry\" id=\"ref-1\">\[1\]</span> Bridge history", html)
    assert html.count("<br>") == 2


def test_one_source_under_several_numbers_anchors_each():
    # an export lists "[1] [4] Title" with the URL on the next line: each number gets the entry's anchor
    text = "Cited twice [1] and again [4].\n\nReferences\n[1] [4] Bridge history\nhttps://bridges.example/history"
    linked, missing = _shown(str(render_markdown(text).html))
    assert (linked, missing) == ({1, 4}, set())


def test_a_number_listed_twice_has_one_anchor_and_nothing_else_numbered_becomes_one():
    text = (
        "Claim [1]. Claim [2].\n\n1. a list item in the body is not an entry\n\n## References\n"
        "[1] First. https://a.example/1\n[1] Again. https://a.example/again\n[2] Second. https://a.example/2"
    )
    html = str(render_markdown(text).html)
    assert [a["id"] for a in Page(html).find("span", class_="ref-entry")] == ["ref-1", "ref-2"]
    assert _shown(html) == ({1, 2}, set())


FORMULAS = (
    "#### Cost arithmetic\n\n"
    "The growth factor is \\( g = C_{2021} / C_{1997} \\approx 19.4 \\), and the slip is $t_{launch} - t_{plan} = 14$"
    " years [1]. It follows\n\\[ \\theta_{min} = 1.22 \\, \\lambda / D \\]\nfor a mirror where $x_1 * x_2$ and "
    "$a_i b_i$ stay as written, also $f[1]$ and $$\\sum_{i=1}^{n} a_i$$ [2].\n\n"
    "Money is not a formula: US$0.5 billion rose to US$5.0 billion, $5 and $10 are prices, \\[3\\] is a marker.\n\n"
    "## References\n[1] Cost. https://a.example/1\n[2] Optics. https://a.example/2\n[3] More. https://a.example/3\n"
)


def test_formulas_are_shown_as_written_and_never_cut_by_a_claim():
    claim = (
        "The growth factor is \\( g = C_{2021} / C_{1997} \\approx 19.4 \\), and the slip is "
        "$t_{launch} - t_{plan} = 14$ years [1]."
    )
    # a claim whose sentence ends inside a formula (a splitter cut it there): its links go after the formula
    cut = "It follows \\[ \\theta_{min} = 1.22"
    rendered = render_markdown(FORMULAS, [Highlight(claim, [(1, "right")]), Highlight(cut, [(2, "wrong")])])
    page = str(rendered.html)
    formulas = re.findall(r'<span class="(math(?: math-block)?)">(.*?)</span>', page, re.S)
    assert [(kind, html.unescape(text)) for kind, text in formulas] == [
        ("math", "\\( g = C_{2021} / C_{1997} \\approx 19.4 \\)"),
        ("math", "$t_{launch} - t_{plan} = 14$"),
        ("math math-block", "\\[ \\theta_{min} = 1.22 \\, \\lambda / D \\]"),
        ("math", "$x_1 * x_2$"),
        ("math", "$a_i b_i$"),
        ("math", "$f[1]$"),
        ("math math-block", "$$\\sum_{i=1}^{n} a_i$$"),
    ]
    assert "<em>" not in page  # no "_" or "*" of a formula became emphasis
    assert rendered.highlighted == {1, 2}
    for _, text in formulas:  # no claim link, citation link or highlight inside a formula
        assert "<" not in text
    assert re.search(r'\\approx 19\.4 \\\)</span></mark><mark class="hl v-right"', page)
    assert re.search(r'1\.22 \\, \\lambda / D \\\]</span></mark><sup class="claim-tags">', page)
    # the money and the escaped marker stay text: US$ amounts are not cut, \[3\] links its entry
    assert "US$0.5 billion rose to US$5.0 billion, $5 and $10 are prices" in page
    assert _shown(page) == ({1, 2, 3}, set())


def test_a_claim_with_letters_whose_lower_case_is_longer_is_marked_whole():
    """ "İ" lower-cases to two characters: the letters compared and the places they came from stay aligned (the
    claim after it was marked out of place, or the page failed)."""
    text = "İSTANBUL İL MECLİSİ approved the İzmir line in 2019 [1]. The line opened in 2023 [1].\n\n## References\n\n[1] Line. https://rail.example/izmir"
    rendered = render_markdown(
        text,
        [
            Highlight("İSTANBUL İL MECLİSİ approved the İzmir line in 2019 [1].", [(1, "right")]),
            Highlight("The line opened in 2023 [1].", [(2, "wrong")]),
        ],
    )
    page = str(rendered.html)
    assert rendered.highlighted == {1, 2}
    assert re.search(r'<mark class="hl v-right"[^>]*>İSTANBUL İL MECLİSİ approved the İzmir line in 2019 ', page)
    assert re.search(r'<mark class="hl v-wrong"[^>]*>The line opened in 2023 ', page)
