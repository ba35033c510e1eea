"""dreval agree: the shipped labelled set is true to the sample corpus, label files are checked, human claims are
matched to dreval's, and the statistics printed are the ones the matched rows give."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.documents import extract_text_bounded
from drevalkit.factcheck.verify import quote_in
from drevalkit.schemas import Claim
from drevalkit.stats import agreement as A
from drevalkit.testing import rule_judge
from drevalkit.validity.agree import AgreeReport
from drevalkit.validity.labels import LabelError, match_claims, read_labels, resolve, similarity

from .support import judge_with

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LABELS = SAMPLES / "labels"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def corpus_pages() -> dict[str, str]:
    urls = json.loads((SAMPLES / "corpus" / "urls.json").read_text())
    return {
        url: extract_text_bounded(
            "text/html" if name.endswith(".html") else "text/plain", (SAMPLES / "corpus" / name).read_bytes(), None
        )[0]
        for name, url in urls.items()
    }


# ---------------------------------------------------------------------------------------- the labelled set


def test_the_shipped_claim_labels_are_true_to_the_sample_reports_and_corpus():
    kind, labels = read_labels(LABELS / "claims.jsonl")
    assert kind == "claims" and len(labels) >= 60
    counts = Counter(label.label for label in labels)
    assert counts["right"] >= 30 and counts["wrong"] >= 10 and counts["unknown"] >= 3
    assert len({label.report for label in labels}) >= 3
    pages = corpus_pages()
    for label in labels:
        report = resolve(LABELS / "claims.jsonl", label.report).read_text()
        assert " ".join(label.sentence.split()) in " ".join(report.split()), label.line  # the sentence is there
        assert label.reason.strip() and label.claim.strip()
        evidence = label.model_extra.get("evidence") or []
        if label.label == "unknown":
            continue
        # every right or wrong label names the page that settles it and quotes it exactly
        assert label.source in pages and evidence, label.line
        for quote in evidence:
            assert any(quote_in(quote, [text]) for text in pages.values()), (label.line, quote)
        assert any(quote_in(quote, [pages[label.source]]) for quote in evidence), label.line


def test_both_planted_errors_and_the_altered_figures_are_labelled_wrong():
    _, labels = read_labels(LABELS / "claims.jsonl")
    wrong = [label for label in labels if label.label == "wrong"]
    sentences = " ".join(label.sentence for label in wrong)
    assert "capped development costs at US$6 billion" in sentences  # ERRATA 1, in report.md and the demo
    assert "seven-layer sunshield" in sentences  # ERRATA 2
    assert sum(label.report == "reports/jwst-altered.md" for label in wrong) >= 8
    errata = (SAMPLES / "ERRATA.md").read_text()
    for uncited in ("most complex space science observatory", "several times more hours"):
        assert uncited in errata
        assert any(uncited in label.sentence and label.label == "unknown" for label in labels)


def test_the_shipped_pairs_name_existing_reports_and_tasks():
    kind, pairs = read_labels(LABELS / "pairs.jsonl")
    assert kind == "pairs" and len(pairs) >= 5
    assert {p.preferred for p in pairs} == {"a", "b", "tie"}
    for pair in pairs:
        for path in (pair.report_a, pair.report_b, pair.task) + ((pair.rubric,) if pair.rubric else ()):
            assert resolve(LABELS / "pairs.jsonl", path).is_file(), path
        assert pair.reason


# ------------------------------------------------------------------------------------------- label files


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"report": "r.md", "claim": "x", "label": "maybe"}'], "line 1: label"),
        (['{"report": "r.md", "label": "right"}'], "needs a 'claim' or a 'sentence'"),
        (['{"report": "r.md", "claim": "x", "label": "right"}', "not json"], "line 2: not JSON"),
        (
            [
                '{"report": "r.md", "claim": "x", "label": "right"}',
                '{"task": "t", "report_a": "a", "report_b": "b", "preferred": "a"}',
            ],
            "mixes",
        ),
        (['{"task": "t", "report_a": "a", "report_b": "b", "preferred": "c"}'], "preferred"),
        (["", "  "], "no labels"),
        (["[1, 2]"], "expected a JSON object"),
    ],
    ids=["bad-label", "no-text", "not-json", "mixed", "bad-preference", "empty", "not-object"],
)
def test_bad_label_files_are_refused_with_the_line(tmp_path, lines, message):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(LabelError, match=message):
        read_labels(path)


def test_labels_accept_case_and_extra_fields(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"report": "r.md", "sentence": "S.", "label": "Right", "note": "kept", "id": "x1"}\n')
    _, labels = read_labels(path)
    assert labels[0].label == "right" and labels[0].model_extra["note"] == "kept"


# ----------------------------------------------------------------------------------------------- matching


def test_similarity_is_bounded_and_cares_about_numbers():
    text = "In November 2011 Congress capped development costs at US$6 billion [2][3]."
    assert similarity(text, "In November 2011 Congress capped development costs at US$6 billion.") == 1.0
    assert similarity("", text) == 0.0
    other_figure = similarity(text, "In November 2011 Congress capped development costs at US$8 billion.")
    other_year = similarity(text, "In November 2014 Congress capped development costs at US$9 billion.")
    assert 0.5 < other_figure < 1.0 and other_year < other_figure
    assert similarity("Webb launched on an Ariane 5.", "Hubble orbits about 540 km above Earth.") < 0.2
    assert similarity("NASA spent 1,500 million", "nasa spent 1500 million") == 1.0


def _claim(i: int, text: str, sentence: str | None = None) -> Claim:
    return Claim(id=f"c{i}", text=text, sentence=sentence or text)


def test_matching_is_one_to_one_most_similar_first_and_bounded():
    from drevalkit.validity.labels import ClaimLabel

    labels = [
        ClaimLabel(report="r", claim="Webb's mirror is 6.5 m across.", label="right"),
        ClaimLabel(report="r", claim="Webb's mirror has 18 segments.", label="right"),
        ClaimLabel(report="r", claim="Something nobody checked about budgets.", label="unknown"),
    ]
    claims = [
        _claim(1, "Webb's mirror has 18 hexagonal segments.", "The mirror is 6.5 m across and has 18 segments."),
        _claim(2, "Webb's primary mirror is 6.5 m across."),
    ]
    matched = match_claims(labels, claims)
    assert matched[0][0] == 1 and matched[1][0] == 0 and 2 not in matched
    assert all(value >= 0.5 for _, value in matched.values())
    assert match_claims(labels, claims[:1]) == {1: match_claims(labels, claims[:1])[1]}  # one claim, one label
    assert match_claims(labels, claims, min_similarity=0.99) == {}


# ------------------------------------------------------------------------------------------------- the CLI


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
