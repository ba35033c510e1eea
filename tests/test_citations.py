from pathlib import Path

from drevalkit.reports.citations import cited_indices, parse_citations

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_markers_lists_and_ranges():
    assert cited_indices("A [1] b [2, 3] c [5-7] d [2] e [link](https://x.example) f [3–4]") == [1, 2, 3, 5, 6, 7, 4]


def test_references_section_and_inline_links():
    text = (
        "# T\nClaim one [1]. Claim two [2][4]. See [the site](https://site.example/page).\n\n"
        "## References\n"
        "[1] First source. https://a.example/one\n"
        "2. Second source - https://b.example/two.\n"
        "- [3] [Third](https://c.example/three)\n"
        "Not a reference line\n"
    )
    citations, summary = parse_citations(text)
    by_index = {c.index: c for c in citations}
    assert by_index[1].url == "https://a.example/one" and by_index[1].title == "First source"
    assert by_index[2].url == "https://b.example/two" and by_index[2].title == "Second source"
    assert by_index[3].url == "https://c.example/three" and by_index[3].title == "Third"
    assert by_index[None].url == "https://site.example/page"
    assert summary["dangling_markers"] == [4]
    assert summary["uncited_references"] == [3]


def test_sample_report_citations_match_corpus():
    import json

    citations, summary = parse_citations((SAMPLES / "report.md").read_text())
    urls = set(json.loads((SAMPLES / "corpus" / "urls.json").read_text()).values())
    numbered = [c for c in citations if c.index is not None]
    assert len(numbered) >= 6
    assert {c.url for c in citations} <= urls
    assert summary["dangling_markers"] == []
