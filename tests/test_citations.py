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


# --------------------------------------------------------------------------- markers written without brackets

LISTED = range(1, 40)  # the numbers of a source list the markers below are read against


def _refs(text, loose=""):
    return [t.refs for t in scan_citations(text, LISTED, loose) if t.kind == "marker"]


def test_markers_glued_to_a_clause_are_read_against_the_source_list():
    hits = (
        'their offspring.1 Next, history.11,12 More; (ROI).4 Then "sufficient".3 and **bold**.5 then '
        "said so;6 but also,7 and why?8 or U.S.9\\\n"
    )
    assert _refs(hits) == [(1,), (11, 12), (4,), (3,), (5,), (6,), (7,), (8,), (9,)]
    assert [t.bare for t in scan_citations("grew.1 x", LISTED)] == [True]
    assert [t.refs for t in scan_citations("grew.1 x", {1, 2})] == _refs("grew.1 x")  # any collection of numbers
    assert scan_citations("grew.1 x") == []  # without the list's numbers nothing unbracketed is read
    assert _refs("grew.45 x") == []  # a number the list lacks is no marker


def test_numbers_glued_to_clauses_that_are_not_markers():
    near_misses = (
        "Capacity reached 2.5 GW. See Table 3.1 and version 2.0 of the plan, adopted in 2019. Section 1\\. "
        "Fig.3 and No.5 and pp.12 and v.2 are labels. 1,000,000 people, $5.5 and 3:1 odds. The 2021.8 revision. "
        "Ratio 10.5% and e.g.1x. The URL https://a.example/x.1 and `code.1 ` stay. Listed:1.5 and x.1.2 too."
    )
    assert _refs(near_misses) == []
    assert _refs(near_misses, "spaced") == []


def test_markers_spaced_before_cjk_punctuation_and_their_near_misses():
    assert _refs("非同步エージェントの能力を備えている 1。一方で") == [(1,)]
    assert _refs("成本增长到约 100 亿美元 2, 3。主镜") == [(2, 3)]
    assert _refs("免费方案僅有 10 毫秒）3，以及") == [(3,)]
    assert _refs("遷移至 KV, D1, R2 4。") == [(4,)]
    assert _refs("韦布进入日地 L2 点附近的晕轨道 7\n下一段") == [(7,)]
    assert _refs("部署。1 然後") == [(1,)]
    assert _refs("约 5 亿美元，共有 18 块镜片，增长了 12 倍。表 3。第 4。") == []
    assert _refs("the report ends 5\n") == []  # a spaced number at a line's end is a marker only after CJK


def test_spaced_markers_before_commas_colons_and_cell_ends_need_loose():
    text = "Launch was run by Arianespace 8, and the plan lists milestones 9: first | Replan review 5 |"
    assert _refs(text) == []
    assert _refs(text, "spaced") == [(8,), (9,), (5,)]
    near_misses = "rose by about 16, 32 and 64 percent; top 10: x; see Figure 2, | Llama 3 | step 4; grew to 5,"
    assert _refs(near_misses, "spaced") == []
    assert _refs("| 打ち上げ記録 4 |", "spaced") == [(4,)]  # a CJK cell of words and its marker


def test_lettered_markers_only_after_a_plain_lowercase_word():
    text = "fundamentally polyadic1. self-realization21, and efficiently1, 3. Python3. GPT4. x-ray3: mp3."
    assert _refs(text) == []
    assert _refs(text, "lettered") == [(1,), (21,), (1, 3), (3,)]


def test_reports_earn_their_spaced_and_lettered_markers():
    """Spaced markers are read once a report has glued ones, lettered ones only in a report written so."""
    from drevalkit.citations import prose_markers

    glued = "One.1 Two.2 Three.3 and Arianespace 4, done."
    assert [t.refs for _, t in prose_markers(glued, LISTED)] == [(1,), (2,), (3,), (4,)]
    few = "One.1 and Arianespace 4, done."
    assert [t.refs for _, t in prose_markers(few, LISTED)] == [(1,)]
    lettered = "gold1. space2. light3. launch4."
    assert [t.refs for _, t in prose_markers(lettered, LISTED)] == [(1,), (2,), (3,), (4,)]
    bracketed = "[1] [2] [3] [4] and python3. and the ipv6, stack"
    assert [t.refs for _, t in prose_markers(bracketed, LISTED)] == [(1, 2, 3, 4)]


def test_pandoc_superscripts_cite_and_exponents_do_not():
    assert cited_indices("提出^1^。成本^2,3^ and 2.5 × 10^5^ cm^2^ x^2^ mass^4^") == [1, 2, 3, 4]


def test_references_headings_in_the_languages_exports_use():
    from drevalkit.citations import is_reference_heading, split_references

    for heading in (
        "#### **Works cited**",
        "#### **引用的著作**",
        "#### 引用的著作",
        "#### **引用文献**",
        "#### **Fuentes citadas**",
        "#### **Sources des citations**",
        "#### **Ouvrages cités**",
        "#### **Zitierte Werke**",
        "#### **Referenzen**",
        "## 参考文献",
        "**References:**",
    ):
        assert is_reference_heading(heading), heading
        body, section = split_references(f"Text.1\n\n{heading}\n\n1. A, https://a.example/1\n")
        assert body.rstrip() == "Text.1" and section.strip().startswith(heading.strip()), heading
    assert not is_reference_heading("## Sources of error in the data")
    # the last heading with entries after it is the section, not a later empty one
    text = "Body.\n\n## Works cited\n\n1. A https://a.example/1\n\n## Sources\n\nNone of the above.\n"
    assert split_references(text)[1].strip().startswith("## Works cited")


def test_entry_lines_grouped_quoted_escaped():
    from drevalkit.citations import read_entry

    assert read_entry("[1] [4] [8] Top Gear 2") == ((1, 4, 8), "", "Top Gear 2")
    assert read_entry("> 3. Gold coatings \\- Optics, [https://o.example/a\\_b](https://o.example/a_b)") == (
        (3,),
        "https://o.example/a_b",
        "Gold coatings \\- Optics",
    )
    assert read_entry("1\\. Building, https://docs.example/red\\_hat\\_x") == (
        (1,),
        "https://docs.example/red_hat_x",
        "Building",
    )
    assert read_entry("12、第十二条 https://a.example/12")[0] == (12,)
    assert read_entry("Not an entry") is None


def test_a_gemini_export_parses_without_import():
    """The kernel alone links a Docs export: glued markers resolve to its Works cited entries."""
    text = (
        "Webb was proposed in 1996 as a successor.1 Its cost grew to US$10 billion.2,3 The plan lists milestones 4: alignment.\n\n"
        "#### **Works cited**\n\n"
        "1. History \\- JWST Archive, accessed July 24, 2025, [https://j.example/h](https://j.example/h)  \n"
        "2. Cost, accessed July 24, 2025, [https://j.example/c](https://j.example/c)  \n"
        "3. Budget, accessed July 24, 2025, [https://j.example/b](https://j.example/b)  \n"
        "4. Milestones, accessed July 24, 2025, [https://j.example/m](https://j.example/m)  \n"
    )
    citations, summary = parse_citations(text)
    assert [c.index for c in citations] == [1, 2, 3, 4]
    assert summary["cited_indices"] == [1, 2, 3] and summary["dangling_markers"] == []  # 4: spaced, too few glued
