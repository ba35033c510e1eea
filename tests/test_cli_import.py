"""dreval import as a user runs it: reports and tasks imported, the summary, its counts (singular for one) and the exit
codes."""

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.ingest.importers import import_reports
from drevalkit.ingest.task_files import load_tasks

DATA = Path(__file__).resolve().parent / "data" / "import"
GEMINI = DATA / "deepresearcheval" / "gemini"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_import_tasks_command(tmp_path):
    out = tmp_path / "tasks.jsonl"
    result = invoke(
        "import", "--tasks", "deepresearcheval", DATA / "deepresearcheval" / "tasks_generated.jsonl", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert "imported 3 tasks from 1 file into" in result.output and "renamed task_1-2" in result.stderr
    assert [t.id for t in load_tasks(out)] == ["task_1", "task_2", "task_1-2"]
    result = invoke(
        "import", "--tasks", DATA / "drb" / "query.jsonl", DATA / "broken" / "unknown-shape.json", "--out", tmp_path
    )
    assert result.exit_code == 1 and len(load_tasks(tmp_path / "tasks.jsonl")) == 4
    assert "unknown-shape.json[0]: invalid task" in result.stderr
    assert invoke("import", "--tasks", "--out", out).exit_code == 2


def test_import_command_summary_and_exit_codes(tmp_path):
    ok = invoke(
        "import",
        "deepresearcheval",
        GEMINI / "deep_research_7_20250821_101500.json",
        GEMINI / "deep_research_8_20250821_113000.json",
        "--out",
        tmp_path / "a",
    )
    assert ok.exit_code == 0, ok.output + ok.stderr
    assert ok.output.strip() == f"imported 2 reports from 2 files into {tmp_path / 'a'}"
    mixed = invoke("import", "auto", GEMINI, DATA / "drb" / "my-agent.jsonl", DATA / "broken", "--out", tmp_path / "b")
    assert mixed.exit_code == 1
    assert "(4 failed: error or give-up messages" in mixed.output and "3 problems (not imported)" in mixed.output
    assert "my-agent.jsonl:3: malformed JSON" in mixed.stderr and "failed report:" in mixed.stderr
    assert (tmp_path / "b" / "9.meta.json").exists() and (tmp_path / "b" / "1.md").exists()
    wrong_format = invoke("import", "drb", GEMINI / "deep_research_7_20250821_101500.json", "--out", tmp_path / "c")
    assert (
        wrong_format.exit_code == 1
        and "101500.json: this looks like deepresearcheval, not drb: try `dreval import deepresearcheval` or `auto`"
        in " ".join(wrong_format.stderr.split())
    )
    for args in (
        ["nope", GEMINI, "--out", tmp_path / "d"],
        ["auto", tmp_path / "missing", "--out", tmp_path],
        ["auto", "--out", tmp_path],
        ["auto", GEMINI, "--out", GEMINI / "deep_research_7_20250821_101500.json"],
    ):
        assert invoke("import", *args).exit_code == 2, args
    dup = tmp_path / "dup"
    dup.mkdir()
    shutil.copy(GEMINI / "deep_research_7_20250821_101500.json", dup / "deep_research_7_20250101_000000.json")
    twice = import_reports([GEMINI, dup], tmp_path / "e")
    assert any("a second report for task '7'" in p for p in twice.problems)


def test_counts_in_import_messages_are_singular_for_one(tmp_path):
    one = invoke("import", "auto", DATA / "html" / "heat-pumps-short.html", "--out", tmp_path / "a")
    assert one.exit_code == 0 and one.output.strip() == f"imported 1 report from 1 file into {tmp_path / 'a'}"
    failed = invoke("import", "auto", DATA / "broken" / "give-up.md", "--out", tmp_path / "b")
    assert "(1 failed: an error or give-up message, recorded" in failed.output
    tasks = invoke("import", "--tasks", DATA / "drb" / "query.jsonl", "--out", tmp_path / "t.jsonl")
    assert "from 1 file into" in tasks.output


def test_import_links_real_export_formats_warns_about_poor_linking_and_is_idempotent(tmp_path):
    """Gemini Docs exports and ChatGPT .docx exports import canonical with their counts in the sidecar; a report
    whose markers mostly cite nothing gets one warning naming the cause and a word in the summary; importing the
    imported folder again changes nothing."""
    result = invoke(
        "import",
        "auto",
        DATA / "gemini-docs",
        DATA / "chatgpt-docx",
        DATA / "markdown" / "webb-instruments-unlinked.md",
        "--out",
        tmp_path / "a",
    )
    assert result.exit_code == 1, result.output + result.stderr  # a warning was given
    stderr = " ".join(result.stderr.split())
    assert stderr.count("warning:") == 1
    assert (
        "webb-instruments-unlinked.md: only 1 of 5 markers cite a source (20%): markers cite numbers the source "
        "list lacks (2, 3, 4, 5; it lists only 1)"
    ) in stderr
    assert result.output.strip().splitlines()[-1] == (
        f"imported 11 reports from 11 files into {tmp_path / 'a'}; 1 report with fewer than 80% of markers citing "
        "a source; 1 warning (imported, but see the sidecar's notes)"
    )
    side = json.loads((tmp_path / "a" / "webb-history-en.meta.json").read_text())
    assert side["citations"] == {
        "markers": 12,
        "resolved": 10,
        "attached": 1,
        "unresolved": 1,
        "sources": 13,
        "cause": "1 cited entry of the source list has no URL",
        "rewritten": {
            "markers without brackets written [n]": 14,
            "source lists written as the canonical ## References": 1,
        },
    }
    again = invoke("import", "markdown", tmp_path / "a", "--out", tmp_path / "b")
    for md in sorted((tmp_path / "a").glob("*.md")):
        assert (tmp_path / "b" / md.name).read_text() == md.read_text(), md.name
        second = json.loads((tmp_path / "b" / md.name.replace(".md", ".meta.json")).read_text())["citations"]
        first = json.loads((tmp_path / "a" / md.name.replace(".md", ".meta.json")).read_text())["citations"]
        assert {k: second[k] for k in ("attached", "unresolved", "sources")} == {
            k: first[k] for k in ("attached", "unresolved", "sources")
        }  # the same links (fewer markers where several numbers of one source became one)
        assert second["rewritten"] == {}
    assert again.exit_code == 1 and "1 report with fewer than 80%" in again.output  # the unlinked one, still
