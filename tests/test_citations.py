from pathlib import Path

from drevalkit.citations import cited_indices, parse_citations, scan_citations

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


def test_every_marker_style_gives_its_reference_numbers():
    text = (
        "a [1] b [2; 3] c [4–5] d [6—7] e [^8] f 【9†source】 g 【10†L10-L20】 h [11†L3-L8] i 【12:0†source】 j ¹³ "
        "k ⁽¹⁴⁾ l x¹⁵,¹⁶ m y¹⁷⁻¹⁹ n <sup>20</sup> o <sup>[21]</sup> p [cite: 22, 23] q 【24】 r ［25］ s"
    )
    assert cited_indices(text) == list(range(1, 26))


def test_brackets_and_superscripts_that_are_not_citations():
    text = (
        "a[0] x[1][2] obj.items[3] snake_case[4] `arr[5]` [2024] [1990-2000] [sic] [a] 40 km² 10⁶ 2³ x² "
        "![chart](https://img.example/c.png) [0, 6]"
    )
    assert cited_indices(text) == []
    assert cited_indices("grew[1] in 2023[2], U.S.[3], COVID-19[4] and 2023⁵ (5%⁶)") == [1, 2, 3, 4, 5, 6]
    assert cited_indices("```\nclaim [7]\n```\n[^8]: https://x.example/8\n") == []


def test_ipv6_urls_are_read_whole():
    text = (
        "The mirror [1] and the local copy [2] agree [3].\n\n## References\n"
        "[1] Mirror. http://[2001:db8::1]/x.\n"
        "[2] Local copy, http://[::1]:8080/p\n"
        "[3] [Zone](http://[fe80::1%25eth0]/status)\n"
    )
    citations, summary = parse_citations(text)
    assert [(c.index, c.url) for c in citations] == [
        (1, "http://[2001:db8::1]/x"),
        (2, "http://[::1]:8080/p"),
        (3, "http://[fe80::1%25eth0]/status"),
    ]
    assert [c.title for c in citations] == ["Mirror", "Local copy", "Zone"]
    assert summary["dangling_markers"] == [] and summary["uncited_references"] == []


def test_footnote_definitions_without_a_heading_are_entries():
    text = "Storage doubled[^1] and hydro led [^2][^3].\n\n[^1]: BNEF, https://a.example/1\n[^2]: https://b.example/2\n"
    citations, summary = parse_citations(text)
    assert [(c.index, c.url, c.title) for c in citations] == [
        (1, "https://a.example/1", "BNEF"),
        (2, "https://b.example/2", ""),
    ]
    assert summary["cited_indices"] == [1, 2, 3] and summary["dangling_markers"] == [3]


def test_inline_links_and_bare_urls_are_citations_without_a_number():
    text = (
        "See the [IEA review](https://iea.example/r_2023_final) ([bnef.com](https://bnef.example/x)). Prices fell "
        "(https://en.wikipedia.org/wiki/Price_(economics)). Data: https://data.example/a.csv. "
        "Also <https://auto.example/link>, not ![img](https://img.example/i.png), not `https://code.example`.\n\n"
        "#### **Works cited**\n1. Entry, accessed 2025, https://w.example/1\n"
    )
    citations, summary = parse_citations(text)
    assert [(c.index, c.url) for c in citations] == [
        (1, "https://w.example/1"),
        (None, "https://iea.example/r_2023_final"),
        (None, "https://bnef.example/x"),
        (None, "https://en.wikipedia.org/wiki/Price_(economics)"),
        (None, "https://data.example/a.csv"),
        (None, "https://auto.example/link"),
    ]
    assert citations[1].title == "IEA review" and citations[2].title == "bnef.com"
    assert summary["uncited_references"] == [1]


def test_scan_citations_spans_and_kinds():
    text = "Solar grew. [1], [2] Wind [x](https://x.example) (https://y.example) https://z.example/a. `c[3]`"
    tokens = scan_citations(text)
    assert [(t.kind, text[t.start : t.end], t.refs, t.urls, t.enclosed) for t in tokens] == [
        ("marker", "[1], [2]", (1, 2), (), False),
        ("link", "[x](https://x.example)", (), ("https://x.example",), False),
        ("url", "(https://y.example)", (), ("https://y.example",), True),
        ("url", "https://z.example/a", (), ("https://z.example/a",), False),
        ("code", "`c[3]`", (), (), False),
    ]


def test_a_run_of_thousands_of_superscript_digits_is_not_a_crash():
    from drevalkit.citations import cited_indices, parse_citations

    text = "A claim" + "¹" * 10000 + ".\n\n## References\n[1] A. https://a.example/x\n"
    citations, _ = parse_citations(text)
    assert [c.url for c in citations] == ["https://a.example/x"]
    assert all(n < 10000 for n in cited_indices(text))
