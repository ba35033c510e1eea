"""Bad input loses nothing: a report that cannot be read (or a task whose rubric is refused) does not replace the
finished result another report file left at the same place; the same file, now broken, does. Results record the
report's absolute path, so they are found and shown again from any folder."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.schemas import RunManifest, Scorecard

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _card(path: Path) -> Scorecard:
    return Scorecard.model_validate_json(path.read_text())


def _result(tmp_path: Path) -> Path:
    return tmp_path / "dreval-out" / "results" / "default" / "jwst-first-years.json"


@pytest.fixture
def scored(judge_env, judge_server, tmp_path):
    """A complete quality result of a copy of the sample report, scored from the test folder by a relative path."""
    shutil.copy(SAMPLES / "report.md", tmp_path / "good.md")
    first = invoke("score", "good.md", "--task", SAMPLES / "task.json", "--no-factcheck")
    assert first.exit_code == 0, first.output + first.stderr
    card = _card(_result(tmp_path))
    assert card.status == "complete"
    return card


def _bad_inputs(tmp_path: Path) -> list[tuple[list, str]]:
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "blank.md").write_text("  \n\n ")
    (tmp_path / "binary.md").write_bytes(b"\x00\x01\x02\xff\xfe binary")
    (tmp_path / "big.md").write_text("# Big\n\n" + "word " * 400_000)  # 2 MB, over --max-report-mb 1
    return [
        (["empty.md"], "empty"),
        (["blank.md"], "empty"),
        (["binary.md"], "binary"),
        (["big.md", "--max-report-mb", "1"], "MB"),
        (["good2.md", "--format", "deepresearcheval"], "good2.md"),
    ]


def test_unreadable_report_keeps_the_complete_result_of_another_file(scored, judge_server, tmp_path):
    before = _result(tmp_path).read_bytes()
    page = tmp_path / "dreval-out" / "html" / "default" / "jwst-first-years.html"
    page_before = page.read_bytes()
    shutil.copy(SAMPLES / "report.md", tmp_path / "good2.md")  # readable, but not in the wrong --format
    for args, reason in _bad_inputs(tmp_path):
        result = invoke("score", *args, "--task", SAMPLES / "task.json", "--no-factcheck")
        assert result.exit_code == 2, (args, result.output, result.stderr)
        assert _result(tmp_path).read_bytes() == before and page.read_bytes() == page_before, args
        bad = (tmp_path / args[0]).name
        lines = [line for line in result.stderr.splitlines() if line.startswith("kept the")]
        assert len(lines) == 1, (args, result.stderr)
        line = lines[0]
        assert f"kept the complete result of {tmp_path / 'good.md'} for system default, task jwst-first-years" in line
        assert f"{bad} could not be read (" in line and reason in line and f"nothing was written for {bad}" in line
        manifest = RunManifest.model_validate_json((tmp_path / "dreval-out" / "run.json").read_text())
        assert manifest.kept == {"results/default/jwst-first-years.json": line}
        assert manifest.statuses == {"failed": 1}
    good = invoke("score", "good.md", "--task", SAMPLES / "task.json", "--no-factcheck")
    assert good.exit_code == 0 and "already done" in good.output  # the kept result is still the finished one
    assert RunManifest.model_validate_json((tmp_path / "dreval-out" / "run.json").read_text()).kept == {}


def test_the_same_file_broken_is_recorded_as_failed(scored, tmp_path):
    (tmp_path / "good.md").write_text("")
    result = invoke("score", tmp_path / "good.md", "--task", SAMPLES / "task.json", "--no-factcheck")  # absolute now
    assert result.exit_code == 2 and "the report is empty" in result.stderr and "kept the" not in result.stderr
    card = _card(_result(tmp_path))
    assert card.status == "failed" and card.report_ref is None and card.quality is None


def test_a_failed_result_is_replaced_by_another_files_failure(judge_env, tmp_path):
    (tmp_path / "a.md").write_text("")
    (tmp_path / "b.md").write_text("")
    for name in ("a.md", "b.md"):
        result = invoke("score", name, "--prompt", "History of the bicycle")
        assert result.exit_code == 2 and "kept the" not in result.stderr
    [result] = (tmp_path / "dreval-out" / "results" / "default").glob("*.json")
    assert "b.md" in _card(result).reasons[0]


def test_a_refused_rubric_keeps_the_result_of_another_file(scored, tmp_path):
    rubric = tmp_path / "dreval-out" / "rubrics" / "jwst-first-years.json"
    data = json.loads(rubric.read_text())
    data["dimensions"][0]["weight"] = -1  # a hand edit the rubric check refuses
    rubric.write_text(json.dumps(data))
    before = _result(tmp_path).read_bytes()
    shutil.copy(SAMPLES / "report.md", tmp_path / "other.md")
    result = invoke("score", "other.md", "--task", SAMPLES / "task.json", "--no-factcheck")
    assert result.exit_code == 1, result.output + result.stderr
    assert _result(tmp_path).read_bytes() == before
    assert "other.md could not be scored (the rubric of task 'jwst-first-years' was refused" in result.stderr
    assert "weight -1" in result.stderr
    # the report that was scored before, against the rubric now refused: the failed result is the honest one
    same = invoke("score", "good.md", "--task", SAMPLES / "task.json", "--no-factcheck")
    assert same.exit_code == 1 and "kept the" not in same.stderr
    card = _card(_result(tmp_path))
    assert card.status == "failed" and "weight -1" in card.reasons[0]


def test_report_path_is_absolute_so_html_and_agree_work_from_another_folder(scored, tmp_path, monkeypatch):
    from drevalkit.validity.agree import find_result, read_results

    assert scored.report_ref.path == str((tmp_path / "good.md").resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("html", _result(tmp_path), "--out", "pages")
    assert result.exit_code == 0, result.output + result.stderr
    [page] = (elsewhere / "pages").rglob("*.html")
    assert "is not there any more" not in page.read_text() + result.stderr
    assert "James Webb" in page.read_text()  # the report itself is shown
    results = read_results(tmp_path / "dreval-out")
    found = find_result(results, Path("../good.md"))
    assert found is not None and found[1].report_ref.path == scored.report_ref.path


def test_a_batch_keeps_the_result_and_scores_the_rest(scored, tmp_path):
    folder = tmp_path / "sys"
    folder.mkdir()
    (folder / "jwst-first-years.md").write_text("")
    shutil.copy(SAMPLES / "report.md", folder / "second.md")
    tasks = tmp_path / "tasks.jsonl"
    base = json.loads((SAMPLES / "task.json").read_text())
    tasks.write_text("\n".join(json.dumps(t) for t in (base, dict(base, id="second", prompt=base["prompt"] + "?"))))
    before = _result(tmp_path).read_bytes()
    result = invoke("score", folder, "--system", "default", "--tasks", tasks, "--no-factcheck")
    assert result.exit_code == 1, result.output + result.stderr
    assert _result(tmp_path).read_bytes() == before
    assert "kept the complete result of" in result.stderr and "jwst-first-years.md could not be read" in result.stderr
    assert "second" in result.stdout and "jwst-first-years" not in result.stdout  # the summary shows what was written
    assert _card(_result(tmp_path).with_name("second.json")).status == "complete"
    manifest = RunManifest.model_validate_json((tmp_path / "dreval-out" / "run.json").read_text())
    assert manifest.statuses == {"complete": 1, "failed": 1} and list(manifest.kept) == [
        "results/default/jwst-first-years.json"
    ]
