"""dreval agree as a user runs it: the labelled reports scored (or their results read) and the statistics printed
are the ones the matched rows give; pairwise preferences; bad input refused; missing cited pages said. The label
files and the matching are tested in test_validity_labels.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.stats import agreement as A
from drevalkit.testing import rule_judge
from drevalkit.validity.agree import AgreeReport
from drevalkit.validity.labels import read_labels

from .support import judge_with

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LABELS = SAMPLES / "labels"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _recomputed(report: AgreeReport) -> None:
    """The printed statistics are the ones the matched rows give; intervals resample the reports, and a figure
    from one report has none."""
    compared = [r for r in report.claim_rows if r.dreval_label in A.VERDICT_LABELS]
    human, machine = [r.label for r in compared], [r.dreval_label for r in compared]
    c = report.claims
    assert c.compared == len(compared) and c.labels == len(report.claim_rows)
    assert c.resampled_by == "report" and c.clusters == len({r.report for r in compared})
    assert c.accuracy.n == c.kappa.n == c.compared and c.accuracy.clusters == c.clusters
    assert c.accuracy.value == pytest.approx(sum(h == m for h, m in zip(human, machine)) / len(compared))
    assert c.kappa.value == pytest.approx(A.cohen_kappa(human, machine, A.VERDICT_LABELS))
    assert [row[:3] for row in c.confusion] == A.confusion(human, machine, A.VERDICT_LABELS)
    assert sum(map(sum, c.confusion)) == c.labels - c.no_result
    for s in c.per_label:
        assert s.both == sum(h == m == s.label for h, m in zip(human, machine))
        if s.precision:
            assert s.precision.value == pytest.approx(s.both / s.dreval) and s.precision.n == s.dreval
            reports = len({r.report for r in compared if r.dreval_label == s.label})
            assert s.precision.clusters == reports
            if reports == 1:
                assert s.precision.low is s.precision.high is None
            else:
                assert s.precision.low <= s.precision.value <= s.precision.high


def test_dreval_agree_scores_the_labelled_reports_and_prints_accuracy_kappa_and_confusion(
    judge_env, judge_server, tmp_path
):
    judge_server.responder = rule_judge.respond
    result = invoke("agree", LABELS / "claims.jsonl", "--corpus", SAMPLES / "corpus")
    assert result.exit_code == 0, result.output + result.stderr
    for text in ("accuracy", "Cohen's kappa", "confusion matrix", "precision", "recall", "not checked"):
        assert text in result.output
    assert re.search(r"accuracy \d+% \[\d+, \d+\]", result.output)
    assert re.search(r"Cohen's kappa -?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]", result.output)
    assert "resampled by report, 3 reports" in result.output and "cluster bootstrap" in result.output
    path = tmp_path / "dreval-out" / "agree" / "claims" / "agreement.json"
    report = AgreeReport.model_validate_json(path.read_text())
    assert report.scored_now and report.judges[0].model == "test-judge"
    c = report.claims
    assert c.labels == 76 and c.no_result == 0 and c.compared >= 40
    _recomputed(report)
    by_id = {row.line: row for row in report.claim_rows}
    # the planted error of the sample report, checked by the rule-based stand-in against cost.html: wrong
    planted = next(r for r in report.claim_rows if "US$6 billion" in r.sentence and r.report == "../report.md")
    assert planted.dreval_label == "wrong" and planted.similarity >= 0.9
    assert planted.result and Path(planted.result).exists()
    # matched rows come from the same sentence of the same report
    for row in by_id.values():
        if row.dreval_label:
            assert row.similarity >= 0.5
    results = list((tmp_path / "dreval-out" / "agree" / "claims" / "results" / "agree").glob("*.json"))
    assert len(results) == 3  # one fact-check per labelled report

    calls = judge_server.completions
    again = invoke("agree", LABELS / "claims.jsonl")
    assert again.exit_code == 0 and judge_server.completions == calls  # results are reused, nothing is asked
    assert AgreeReport.model_validate_json(path.read_text()).claims == c


def test_dreval_agree_reads_existing_results_without_a_judge(judge_env, judge_server, tmp_path):
    judge_server.responder = rule_judge.respond
    assert invoke("corpus", "add", SAMPLES / "corpus").exit_code == 0
    reports = tmp_path / "sys"
    reports.mkdir()
    shutil.copy(SAMPLES / "demo" / "report.md", reports / "jwst-briefing-note.md")
    assert invoke("factcheck", reports / "jwst-briefing-note.md").exit_code == 0
    labels = tmp_path / "labels.jsonl"
    _, shipped = read_labels(LABELS / "claims.jsonl")
    demo = [label for label in shipped if label.report == "../demo/report.md"]
    labels.write_text(
        "".join(json.dumps({**label.model_dump(), "report": "sys/jwst-briefing-note.md"}) + "\n" for label in demo)
    )
    calls = judge_server.completions
    result = invoke("agree", labels, "--results", tmp_path / "dreval-out" / "results")
    assert result.exit_code == 0, result.output + result.stderr
    assert judge_server.completions == calls  # read, not scored
    report = AgreeReport.model_validate_json(
        (tmp_path / "dreval-out" / "agree" / "labels" / "agreement.json").read_text()
    )
    assert not report.scored_now and report.claims.labels == len(demo) and report.claims.compared >= 7
    _recomputed(report)
    # every claim from one report: no interval is made up
    assert report.claims.clusters == 1 and report.claims.accuracy.low is None and report.claims.kappa.high is None
    assert "resampled by report, 1 report)" in result.output
    assert re.search(r"accuracy \d+% \(no interval: all from one report\)", result.output)
    assert any(r.label == "wrong" and r.dreval_label == "wrong" for r in report.claim_rows)

    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"report": "nowhere.md", "claim": "x", "label": "right"}) + "\n")
    none = invoke("agree", missing, "--results", tmp_path / "dreval-out" / "results")
    assert none.exit_code == 1 and "without a result" in none.output


def test_dreval_agree_on_pairwise_preferences(judge_env, judge_server, tmp_path):
    from .support import fair

    judge_server.responder = judge_with(fair)  # scores by the figures a report states
    result = invoke("agree", LABELS / "pairs.jsonl")
    assert result.exit_code == 0, result.output + result.stderr
    assert "ordered as people did" in result.output and "dreval tied" in result.output
    report = AgreeReport.model_validate_json(
        (tmp_path / "dreval-out" / "agree" / "pairs" / "agreement.json").read_text()
    )
    p = report.pairs
    assert p.pairs == p.scored == 7 and p.human_ties == 1 and p.dreval_ties >= 1
    assert p.resampled_by == "task" and p.clusters == 2 and "resampled by task, 2 tasks" in result.output
    rows = report.pair_rows
    for row in rows:
        assert row.dreval == A.machine_preference(row.total_a, row.total_b)
    decided = [r for r in rows if r.preferred != "tie"]
    expected = sum(1.0 if r.dreval == r.preferred else 0.5 if r.dreval == "tie" else 0.0 for r in decided)
    assert p.agreement.value == pytest.approx(expected / len(decided))
    generic = next(r for r in rows if r.report_b.endswith("demo-generic.md") and r.report_a.endswith("report.md"))
    assert generic.dreval == "a"  # a report that states nothing is put below the real one
    # the demo pairs were judged with their pinned rubric
    demo = json.loads(
        next(
            (tmp_path / "dreval-out" / "agree" / "pairs" / "results").rglob("report-*/jwst-briefing-note.json")
        ).read_text()
    )
    from drevalkit.quality.rubric import read_rubric

    assert demo["quality"]["rubric_hash"] == read_rubric(SAMPLES / "demo" / "rubric.json").hash


def test_dreval_agree_refuses_bad_input(judge_env, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"report": "r.md", "claim": "x", "label": "perhaps"}\n')
    result = invoke("agree", bad)
    assert result.exit_code == 2 and "line 1" in result.stderr
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"task": "no-such-task", "report_a": "a.md", "report_b": "b.md", "preferred": "a"}\n')
    result = invoke("agree", pairs)
    assert result.exit_code == 2 and "neither a task file" in result.stderr


def test_dreval_agree_without_the_cited_pages_says_how_to_get_them(judge_env, judge_server, tmp_path):
    judge_server.responder = rule_judge.respond
    result = invoke("agree", LABELS / "claims.jsonl")  # the corpus was never indexed
    assert result.exit_code == 1
    assert "--corpus samples/corpus" in result.stderr and "76 without a result" in result.output
    report = AgreeReport.model_validate_json(
        (tmp_path / "dreval-out" / "agree" / "claims" / "agreement.json").read_text()
    )
    assert report.claims.compared == 0 and report.claims.accuracy is None
    assert all("no evidence retrieved" in row.problem for row in report.claim_rows)
    fixed = invoke("agree", LABELS / "claims.jsonl", "--corpus", SAMPLES / "corpus")  # failed results are redone
    assert fixed.exit_code == 0 and "accuracy" in fixed.output
