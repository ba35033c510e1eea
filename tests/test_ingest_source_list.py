"""Source lists as the products export them (drevalkit.ingest.formats.source_list): under a heading in any language
with wrapped entries, without a heading as ChatGPT's .docx export writes them, a trailing numbered list that the text
cites; entries' access dates in eight languages, doi:/arXiv: targets, tracking parameters and attachments.

The entry texts are ours, modelled on published Gemini, ChatGPT and pandoc exports (see tests/data/import/)."""

import pytest

from drevalkit.ingest.formats.source_list import clean_url, find_source_list, read


def _entries(text):
    found = find_source_list(text)
    assert found is not None
    return [(e.numbers, e.url, e.title) for e in found.entries]


@pytest.mark.parametrize(
    "line, title",
    [
        (
            "1. Webb history \\- JWST Archive, accessed July 24, 2025, [https://j.example/h](https://j.example/h)  ",
            "en",
        ),
        ("1. 韦布历史 \\- JWST Archive, 访问时间为 六月 24, 2025， [https://j.example/h](https://j.example/h)", "zh"),
        ("1. 韋伯歷史 - JWST Archive, 檢索日期：11月 27, 2025， [https://j.example/h](https://j.example/h)", "zh-tw"),
        (
            "1. ウェッブの歴史 \\- JWST Archive, 2月 12, 2026にアクセス、 [https://j.example/h](https://j.example/h)",
            "ja",
        ),
        ("1. Historia \\- JWST Archive, acceso: febrero 24, 2026, [https://j.example/h](https://j.example/h)", "es"),
        ("1. Histoire \\- JWST Archive, consulté le mai 6, 2026, [https://j.example/h](https://j.example/h)", "fr"),
        (
            "1. Geschichte \\- JWST Archive, Zugriff am Januar 30, 2026, [https://j.example/h](https://j.example/h)",
            "de",
        ),
        ("1. Webb history - JWST Archive, retrieved on 24 July 2025, https://j.example/h", "en, day first"),
    ],
)
def test_access_dates_leave_titles_in_every_language(line, title):
    entry = read(line)
    assert entry is not None and entry.numbers == (1,) and entry.url == "https://j.example/h"
    assert entry.title.endswith("JWST Archive") and "2025" not in entry.title and "2026" not in entry.title, title


def test_doi_and_arxiv_targets_attachments_and_entries_without_a_url():
    doi = read("4. A paper, Journal (2022), doi:10.5555/jwst.2022.7.")
    assert (doi.url, doi.title, doi.converted) == (
        "https://doi.org/10.5555/jwst.2022.7",
        "A paper, Journal (2022)",
        True,
    )
    arxiv = read("[5] [9] Galaxies at z>13, arXiv:2405.18485v2")
    assert (arxiv.numbers, arxiv.url) == ((5, 9), "https://arxiv.org/abs/2405.18485v2")
    assert read("2. Kapitel 7\\_Missionsplan.pdf").attachment  # a file
    assert read("7. AI Agents: Automation's New Frontier").attachment  # a document named, no date, no URL
    book = read("12. Hubble and Beyond, committee report, accessed July 24, 2025")
    assert not book.attachment and book.url == ""  # a web source that lost its URL: unresolved, not a file


def test_every_utm_parameter_leaves_a_url_and_nothing_else():
    assert clean_url("https://a.example/x?utm_source=chatgpt.com") == "https://a.example/x"
    assert clean_url("https://a.example/x?id=3&utm_source=openai&utm_medium=ref&view=full#s") == (
        "https://a.example/x?id=3&view=full#s"
    )
    assert clean_url("https://a.example/utm_path?q=1") == "https://a.example/utm_path?q=1"


def test_wrapped_pandoc_entries_under_a_heading():
    text = (
        "Body^1^.\n\n#### 引用的著作\n\n"
        "1.  從 NGST 到韋伯 - JWST Archive, 檢索日期：5月\n"
        "    > 18, 2026，\n"
        "    > [[https://j.example/h]{.underline}](https://j.example/h)\n\n"
        "2.  成本 \\| 預算辦公室, 檢索日期：5月 18, 2026，\n"
        "    > [[https://b.example/c]{.underline}](https://b.example/c)\n"
    )
    assert _entries(text) == [
        ((1,), "https://j.example/h", "從 NGST 到韋伯 - JWST Archive"),
        ((2,), "https://b.example/c", "成本 | 預算辦公室"),
    ]


def test_chatgpt_docx_groups_without_a_heading_and_the_text_after_them():
    text = (
        "Closing paragraph. [3]\n\n\n\n"
        "[1] [3] Launch and deployment\n\nhttps://j.example/launch?utm_source=chatgpt.com\n\n"
        "[2] https://j.example/sunshield\n\nhttps://j.example/sunshield\n\n"
        "## Appendix\n\nMore text. [2]\n"
    )
    found = find_source_list(text)
    assert [(e.numbers, e.url, e.title) for e in found.entries] == [
        ((1, 3), "https://j.example/launch", "Launch and deployment"),
        ((2,), "https://j.example/sunshield", ""),
    ]
    lines = text.split("\n")
    assert lines[found.start] == "[1] [3] Launch and deployment" and lines[found.end] == "## Appendix"


def test_where_a_list_is_and_where_it_is_not():
    # a heading whose next lines are another document: the numbered run at the end, which the text cites, is the list
    stray = "Text.1 More.2\n\n#### **Works cited**\n\n# Another document\n\n1. A step\n2. Another\n\n"
    tail = "1. A, accessed July 24, 2025, https://a.example/1\n2. B, accessed July 24, 2025, https://b.example/2\n"
    assert [e.numbers for e in find_source_list(stray + tail).entries] == [(1,), (2,)]
    assert find_source_list("Text without markers.\n\n" + tail) is None  # a closing list of links nobody cites
    assert find_source_list("Steps:\n\n[1] Open the lid\n\n[2] Close it\n") is None  # [n] lines without URLs
    one = find_source_list("A claim. [1]\n\n[1] Only source\n\nhttps://a.example/1")
    assert [e.url for e in one.entries] == ["https://a.example/1"]  # one entry that ends the text
    lead = "Body.1\n\n## References\n\nSources used in the report:\n\n1. A https://a.example/1\n"
    assert [e.numbers for e in find_source_list(lead).entries] == [(1,)]
