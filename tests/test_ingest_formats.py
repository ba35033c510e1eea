"""Defects found by a new-user review of ``dreval import``: short HTML pages flattened and their reference links
lost, DeepResearchEval source lists in other shapes silently dropped, no hint when a file is plainly another
format, and counts such as "1 reports".

The fixtures (tests/data/import/html/heat-pumps-short.html, tests/data/import/deepresearcheval/shapes/) are written for
these tests; none is a third-party output.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.citations import parse_citations
from drevalkit.cli import main
from drevalkit.ingest.formats.base import ReportError
from drevalkit.ingest.formats.deepresearcheval import parse_sources
from drevalkit.ingest.formats.html import html_to_markdown
from drevalkit.ingest.importers import import_reports, read_reports
from drevalkit.ingest.sidecar import read_sidecar

DATA = Path(__file__).resolve().parent / "data" / "import"
SHAPES = DATA / "deepresearcheval" / "shapes"
MB = 1_000_000
HEAT_PUMP_SOURCES = [
    (1, "https://meti.example/h1", "Heat pump statistics 2024"),
    (2, "https://meti.example/h2", "Grant scheme evaluation"),
]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _read(path: Path, format_name=None):
    return read_reports(path, format_name, max_bytes=100 * MB)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shape_file(number: int) -> Path:
    return SHAPES / f"deep_research_{number}_20250901_100000.json"


# --------------------------------------------------------------------------------------------------------- HTML


def _longer(page: str, paragraphs: int) -> str:
    """The short heat-pump page with more paragraphs before its key figures."""
    filler = "".join(
        f"<p>Survey region {i} reported uptake ahead of the national rate in 2024 [1].</p>\n" for i in range(paragraphs)
    )
    return page.replace("<h2>Key figures</h2>", filler + "<h2>Key figures</h2>")


@pytest.mark.parametrize("paragraphs", [0, 6])
def test_html_page_keeps_headings_lists_tables_and_titled_references(tmp_path, paragraphs):
    """trafilatura flattens a short page, and on short and longer pages alike drops a link-only References list;
    the <article> is converted instead."""
    page = tmp_path / "heat-pumps.html"
    page.write_text(_longer((DATA / "html" / "heat-pumps-short.html").read_text(), paragraphs))
    fmt, (report,) = _read(page)
    assert fmt == "html" and report.meta["title"] == "Heat pump uptake - report"
    assert report.text.startswith("# Heat Pump Uptake in 2024\n\nInstallations rose by a third in 2024 [1], driven")
    assert "\n## Key figures\n\n- Grants covered 40% of costs [2].\n- Waiting times fell to six weeks.\n" in report.text
    assert "| Year | Installations |\n|---|---|\n| 2023 | 30,000 |\n| 2024 | 40,000 |" in report.text
    assert "Home" not in report.text and "Copyright" not in report.text  # nav and footer are outside the article
    citations, summary = parse_citations(report.text)
    assert [(c.index, c.url, c.title) for c in citations] == HEAT_PUMP_SOURCES
    assert summary["dangling_markers"] == []
    assert report.notes == [
        "converted from HTML to markdown from the page's <article> element: trafilatura left out "
        "headings (2 of 3 kept), list items (2 of 4 kept), link URLs (0 of 2 kept)"
    ]


def test_html_page_trafilatura_converts_whole_keeps_its_conversion():
    (report,) = _read(DATA / "html" / "webb-results.html")[1]
    assert report.notes[0] == "converted from HTML to markdown with trafilatura"


def test_html_structure_still_lost_is_said_in_the_sidecar(tmp_path):
    """A table inside a list item is flattened by both converters: the sidecar says so."""
    page = tmp_path / "nested.html"
    page.write_text(
        "<html><body><article><h1>Costs</h1><p>Prices fell [1].</p><ul><li>By region:<table>"
        "<tr><th>Region</th><th>Cost</th></tr><tr><td>North</td><td>high</td></tr></table></li></ul>"
        "<h2>References</h2><ol><li><a href='https://meti.example/h1'>Heat pump statistics 2024</a>"
        "</li></ol></article></body></html>"
    )
    outcome = import_reports([page], tmp_path / "out")
    sidecar = read_sidecar(tmp_path / "out" / "nested.md")
    assert outcome.written and sidecar is not None
    assert "structure lost in the conversion: tables (0 of 1 kept)" in sidecar.notes
    assert parse_citations((tmp_path / "out" / "nested.md").read_text())[0][0].title == "Heat pump statistics 2024"


def test_large_html_page_is_converted_in_a_time_limited_worker():
    page = _longer((DATA / "html" / "heat-pumps-short.html").read_text(), 900)
    assert len(page) > 64 * 1024  # over INLINE_MAX_BYTES: not converted in this process
    converted = html_to_markdown(page)
    assert "Survey region 899 reported" in converted.text
    assert "2. [Grant scheme evaluation](https://meti.example/h2)" in converted.text
    with pytest.raises(ReportError, match="timed out"):
        html_to_markdown(page, timeout=0.001)


def test_repetitive_html_filler_is_refused_without_parsing(tmp_path):
    page = tmp_path / "filler.html"
    page.write_text("<html><body>" + "<div><a href='#'>x</a></div>" * 40_000 + "</body></html>")
    with pytest.raises(ReportError, match="filler.html: extraction refused: the markup is repetitive filler"):
        _read(page)


# ----------------------------------------------------------------------------------- DeepResearchEval sources


@pytest.mark.parametrize(
    "number, used, unused",
    [
        (
            21,
            HEAT_PUMP_SOURCES + [(3, "https://installers.example/survey", "Installer survey")],
            [("https://en.wikipedia.example/wiki/Heat_pump_(device)", "Heat pump - Wikipedia")],
        ),
        (
            22,
            [
                HEAT_PUMP_SOURCES[0],
                (2, "https://meti.example/h2", "meti.example"),
                (3, "https://installers.example/survey", "Installer survey"),
            ],
            [("https://en.wikipedia.example/wiki/Heat_pump_(device)", "en.wikipedia.example")],
        ),
        (
            23,
            [
                (1, "https://meti.example/h1", "meti.example"),
                (2, "https://meti.example/h2", "meti.example"),
                (3, "https://installers.example/survey", "Installer survey"),
            ],
            [],
        ),
    ],
)
def test_deepresearcheval_sources_in_other_shapes(number, used, unused):
    """Sections of {title, url}, strings holding URLs with heading strings between them, {url} / {link} objects."""
    (report,) = _read(_shape_file(number))[1]
    assert [(s.index, s.url, s.title) for s in report.sources_used] == used
    assert [(s.url, s.title) for s in report.sources_unused] == unused
    assert parse_citations(report.text)[1]["dangling_markers"] == [] and report.warnings == []


def test_deepresearcheval_unreadable_sources_warn_and_are_noted(tmp_path):
    result = invoke("import", "deepresearcheval", _shape_file(24), _shape_file(25), "--out", tmp_path)
    assert result.exit_code == 1
    stderr = _one_line(result.stderr)
    assert (
        "warning: " + str(_shape_file(24)) + ": could not read deep_research_sources: expected a string of "
        "'[title](url)' links"
    ) in stderr
    assert "got a dict; 3 markers have no source" in stderr
    assert "2 items of deep_research_sources could not be read" in stderr and "; 2 markers have no source" in stderr
    assert "imported 2 reports from 2 files into" in result.output and "2 warnings" in result.output
    sidecar = read_sidecar(tmp_path / "24.md")
    assert sidecar.sources_used == [] and any("could not read deep_research_sources" in n for n in sidecar.notes)
    assert [s.url for s in read_sidecar(tmp_path / "25.md").sources_used] == ["https://meti.example/h1"]


def test_deepresearcheval_source_strings_and_keyed_lists():
    gemini = json.loads((DATA / "deepresearcheval" / "gemini" / "deep_research_8_20250821_113000.json").read_text())
    parsed = parse_sources(gemini["entries"][0]["deep_research_sources"])
    assert [(s.index, s.title) for s in parsed.used] == [
        (1, "Instruments and partners | JWST Archive"),
        (2, "Webb and Hubble compared | JWST Archive"),
    ]
    assert parsed.unused == [] and parsed.unreadable == 0
    assert parse_sources(None).used == [] and parse_sources([]).unreadable == 0
    keyed = parse_sources(
        {
            "sources_used_in_the_report": [{"url": "https://meti.example/h1", "title": "Stats"}],
            "Sources read but not used": ["https://meti.example/h9"],
        }
    )
    assert [(s.index, s.url) for s in keyed.used] == [(1, "https://meti.example/h1")]
    assert [s.url for s in keyed.unused] == ["https://meti.example/h9"] and keyed.unreadable == 0
    plain = parse_sources(
        "Sources used in the report\nStats: https://meti.example/h1\nSources read but not used\n"
        "https://en.wikipedia.example/wiki/Heat_pump_(device)."
    )
    assert [(s.title, s.url) for s in plain.used] == [("Stats", "https://meti.example/h1")]
    assert [s.url for s in plain.unused] == ["https://en.wikipedia.example/wiki/Heat_pump_(device)"]


# --------------------------------------------------------------------------------------- format hints, plurals


@pytest.mark.parametrize(
    "format_name, path, hint",
    [
        (
            "drb",
            DATA / "miroeval" / "my-agent_text_3.json",
            "this looks like miroeval, not drb: try `dreval import miroeval` or `auto`",
        ),
        (
            "markdown",
            DATA / "drb" / "my-agent.jsonl",
            "this looks like drb, not markdown: try `dreval import drb` or `auto`",
        ),
        ("markdown", DATA / "broken" / "unknown-shape.json", "the content is JSON, not a markdown report"),
    ],
)
def test_a_file_plainly_in_another_format_gets_one_hint(tmp_path, format_name, path, hint):
    result = invoke("import", format_name, path, "--out", tmp_path)
    assert result.exit_code == 1 and not list(tmp_path.glob("*.md"))
    stderr = _one_line(result.stderr)
    assert stderr.count("problem:") == 1 and hint in stderr, stderr
    assert "imported 0 reports from 1 file into" in result.output and "; 1 problem (not imported)" in result.output
    outcome = import_reports([path], tmp_path / "again", format_name=format_name)
    assert len(outcome.problems) == 1 and hint in outcome.problems[0] and not outcome.written


def test_hints_leave_files_in_their_format_alone(tmp_path):
    drb = import_reports([DATA / "drb" / "my-agent.jsonl"], tmp_path / "drb", format_name="drb")
    assert len(drb.written) == 3 and len(drb.problems) == 1  # its broken line is still listed alone
    assert drb.problems[0].startswith(f"{DATA / 'drb' / 'my-agent.jsonl'}:3: malformed JSON")
    md = import_reports([DATA / "markdown" / "webb-summary.md"], tmp_path / "md", format_name="markdown")
    assert md.ok and len(md.written) == 1


def test_counts_in_import_messages_are_singular_for_one(tmp_path):
    one = invoke("import", "auto", DATA / "html" / "heat-pumps-short.html", "--out", tmp_path / "a")
    assert one.exit_code == 0 and one.output.strip() == f"imported 1 report from 1 file into {tmp_path / 'a'}"
    failed = invoke("import", "auto", DATA / "broken" / "give-up.md", "--out", tmp_path / "b")
    assert "(1 failed: an error or give-up message, recorded" in failed.output
    tasks = invoke("import", "--tasks", DATA / "drb" / "query.jsonl", "--out", tmp_path / "t.jsonl")
    assert "from 1 file into" in tasks.output
