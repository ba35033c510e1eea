"""Report formats of other tools, one at a time (drevalkit.ingest.formats): DeepResearchEval (Gemini exports, with or
without their conversation block, and source lists in other shapes), DeepResearch Bench JSONL, MiroEval arrays,
OpenAI Responses annotations, HTML pages (headings, lists, tables and titled references kept; large pages converted in
a time-limited worker), ChatGPT / Perplexity / Claude exports, marker styles and reference headings normalised, and an
importer of the old parse protocol.

The fixtures in tests/data/import/ are written for these tests, modelled on published outputs (DeepResearchEval's
Gemini 2.5 Pro files, DeepResearch Bench raw_data JSONL, MiroEval method_results arrays, OpenAI Responses API
results with url_citation annotations, Perplexity / ChatGPT / Claude exports); none is a third-party output.
"""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.citations import parse_citations
from drevalkit.cli import main
from drevalkit.ingest.chrome import strip_chrome
from drevalkit.ingest.formats.base import ReportError
from drevalkit.ingest.formats.deepresearcheval import parse_sources
from drevalkit.ingest.formats.html import html_to_markdown
from drevalkit.ingest.formats.references import normalise_references
from drevalkit.ingest.importers import IMPORTERS, import_reports, load_report, read_reports
from drevalkit.ingest.sidecar import ImportSidecar, read_sidecar

from .support import CHROME_PHRASES, workers_alive_after_killing

DATA = Path(__file__).resolve().parent / "data" / "import"
GEMINI = DATA / "deepresearcheval" / "gemini"
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


def _sidecar(path: Path) -> ImportSidecar:
    sidecar = read_sidecar(path)
    assert sidecar is not None, path
    return sidecar


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
        "headings (2 of 3 kept), list items (2 of 4 kept), link URLs (0 of 2 kept)",
        "source lists written as the canonical ## References: 1",
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


# A process importing a large page: its conversion worker busy for seconds (a page of some seconds of trafilatura).
_IMPORTER = """
import multiprocessing, threading, time
from drevalkit.ingest.formats.html import html_to_markdown
from drevalkit.testing.page_server import hostile_page
page = hostile_page("li", 1_500_000, True).decode()
threading.Thread(target=html_to_markdown, args=(page,), kwargs={"timeout": 120}, daemon=True).start()
while not multiprocessing.active_children():
    time.sleep(0.05)
time.sleep(1)
print(" ".join(str(child.pid) for child in multiprocessing.active_children()), flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG: Linux")
def test_the_conversion_worker_dies_with_the_import_even_when_it_is_killed():
    assert workers_alive_after_killing(_IMPORTER, 1) == []


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
    assert "2 reports with fewer than 80% of markers citing a source" in result.output  # the warnings said why
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


# --------------------------------------------------------------------------------------- one format at a time


def test_deepresearcheval_gemini_export_is_cleaned_and_its_sources_numbered():
    name, (report,) = _read(GEMINI / "deep_research_7_20250821_101500.json")
    raw = json.loads((GEMINI / "deep_research_7_20250821_101500.json").read_text())["entries"][0]
    assert name == "deepresearcheval" and report.failure is None
    assert report.task_id == "7"  # from deep_research_<id>_<timestamp>.json
    assert report.prompt == raw["query"]
    for phrase in CHROME_PHRASES:
        assert phrase not in report.text, phrase
    # the report proper is untouched: the original body with linked markers written [n] and the table button out
    body_start = raw["response"].index("From a Half-Billion Plan")
    expected = (
        raw["response"][body_start:]
        .replace("[1](https://jwst-archive.example/history)", "[1]")
        .replace("[4](https://jwst-archive.example/launch)", "[4]")
        .replace(" Export to Sheets", "")
    )
    body, _, references = report.text.partition("\n\n## References\n\n")
    assert body == expected.strip()
    assert references.splitlines() == [
        "[1] From NGST to Webb: a programme history | JWST Archive - https://jwst-archive.example/history",
        "[2] Cost and schedule: how the Webb budget grew, 1997-2021 | JWST Archive - https://jwst-archive.example/cost",
        "[3] Independent reviews of the Webb programme (text record) - "
        "https://audit-records.example/jwst/independent-reviews.txt",
        "[4] Launch and deployment: Webb's first months in space | JWST Archive - https://jwst-archive.example/launch",
    ]
    citations, summary = parse_citations(report.text)
    assert [(c.index, c.url) for c in citations if c.index] == [(s.index, s.url) for s in report.sources_used]
    assert summary["dangling_markers"] == [] and summary["cited_indices"] == [1, 2, 3, 4]
    # read-but-not-used sources are kept apart, a URL with parentheses whole
    assert [s.url for s in report.sources_unused] == [
        "https://en.wikipedia.org/wiki/James_Webb_Space_Telescope_(overview)",
        "https://esa-news.example/science/webb-europe",
    ]
    assert report.sources_unused[0].title == "James Webb Space Telescope - Wikipedia"
    parts = [r.get("part") for r in report.removed if r["rule"] == "gemini-conversation"]
    assert parts == ["header", "question", "research plan", "buttons", "status", "disclaimer and toolbar"]
    assert [r["rule"] for r in report.removed].count("gemini-export-to-sheets") == 1
    assert report.meta["linked_markers_matching_sources"] == 3 and report.meta["title"].startswith("Deep Research 7")


def test_deepresearcheval_task_id_from_query_id_and_plan_only_export_fails(tmp_path):
    doc = json.loads((GEMINI / "deep_research_8_20250821_113000.json").read_text())
    doc["entries"][0]["query_id"] = 42
    path = tmp_path / "anything.json"
    path.write_text(json.dumps(doc))
    (report,) = _read(path)[1]
    assert report.task_id == "42"
    (plan_only,) = _read(GEMINI / "deep_research_9_20250821_120000.json")[1]
    assert plan_only.failure.startswith("plan-only") and plan_only.task_id == "9"
    with pytest.raises(ReportError, match="plan-only"):
        load_report(GEMINI / "deep_research_9_20250821_120000.json", system="s", task_id="9", max_bytes=MB)


def test_drb_jsonl_lines_import_with_broken_line_listed(tmp_path):
    name, reports = _read(DATA / "drb" / "my-agent.jsonl")
    assert name == "drb" and [r.task_id for r in reports] == ["1", "2", None, "4"]
    zh, en, broken, gave_up = reports
    assert zh.prompt.startswith("整理詹姆斯") and zh.meta["language"] == "zh"
    assert "## References" in zh.text and "参考文献" not in zh.text
    citations, summary = parse_citations(zh.text)
    assert [c.index for c in citations] == [1, 2, 3, 4] and summary["dangling_markers"] == []
    assert citations[0].title == "From NGST to Webb: a programme history | JWST Archive"
    assert zh.text.startswith("我将为您撰写")  # agent narration is not interface chrome: left in place
    assert parse_citations(en.text)[1]["dangling_markers"] == []
    assert "line 3" in broken.entry and "malformed JSON" in broken.error
    assert gave_up.failure.startswith("error-message")
    outcome = import_reports([DATA / "drb" / "my-agent.jsonl"], tmp_path)
    assert [p.name for p in outcome.written] == ["1.md", "2.md", "4.md"]
    assert len(outcome.problems) == 1 and "my-agent.jsonl:3" in outcome.problems[0]
    assert _sidecar(tmp_path / "4.md").failure.startswith("error-message") and not outcome.ok
    with pytest.raises(ReportError, match="none for task '9'"):
        load_report(DATA / "drb" / "my-agent.jsonl", system="s", task_id="9", max_bytes=10 * MB)
    assert load_report(DATA / "drb" / "my-agent.jsonl", system="s", task_id="2", max_bytes=10 * MB).citations


def test_miroeval_array(tmp_path):
    name, reports = _read(DATA / "miroeval" / "my-agent_text_3.json")
    assert name == "miroeval" and [r.task_id for r in reports] == ["11", "12", "13"]
    ok, no_answer, missing = reports
    assert ok.prompt.startswith("I follow space news")  # rewritten_query, as MiroEval's scorer uses it
    assert ok.meta["query"] == "韦布望远镜什么时候到达L2？" and ok.meta["annotation"]["pattern"] == "T3"
    assert ok.meta["process_chars"] > 0 and "process" not in ok.meta
    citations, summary = parse_citations(ok.text)
    assert [c.url for c in citations] == [
        "https://jwst-archive.example/launch",
        "https://jwst-archive.example/instruments",
    ]
    assert summary["dangling_markers"] == []
    assert no_answer.failure.startswith("error-message") and "No answer found" in no_answer.failure
    assert missing.failure.startswith("no-response") and missing.meta["files"] == ["cycle1.pdf"]
    outcome = import_reports([DATA / "miroeval" / "my-agent_text_3.json"], tmp_path)
    assert len(outcome.written) == 3 and len(outcome.failed) == 2 and not outcome.problems


def test_openai_responses_annotations_become_markers_and_references():
    name, (report,) = _read(DATA / "openai" / "webb-deployment.json")
    assert name == "openai-responses" and report.task_id == "webb-deployment"
    assert "Ariane 5 [1]. The sunshield's last layer was tensioned on 4 January 2022 [1]" in report.text
    assert "below about 50 kelvin [2]." in report.text
    assert "about 1.5 million km from Earth.[1, 3]" in report.text  # a cited sentence gets its markers after it
    assert "utm_source" not in report.text and "](http" not in report.text.split("## References")[0]
    citations, summary = parse_citations(report.text)
    assert [(c.index, c.url) for c in citations] == [
        (1, "https://jwst-archive.example/launch"),
        (2, "https://jwst-archive.example/instruments"),
        (3, "https://jwst-archive.example/hubble"),
    ]
    assert summary["dangling_markers"] == [] and report.meta["web_searches"] == 2
    assert any("out-of-range" in note for note in report.notes) and report.warnings == [
        "1 url_citation annotations with missing or out-of-range indices were left out"
    ]  # a citation lost is said to the user
    (failed,) = _read(DATA / "openai" / "webb-cost.json")[1]
    assert failed.failure == ("api-status: the response is incomplete (max_output_tokens) and holds no report text")


def test_html_page_converted_with_links_and_no_page_chrome():
    name, (report,) = _read(DATA / "html" / "webb-results.html")
    assert name == "html" and report.meta["title"] == "Webb's first science results - Research report"
    assert report.text.startswith("# Webb's First Science Results, 2022-2024")
    assert "## Highlights" in report.text and "| 2024 | Galaxy beyond redshift 14 confirmed |" in report.text
    assert "images on 12 July 2022 [1]." in report.text and "redshift 14 [2], far" in report.text
    for chrome in ("Privacy", "Settings", "Copyright", "analytics", "Share"):
        assert chrome not in report.text
    citations, summary = parse_citations(report.text)
    assert {c.index: c.url for c in citations if c.index} == {
        1: "https://jwst-archive.example/results",
        2: "https://jwst-archive.example/hubble",
    }
    assert summary["dangling_markers"] == []


def test_chatgpt_perplexity_and_claude_exports():
    (chatgpt,) = _read(DATA / "markdown" / "chatgpt-webb-launch.md")[1]
    assert chatgpt.text.startswith("# Webb's Launch and Arrival at L2")
    assert chatgpt.prompt == "When did the Webb telescope launch, and when did it reach its orbit?"
    assert {r["rule"] for r in chatgpt.removed} == {"chatgpt-conversation", "chatgpt-status", "chatgpt-disclaimer"}
    assert "ChatGPT" not in chatgpt.text and "Research completed" not in chatgpt.text
    (perplexity,) = _read(DATA / "markdown" / "perplexity-webb-mirror.md")[1]
    assert perplexity.prompt == "How big is Webb's mirror compared with Hubble's?"
    assert perplexity.text.startswith("Webb's primary mirror is 6.5 m across and made of 18 hexagonal segments.[1]")
    assert "⁂" not in perplexity.text and "display:none" not in perplexity.text and "r2cdn" not in perplexity.text
    citations, summary = parse_citations(perplexity.text)
    assert summary["cited_indices"] == [1, 2] and summary["uncited_references"] == [3, 4]
    assert citations[1].url == "https://jwst-archive.example/hubble"
    (claude,) = _read(DATA / "markdown" / "claude-webb-partners.md")[1]
    assert claude.text.endswith("[2] Webb and Europe - https://esa-news.example/science/webb-europe")
    assert [r["rule"] for r in claude.removed] == ["claude-footer"]
    assert "Opus 4.1" in claude.removed[0]["text"] and "Retry" not in claude.text


def test_gemini_export_without_its_conversation_block(tmp_path):
    doc = json.loads((GEMINI / "deep_research_8_20250821_113000.json").read_text())
    response = doc["entries"][0]["response"]
    doc["entries"][0]["response"] = response[response.index("Four Instruments") :]
    path = tmp_path / "deep_research_8_20250821_113000.json"
    path.write_text(json.dumps(doc))
    (report,) = _read(path)[1]
    assert "Export to Sheets" not in report.text and "5-28 micrometres NIRSpec can take" in report.text
    plain = "# A report\n\nNothing to remove here [1].\n\n## References\n\n[1] A. https://a.example/x"
    assert strip_chrome(plain).text == plain and not strip_chrome(plain).removed
    buttons = strip_chrome("Share\nCopy\n\n# Title\n\nBody.\n\nRegenerate\nCopy")
    assert buttons.text == "# Title\n\nBody." and len(buttons.removed) == 4


def test_marker_styles_and_reference_headings_are_normalised():
    text = (
        "Body with a footnote[^1] and a fact【2】 and a Gemini cite [cite: 3] and <sup>4</sup>.\n\n"
        "参考资料\n1、First. https://a.example/1\n【2】Second https://a.example/2\n(3) Third https://a.example/3\n"
        "[4] Fourth https://a.example/4\n"
    )
    result = normalise_references(text)
    assert "Body with a footnote[1] and a fact[2] and a Gemini cite [3] and [4]." in result.text  # all cite entries
    citations, summary = parse_citations(result.text)
    assert [c.index for c in citations] == [1, 2, 3, 4] and summary["dangling_markers"] == []
    assert normalise_references(result.text).text == result.text  # idempotent
    linked = normalise_references("A claim [1](https://a.example/x) and another [2](https://b.example/y(z)).")
    assert linked.text.startswith("A claim [1] and another [2].")
    assert [c.url for c in parse_citations(linked.text)[0]] == ["https://a.example/x", "https://b.example/y(z)"]
    footnotes = normalise_references("Claim.[^a] Other.[^b]\n\n[^a]: https://a.example/1\n[^b]: B https://b.example\n")
    assert footnotes.text.startswith("Claim.[1] Other.[2]")
    assert [c.index for c in parse_citations(footnotes.text)[0]] == [1, 2]


def test_an_importer_of_the_old_parse_protocol_still_works(tmp_path):
    class Legacy:
        name = "legacy-test"
        suffixes = (".legacy",)

        def parse(self, raw, path):
            return raw.upper(), {"legacy": True}

    IMPORTERS.register("legacy-test", Legacy)
    try:
        path = tmp_path / "r.legacy"
        path.write_text("# hello\n\nworld [1]\n\n## References\n\n[1] A. https://a.example/x\n")
        report = load_report(path, system="s", task_id="r", max_bytes=MB, format_name="legacy-test")
        assert report.text.startswith("# HELLO") and report.meta["legacy"] and report.source_format == "legacy-test"
    finally:
        IMPORTERS._items.pop("legacy-test")
