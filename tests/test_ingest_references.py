"""Canonical citations (drevalkit.ingest.formats.references): whatever the export, the imported markdown has [n]
markers and one final ``## References`` list of ``[n] Title - URL`` lines, the counts say how many markers link, and
canonical markdown comes back unchanged.

The fixtures in tests/data/import/gemini-docs/ and chatgpt-docx/ are written for these tests, modelled on published
Gemini Deep Research reports exported from Google Docs (English, Chinese, Japanese, Spanish, French, German; a pandoc
conversion of the .docx export; the newer export with markers after the word) and ChatGPT deep-research reports
converted from .docx; none is a third-party output.
"""

import re
from pathlib import Path

import pytest

from drevalkit.citations import parse_citations
from drevalkit.ingest.formats.references import normalise_references
from drevalkit.ingest.importers import read_reports

DATA = Path(__file__).resolve().parent / "data" / "import"


def _imported(name: str):
    (report,) = read_reports(DATA / name, max_bytes=10_000_000)[1]
    assert report.failure is None and report.citations is not None
    return report


@pytest.mark.parametrize(
    "name, markers, resolved, attached, unresolved, sources",
    [
        ("gemini-docs/webb-history-en.md", 12, 10, 1, 1, 13),
        ("gemini-docs/webb-history-zh.md", 7, 7, 0, 0, 7),
        ("gemini-docs/webb-history-zh-tw.md", 4, 4, 0, 0, 4),
        ("gemini-docs/webb-history-ja.md", 5, 5, 0, 0, 5),
        ("gemini-docs/webb-history-es.md", 4, 4, 0, 0, 4),
        ("gemini-docs/webb-history-fr.md", 3, 3, 0, 0, 3),
        ("gemini-docs/webb-history-de.md", 3, 2, 1, 0, 3),
        ("gemini-docs/webb-history-lettered.md", 4, 4, 0, 0, 4),
        ("chatgpt-docx/webb-deployment-docx.md", 7, 7, 0, 0, 4),
        ("chatgpt-docx/webb-despliegue-docx.md", 3, 3, 0, 0, 2),
        ("markdown/webb-papers-doi.md", 3, 2, 1, 0, 3),
        ("markdown/webb-instruments-unlinked.md", 5, 1, 0, 4, 1),
    ],
)
def test_each_format_links_its_markers_and_imports_canonical(name, markers, resolved, attached, unresolved, sources):
    report = _imported(name)
    counts = report.citations
    assert (counts.markers, counts.resolved, counts.attached, counts.unresolved, counts.sources) == (
        markers,
        resolved,
        attached,
        unresolved,
        sources,
    )
    body, _, references = report.text.partition("\n\n## References\n\n")
    assert references and "## References" not in body  # one final list
    lines = references.splitlines()
    assert len(lines) == sources and all(re.fullmatch(r"\[\d+\] \S.*", line) for line in lines)
    assert all(re.fullmatch(r"\[\d+\] (?:.* - )?https?://\S+|.*\((?:attached file, )?no URL\)", line) for line in lines)
    citations, summary = parse_citations(report.text)  # what every later stage reads
    linked = {c.index for c in citations if c.index is not None}
    assert len(linked) == sum(1 for line in lines if "http" in line)
    assert len([n for n in summary["cited_indices"] if n in linked]) == len(summary["cited_indices"]) - len(
        summary["dangling_markers"]
    )
    assert normalise_references(report.text).text == report.text  # canonical stays as it is
    assert not re.search(r"utm_", report.text)


def test_gemini_markers_are_written_bracketed_and_its_near_misses_are_left_alone():
    report = _imported("gemini-docs/webb-history-en.md")
    for rewritten in (
        "successor to Hubble.[1] Its",
        "by launch.[2, 3] The",
        'whole project".[5]',
        "summarises the changes).[6]",
        "about 2.0 kW.[7]",
        "Arianespace [8], and",
        "milestones [9]: segment",
        "**first science images**.[10]",
        "| Replan review [5] |",
        "| Early planning estimate [2] |",
    ):
        assert rewritten in report.text, rewritten
    for kept in (
        "in 1996 as",
        "Section 1\\. Budget",
        "US$9.66 billion (Table 3.1",
        "version 2.0 of the deployment software in 2019.",
        "Figure.3 and No.5",
        "about 16, 32 and 64 percent",
        "| Llama 3 |",
        "The 2021.8 revision",
        "January 2022\\.",
    ):
        assert kept in report.text, kept
    assert report.text.endswith(
        "[11] Webb_Mission_Brief.pdf (attached file, no URL)\n"
        "[12] HST and Beyond: Exploration and the Search for Origins (no URL)\n"
        "[13] Webb and Europe - ESA News - https://esa-news.example/science/webb-europe"
    )
    assert "[3] Webb cost overview - Budget Office - https://budget-office.example/webb_cost_overview" in report.text
    assert report.citations.rewritten == {
        "markers without brackets written [n]": 14,
        "source lists written as the canonical ## References": 1,
    }
    assert report.warnings == []  # 11 of 12 markers cite a source or an attached file


def test_cjk_markers_and_localised_entries():
    zh = _imported("gemini-docs/webb-history-zh.md").text
    for rewritten in (
        "红外继任者 [1]。",
        "100 亿美元 [2, 3]。",
        "6 倍）[4]。",
        "升空。[6] 遮阳罩",
        "故障环节 [6]。",
        "晕轨道 [7]",
    ):
        assert rewritten in zh, rewritten
    for kept in ("约 5 亿美元", "由 18 块", "阿丽亚娜 5 号", "共有 5 层"):
        assert kept in zh, kept
    assert "[3] 韦布成本概览 - 预算办公室 - https://budget-office.example/zh/webb_cost" in zh
    pandoc = _imported("gemini-docs/webb-history-zh-tw.md").text
    assert "提出[1]。" in pandoc and "億美元[2, 3]。" in pandoc and "10^5^ 平方公分[4]。" in pandoc
    assert "[2] 成本與時程：韋伯預算如何增長 - JWST Archive - https://jwst-archive.example/zh-tw/cost" in pandoc
    ja = _imported("gemini-docs/webb-history-ja.md").text
    assert "提案された [1]。" in ja and "| 打ち上げ記録 [4] |" in ja and "アリアン 5 ロケット" in ja


def test_chatgpt_docx_groups_become_one_source_each():
    report = _imported("chatgpt-docx/webb-deployment-docx.md")
    body, _, references = report.text.partition("\n\n## References\n\n")
    assert references.splitlines() == [
        "[1] Launch and deployment: Webb's first months in space - https://jwst-archive.example/launch",
        "[2] https://jwst-archive.example/sunshield",
        "[3] Primary mirror wings latched | JWST Archive - https://jwst-archive.example/mirror-wings?view=full",
        "[6] Cost and schedule: how the Webb budget grew - https://jwst-archive.example/cost",
    ]
    assert "cooled further by a cryocooler to under 7 kelvin. [1]" in body  # [4] was a number of source 1
    assert "about US$10 billion. [2, 6]" in body  # [5] [6]
    assert body.endswith("could not be checked against a primary source. [1]")  # [8]: the same URL as [1]
    assert "8 January. [2] [3]" in body and "\nLaunch on Ariane 5\n\n[1]\n" in body  # flattened table cells
    assert report.citations.rewritten["markers renumbered to their source's first number"] == 3
    assert report.citations.rewritten["entries merged: one URL listed twice"] == 1


def test_doi_arxiv_and_attachments_are_listed_as_such():
    report = _imported("markdown/webb-papers-doi.md")
    assert report.text.split("## References\n\n")[1].splitlines() == [
        "[1] Early spectroscopy of distant galaxies with Webb. Astronomy Letters (2023) - "
        "https://doi.org/10.5555/jwst.2023.0042",
        "[2] A galaxy at redshift 14 confirmed by NIRSpec - https://arxiv.org/abs/2405.18485",
        "[3] team-notes-2024.docx (attached file, no URL)",
    ]
    assert report.warnings == [] and report.citations.cause == ""


def test_a_poorly_linked_report_is_warned_about_with_the_cause():
    report = _imported("markdown/webb-instruments-unlinked.md")
    assert report.warnings == [
        "only 1 of 5 markers cite a source (20%): markers cite numbers the source list lacks (2, 3, 4, 5; it lists "
        "only 1)"
    ]
    none = normalise_references("Claim one [1]. Claim two [2].")
    assert none.counts.cause.startswith("no source list found") and none.text == "Claim one [1]. Claim two [2]."
    uncited = normalise_references("Webb launched in 2021.\n\n#### **Works cited**\n\n1. A, https://a.example/1\n")
    assert (uncited.counts.markers, uncited.counts.sources) == (0, 1)
