"""Reading and importing report files (drevalkit.ingest.importers): a folder imported with its sidecars, a stable
round trip, an edited failed report checked again, format detection and broken files, a hint when a file is plainly
in another format, and report files read one at a time (markdown, DeepResearchEval JSON, bad, huge or missing files).

The fixtures in tests/data/import/ are written for these tests, modelled on published outputs (DeepResearchEval's
Gemini 2.5 Pro files, DeepResearch Bench raw_data JSONL, MiroEval method_results arrays, OpenAI Responses API
results with url_citation annotations, Perplexity / ChatGPT / Claude exports); none is a third-party output.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.ingest.importers import ReportError, import_reports, importer_for, load_report, read_reports
from drevalkit.ingest.sidecar import ImportSidecar, read_sidecar

DATA = Path(__file__).resolve().parent / "data" / "import"
GEMINI = DATA / "deepresearcheval" / "gemini"
MB = 1_000_000


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _read(path: Path):
    return read_reports(path, max_bytes=100 * MB)


def _sidecar(path: Path) -> ImportSidecar:
    sidecar = read_sidecar(path)
    assert sidecar is not None, path
    return sidecar


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------- DeepResearchEval


def test_import_folder_writes_reports_and_sidecars(tmp_path):
    outcome = import_reports([GEMINI], tmp_path / "out")
    assert outcome.files == 3 and not outcome.problems
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "7.md",
        "7.meta.json",
        "8.md",
        "8.meta.json",
        "9.md",
        "9.meta.json",
    ]
    assert [(p.name, reason.split(":")[0]) for p, reason in outcome.failed] == [("9.md", "plan-only")]
    side = _sidecar(tmp_path / "out" / "7.md")
    assert side.status == "imported" and side.format == "deepresearcheval" and side.task_id == "7"
    assert side.source_file.endswith("deep_research_7_20250821_101500.json") and len(side.source_sha256) == 64
    assert [s.index for s in side.sources_used] == [1, 2, 3, 4] and len(side.sources_unused) == 2
    assert side.prompt.startswith("Between 1996 and 2024") and side.removed and side.notes
    failed = _sidecar(tmp_path / "out" / "9.md")
    assert failed.status == "failed" and failed.failure.startswith("plan-only")
    assert "Conversation with Gemini" in (tmp_path / "out" / "9.md").read_text()  # kept as the agent returned it
    with pytest.raises(ReportError, match="failed report \\(plan-only"):
        load_report(tmp_path / "out" / "9.md", system="s", task_id="9", max_bytes=MB)


def test_import_round_trip_is_stable(tmp_path):
    import_reports([GEMINI, DATA / "drb" / "my-agent.jsonl", DATA / "markdown"], tmp_path / "a")
    for md in sorted((tmp_path / "a").glob("*.md")):
        (again,) = _read(md)[1]
        side = _sidecar(md)
        assert again.task_id == side.task_id and again.prompt == side.prompt
        if side.status == "imported":
            assert again.text + "\n" == md.read_text()  # normalising a normalised report changes nothing
            assert again.failure is None
        else:
            assert again.failure == side.failure
    # importing the imported folder again gives the same reports
    import_reports([tmp_path / "a"], tmp_path / "b", format_name="markdown")
    for md in sorted((tmp_path / "a").glob("*.md")):
        assert (tmp_path / "b" / md.name).read_text() == md.read_text()
        assert _sidecar(tmp_path / "b" / md.name).status == _sidecar(md).status


def test_edited_failed_report_is_checked_again(tmp_path):
    import_reports([GEMINI / "deep_research_9_20250821_120000.json"], tmp_path)
    (tmp_path / "9.md").write_text(
        "# Patagonia visitors\n\nAbout 700,000 people visited in 2019 [1].\n\n"
        "## References\n\n[1] Parks. https://parks.example/stats\n"
    )
    report = load_report(tmp_path / "9.md", system="s", task_id="9", max_bytes=MB)
    assert report.citations[0].url == "https://parks.example/stats"
    assert any("edited since import" in note for note in report.meta["import"]["notes"])


# ---------------------------------------------------------------------------------- DRB, MiroEval, OpenAI, HTML


# --------------------------------------------------------------------------------------- chrome and markers


# ----------------------------------------------------------------------------------------- format detection


def test_format_detection_and_broken_files(tmp_path):
    assert importer_for(GEMINI / "deep_research_7_20250821_101500.json").name == "deepresearcheval"
    assert importer_for(DATA / "drb" / "my-agent.jsonl").name == "drb"
    assert importer_for(DATA / "miroeval" / "my-agent_text_3.json").name == "miroeval"
    assert importer_for(DATA / "openai" / "webb-deployment.json").name == "openai-responses"
    assert importer_for(DATA / "html" / "webb-results.html").name == "html"
    assert importer_for(DATA / "markdown" / "webb-summary.md").name == "markdown"
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"id": 5, "prompt": "P", "article": "# A\n\nText."}))
    assert importer_for(single).name == "drb"
    with pytest.raises(ReportError, match="malformed JSON"):
        _read(DATA / "broken" / "truncated.json")
    with pytest.raises(ReportError, match="unknown report format"):
        _read(DATA / "broken" / "unknown-shape.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\x01{}")
    huge = tmp_path / "huge.jsonl"
    with huge.open("wb") as handle:
        handle.truncate(3 * MB)
    outcome = import_reports([DATA / "broken", binary, huge], tmp_path / "out", max_bytes=2 * MB)
    assert sorted(p.name for p in outcome.written) == ["agent-log.md", "give-up.md"]
    assert [reason.split(":")[0] for _, reason in outcome.failed] == ["log-dump", "give-up"]
    assert len(outcome.problems) == 4
    assert any("binary content" in p for p in outcome.problems) and any("MB limit" in p for p in outcome.problems)


# -------------------------------------------------------------------------------------------------- tasks


# -------------------------------------------------------------------------------------------- the command


# --------------------------------------------------------------------------------------------------- jobs


# ----------------------------------------------------------------------------------------------- format hints


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


# ---------------------------------------------------------------------------- report files read one at a time


def _load(path: Path, **kw):
    return load_report(path, system="s", task_id="t", max_bytes=5 * MB, **kw)


def test_markdown_and_deepresearcheval_json(tmp_path: Path):
    md = tmp_path / "r.md"
    md.write_text("# Report\nText [1].\n\n## References\n[1] Src. https://a.example/x\n")
    report = _load(md)
    assert report.source_format == "markdown" and report.citations[0].url == "https://a.example/x"
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"entries": [{"response": "Body [1]\n\nReferences\n1. https://b.example", "id": 4}]}))
    report = _load(js)
    assert report.source_format == "deepresearcheval"
    assert report.text.startswith("Body") and report.meta["id"] == 4
    assert report.citations[0].url == "https://b.example"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"   \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
    ],
)
def test_bad_report_files(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(ReportError, match=message):
        _load(path)


def test_huge_report_refused_without_reading(tmp_path: Path):
    path = tmp_path / "huge.md"
    with path.open("wb") as handle:
        handle.truncate(50 * MB)
    with pytest.raises(ReportError, match=r"50\.0 MB is larger than the 5\.0 MB limit"):
        _load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"entries": [{"response": "x"}', "malformed JSON"),
        ('{"entries": []}', "non-empty 'entries'"),
        ('{"entries": [{"answer": "x"}]}', "response is missing"),
        ('{"entries": [{"response": "   "}]}', "text is empty"),
    ],
)
def test_bad_deepresearcheval_json(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=message):
        _load(path)


def test_missing_report(tmp_path: Path):
    with pytest.raises(ReportError, match="cannot read"):
        _load(tmp_path / "nope.md")


def test_hostile_json_files_are_each_one_problem_and_the_import_goes_on(tmp_path):
    """Deep nesting, a 100,000-digit number (Python's int limit raises ValueError) or a JSONL line of either is that
    file's own error; the good reports in the folder are still imported."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nA report.\n")
    (folder / "deep.json").write_text("[" * 5000 + "]" * 5000)
    (folder / "shallow-but-deep.json").write_text('{"a": ' + "[" * 300 + "]" * 300 + "}")
    (folder / "bigint.json").write_text('{"entries": [{"response": "x", "n": ' + "9" * 100_000 + "}]}")
    (folder / "lines.jsonl").write_text(
        '{"id": 1, "prompt": "q", "article": "ok"}\n{"id": 2, "n": ' + "9" * 5000 + "}\n"
    )
    for name, reason in (("deep", "nested too deeply"), ("bigint", "too many digits"), ("shallow-but-deep", "200")):
        with pytest.raises(ReportError, match=f"{name}.json: unreadable JSON .*{reason}"):
            read_reports(folder / f"{name}.json", None, max_bytes=10**8)
    result = invoke("import", "auto", folder, "--out", tmp_path / "out")
    assert "Traceback" not in result.output + result.stderr
    assert (tmp_path / "out" / "good.md").exists()
    for name in ("deep.json", "bigint.json", "shallow-but-deep.json"):
        assert f"{name}: unreadable JSON" in result.output + result.stderr
    assert "lines.jsonl:2: unreadable JSON (a number with too many digits)" in result.output + result.stderr


def test_import_removes_an_agents_narration_and_records_it(tmp_path):
    source = DATA / "narration" / "api-agent-heat-pumps.md"
    outcome = import_reports([source], tmp_path / "out")
    assert outcome.files == 1 and not outcome.problems and not outcome.failed
    imported = tmp_path / "out" / "api-agent-heat-pumps.md"
    text = imported.read_text()
    assert text.startswith("# Heat Pump Sales in Europe") and "Let me search for the association" not in text
    assert "I'll now compile the final report" not in text and "Let me look at what drove the fall" not in text
    removed = [r["text"] for r in _sidecar(imported).removed if r["rule"] == "agent-narration"]
    assert len(removed) == 6 and removed[0].startswith("I'll research the growth of heat pump sales")
