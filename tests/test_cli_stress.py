"""dreval stress as a user runs it, against the OpenAI-compatible test server: every probe printed and the judge card
written, probes selected and bad input refused, a probe that applies to no report says why."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.validity import probes as P
from drevalkit.validity.card import JudgeCard
from drevalkit.validity.stress_run import StressRun

from .support import fair, judge_with, length_biased_long

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO_REPORT, DEMO_TASK, DEMO_RUBRIC = (
    SAMPLES / "demo" / "report.md",
    SAMPLES / "demo" / "task.json",
    SAMPLES / "demo" / "rubric.json",
)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_dreval_stress_on_the_sample_report_prints_every_probe_and_writes_the_judge_card(
    judge_env, judge_server, tmp_path
):
    judge_server.responder = judge_with(length_biased_long)
    assert invoke("corpus", "add", SAMPLES / "corpus").exit_code == 0
    result = invoke("stress", SAMPLES / "report.md", "--task", SAMPLES / "task.json", "--variants", "2")
    assert result.exit_code == 0, result.output + result.stderr
    for probe in P.PROBES:
        assert probe in result.output
    assert "shift [95% CI]" in result.output and "FLAG" in result.output
    assert re.search(r"pad .*\+\d+\.\d\d \[\+\d+\.\d\d, \+\d+\.\d\d\].*FLAG", result.output)
    out = tmp_path / "dreval-out"
    cards = list((out / "judge-cards").glob("*.json"))
    assert len(cards) == 1
    card = JudgeCard.model_validate_json(cards[0].read_text())
    assert [p.probe for p in card.probes] == list(P.PROBES)
    assert card.judge.model == "test-judge" and card.judge.endpoint == judge_server.url
    assert "pad" in card.flagged and card.reports == 1 and card.tasks == ["jwst-first-years"]
    page = cards[0].with_suffix(".html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page
    for probe in P.PROBES:
        assert f'id="probe-{probe}"' in page
    assert (out / "rubrics" / "jwst-first-years.json").exists()  # the frozen rubric, shared with dreval score
    assert list((out / "stress").glob("*/default/jwst-first-years/pad/pad-1.md"))
    for produced in [*out.rglob("*.json"), *out.rglob("*.html")]:
        assert "test-secret-key" not in produced.read_text()

    calls = judge_server.completions
    again = invoke("stress", SAMPLES / "report.md", "--task", SAMPLES / "task.json", "--variants", "2")
    assert again.exit_code == 0 and judge_server.completions == calls
    assert "0 LLM calls" in again.output


def test_dreval_stress_selects_probes_and_refuses_bad_input(judge_env, judge_server, tmp_path):
    judge_server.responder = judge_with(fair)
    result = invoke(
        "stress",
        DEMO_REPORT,
        "--task",
        DEMO_TASK,
        "--rubric",
        DEMO_RUBRIC,
        "--probes",
        "pad,null-report",
        "--variants",
        "1",
    )
    assert result.exit_code == 0, result.output + result.stderr
    card = JudgeCard.model_validate_json(next((tmp_path / "dreval-out" / "judge-cards").glob("*.json")).read_text())
    assert [p.probe for p in card.probes] == ["pad", "null-report"]
    bad = invoke("stress", DEMO_REPORT, "--task", DEMO_TASK, "--probes", "pad,bogus")
    assert bad.exit_code == 2 and "bogus" in bad.stderr
    no_task = invoke("stress", DEMO_REPORT)
    assert no_task.exit_code == 2
    wrong_rubric = invoke("stress", SAMPLES / "report.md", "--task", SAMPLES / "task.json", "--rubric", DEMO_RUBRIC)
    assert wrong_rubric.exit_code == 2 and "rubric of task" in wrong_rubric.stderr


def test_a_probe_that_applies_to_no_report_says_why_in_its_finding(judge_env, judge_server, tmp_path):
    judge_server.responder = judge_with(fair)
    reports = []
    for system in ("alpha", "beta", "gamma"):  # one paragraph each: no sections to reorder
        path = tmp_path / system / "jwst-briefing-note.md"
        path.parent.mkdir()
        path.write_text(f"# Webb, by {system}\n\nThe telescope cost about 10 billion dollars and launched in 2021.\n")
        reports.append(path.parent)  # a folder per system
    result = invoke(
        "stress", *reports, "--tasks", DEMO_TASK, "--rubric", DEMO_RUBRIC, "--probes", "shuffle,pad", "--variants", "1"
    )
    assert result.exit_code == 0, result.output + result.stderr
    said = " ".join(result.output.split())
    assert "not measured: no report has sections to reorder" in said and "(3 not applicable)" in said
    assert "no report had both the original and a variant judged" not in said
    run = StressRun.model_validate_json(next((tmp_path / "dreval-out" / "stress").glob("*/run.json")).read_text())
    shuffle, pad = run.results
    assert shuffle.skipped == 3 and shuffle.finding.startswith("not measured: no report has sections to reorder")
    assert pad.skipped == 0 and pad.reports == 3  # a probe that applies is measured as before
    assert run.reports[0].skipped["shuffle"].startswith("the report has no sections to reorder")


def test_a_judge_that_never_answers_validly_measures_nothing_and_says_so(judge_env, judge_server, tmp_path):
    judge_server.responder = lambda body: "I would rather not score this."  # never JSON
    result = invoke(
        "stress", DEMO_REPORT, "--task", DEMO_TASK, "--rubric", DEMO_RUBRIC, "--probes", "pad", "--variants", "1"
    )
    assert result.exit_code == 1, result.output + result.stderr
    row = next(line for line in result.output.splitlines() if line.startswith("│ pad"))
    assert "—" in row and " ok " not in row  # not measured is not a pass
    card_path = next((tmp_path / "dreval-out" / "judge-cards").glob("*.json"))
    card = JudgeCard.model_validate_json(card_path.read_text())
    assert card.reports == 0 and card.probes[0].reports == 0 and not card.flagged
    page = card_path.with_suffix(".html").read_text()
    assert "Nothing was measured" in page and "No probe flagged" not in page
