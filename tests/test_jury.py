"""Juries: --judge given more than once. Aggregation by hand (means, majorities, ties), agreement statistics, and
dreval score with two judges at two test servers: per-judge scores, their agreement, the scorecard and leaderboard;
one judge stays exactly as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.factcheck.jury import combine_verdicts, verdict_agreement
from drevalkit.llm.factory import JudgeSpecError, jury_settings, parse_judge
from drevalkit.quality.aggregate import combine_quality
from drevalkit.quality.judge import CriterionJudgement, DimensionOutcome, aggregate
from drevalkit.quality.rubric import read_rubric
from drevalkit.schemas import JudgeInfo, Scorecard, Verdict
from drevalkit.stats import agreement as A
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer

from .support import check_two_judges, doubtful_verifier, fair, harsh, judge_with

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"
RUBRIC = read_rubric(DEMO / "rubric.json")
JUDGES = [
    JudgeInfo(model="a", endpoint="http://a/v1", identity="http://a/v1"),
    JudgeInfo(model="b", endpoint="http://b/v1", identity="http://b/v1"),
]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_parse_judge():
    assert parse_judge("Qwen/Qwen2.5-72B-Instruct@http://gpu:8000/v1") == (
        "Qwen/Qwen2.5-72B-Instruct",
        "http://gpu:8000/v1",
    )
    assert parse_judge("org/model@v2@https://h/v1") == ("org/model@v2", "https://h/v1")
    assert parse_judge("gpt-4.1-mini") == ("gpt-4.1-mini", None)
    assert parse_judge(" local ") == ("local", None)
    for bad, why in (("", "MODEL, MODEL@URL or local"), ("http://h/v1", "give the model too")):
        with pytest.raises(JudgeSpecError, match=why) as caught:
            parse_judge(bad)
        assert caught.value.spec == bad and str(caught.value).startswith(f"judge {bad!r}: ")


def _outcomes(scores: dict[str, float], failed: set[str] = frozenset()) -> list[DimensionOutcome]:
    """One judge's outcome per dimension of the demo rubric, every criterion scored ``scores[criterion id]``."""
    outcomes = []
    for dim in RUBRIC.dimensions:
        if dim.id in failed:
            outcomes.append(DimensionOutcome(dim.id, 0, None, "the judge returned garbage"))
        else:
            outcomes.append(
                DimensionOutcome(
                    dim.id,
                    0,
                    {c.id: CriterionJudgement(rationale=f"r {c.id}", score=scores[c.id]) for c in dim.criteria},
                )
            )
    return outcomes


CRITERIA = [c.id for d in RUBRIC.dimensions for c in d.criteria]


def test_jury_quality_is_the_mean_of_the_judges_each_kept_with_alpha_by_hand():
    a = {cid: 8.0 for cid in CRITERIA}
    b = {cid: 6.0 for cid in CRITERIA}
    b[CRITERIA[0]] = 2.0  # one criterion the judges disagree on
    result = combine_quality(RUBRIC, [_outcomes(a), _outcomes(b)], 1, JUDGES)
    own_a, own_b = aggregate(RUBRIC, _outcomes(a), 1), aggregate(RUBRIC, _outcomes(b), 1)
    assert [j.total for j in result.jury] == [own_a.total, own_b.total]
    assert result.total == pytest.approx((own_a.total + own_b.total) / 2)
    scores = {s.criterion_id: s for s in result.scores}
    assert scores[CRITERIA[0]].score == pytest.approx(5.0) and scores[CRITERIA[0]].samples == [8.0, 2.0]
    assert scores[CRITERIA[1]].score == pytest.approx(7.0) and scores[CRITERIA[1]].spread.min == 6.0
    assert result.samples == [own_a.total, own_b.total]  # each judge's total is a judging pass
    assert result.status == "complete" and result.jury[1].criterion_scores[CRITERIA[0]] == 2.0
    agreement = result.agreement
    units = [[a[c], b[c]] for c in CRITERIA]
    assert agreement.statistic == "krippendorff_alpha" and agreement.judges == 2 and agreement.items == len(CRITERIA)
    assert agreement.value == pytest.approx(A.krippendorff_alpha(units))
    # by hand: 10 units of two values; D_o = (9 * 2 * 4 + 2 * 36) / 20 = 7.2; all 20 values: nine 8s, nine 6s,
    # one 8 and one 2 -> D_e from the squared differences of every pair
    values = [8.0] * 10 + [6.0] * 9 + [2.0]
    d_e = sum((x - y) ** 2 for i, x in enumerate(values) for j, y in enumerate(values) if i != j) / (20 * 19)
    assert agreement.value == pytest.approx(1 - 7.2 / d_e)
    # every criterion is at least 2 apart (8 against 6); the most disputed first, at most five listed
    assert agreement.disputed[0] == CRITERIA[0] and len(agreement.disputed) == 5 and agreement.unanimous == 0.0
    assert agreement.spread == pytest.approx(abs(own_a.total - own_b.total))


def test_a_judge_failing_a_dimension_leaves_the_others_and_says_so():
    a = {cid: 8.0 for cid in CRITERIA}
    b = {cid: 4.0 for cid in CRITERIA}
    failing = RUBRIC.dimensions[0].id
    result = combine_quality(RUBRIC, [_outcomes(a), _outcomes(b, failed={failing})], 1, JUDGES)
    assert result.status == "partial" and result.dimension_scores[failing].score == pytest.approx(8.0)
    assert "judgements (judges x samples) failed" in result.dimension_scores[failing].reason
    assert any(reason.startswith("judge b@http://b/v1:") for reason in result.reasons)
    assert result.jury[1].status == "partial" and result.jury[1].dimension_scores[failing] is None


def _verdict(claim: str, label: str, quote: str = "") -> Verdict:
    return Verdict(
        claim_id=claim,
        label=label,
        quote=quote,
        rationale=f"{label} because",
        evidence_ids=["e1"] if label in ("right", "wrong") else [],
    )


def test_verdicts_are_the_majority_a_tie_is_unknown_and_each_judge_is_kept():
    three = JUDGES + [JudgeInfo(model="c", endpoint="http://c/v1", identity="http://c/v1")]
    per_judge = [
        [
            _verdict("c1", "right", "quote a"),
            _verdict("c2", "right"),
            _verdict("c3", "failed"),
            _verdict("c4", "wrong"),
        ],
        [
            _verdict("c1", "right", "quote b"),
            _verdict("c2", "wrong"),
            _verdict("c3", "failed"),
            _verdict("c4", "right"),
        ],
        [_verdict("c1", "wrong"), _verdict("c2", "unknown"), _verdict("c3", "failed"), _verdict("c4", "failed")],
    ]
    follow = [{"c2": "query from a"}, {}, {"c2": "query from c"}]
    combined, queries = combine_verdicts(per_judge, follow, three)
    by_id = {v.claim_id: v for v in combined}
    assert by_id["c1"].label == "right" and by_id["c1"].quote == "quote a"  # 2 of 3, the first of the majority
    assert [j.label for j in by_id["c1"].jury] == ["right", "right", "wrong"]
    assert [j.model for j in by_id["c1"].jury] == ["a", "b", "c"]
    assert by_id["c2"].label == "unknown" and "no majority" in by_id["c2"].rationale  # right 1, wrong 1, unknown 1
    assert by_id["c2"].flags == ["jury split: right 1, unknown 1, wrong 1"]
    assert by_id["c3"].label == "failed"  # nobody could verify it
    assert by_id["c4"].label == "unknown"  # right 1, wrong 1; the failed one has no vote
    assert queries == {"c2": "query from a"}

    result = type("R", (), {"verdicts": combined})()
    agreement = verdict_agreement(result, 3)
    rated = [["right", "right", "wrong"], ["right", "wrong", "unknown"]]  # c3, c4 had failed votes
    assert agreement.items == 2 and agreement.value == pytest.approx(A.fleiss_kappa_labels(rated, A.VERDICT_LABELS))
    assert agreement.unanimous == 0.0 and agreement.disputed == ["c1", "c2", "c4"]


# ------------------------------------------------------------------------------------------- end to end


@pytest.fixture
def second_server():
    with FakeOpenAIServer(model="judge-b") as server:
        yield server


def _card(out: Path, system: str, task: str) -> Scorecard:
    return Scorecard.model_validate_json((out / "results" / system / f"{task}.json").read_text())


def test_two_judges_give_per_judge_scores_verdicts_and_their_agreement(
    judge_env, judge_server, second_server, tmp_path
):
    judge_server.responder = judge_with(fair)  # quality by figures stated; fact-check by the rule judge
    second_server.responder = doubtful_verifier
    assert invoke("corpus", "add", SAMPLES / "corpus").exit_code == 0
    reports = tmp_path / "sys"
    reports.mkdir()
    shutil.copy(DEMO / "report.md", reports / "jwst-briefing-note.md")
    args = [
        "score",
        reports / "jwst-briefing-note.md",
        "--task",
        DEMO / "task.json",
        "--rubric",
        DEMO / "rubric.json",
        "--judge",
        f"test-judge@{judge_server.url}",
        "--judge",
        f"judge-b@{second_server.url}",
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output + result.stderr
    assert "jury of 2 judges: Krippendorff's alpha" in result.output and "Fleiss' kappa" in result.output
    assert "test-judge@" in result.output and "judge-b@" in result.output
    out = tmp_path / "dreval-out"
    card = _card(out, "default", "jwst-briefing-note")
    check_two_judges(card)
    lead = card.quality.jury[0]
    assert second_server.completions > 0 and judge_server.completions > 0
    page = (out / "html" / "default" / "jwst-briefing-note.html").read_text()
    assert 'id="jury"' in page and "judge-b" in page and "Krippendorff" in page and "Fleiss" in page

    calls = judge_server.completions + second_server.completions
    again = invoke(*args)
    assert again.exit_code == 0 and "already done" in again.output
    assert judge_server.completions + second_server.completions == calls
    # another jury is not the same judge: the result is scored again
    alone = invoke(
        "score", reports / "jwst-briefing-note.md", "--task", DEMO / "task.json", "--rubric", DEMO / "rubric.json"
    )
    assert alone.exit_code == 0 and "already done" not in alone.output
    single = _card(out, "default", "jwst-briefing-note")
    assert single.quality.jury == [] and single.quality.agreement is None and single.provenance.jury == []
    assert single.quality.total == pytest.approx(lead.total)  # the lead alone scores as it did in the jury


def test_one_judge_is_scored_exactly_as_before(judge_env, judge_server, tmp_path):
    judge_server.responder = rule_judge.respond
    assert invoke("corpus", "add", SAMPLES / "corpus").exit_code == 0
    plain = invoke(
        "score",
        DEMO / "report.md",
        "--task",
        DEMO / "task.json",
        "--rubric",
        DEMO / "rubric.json",
        "--out",
        tmp_path / "plain",
    )
    assert plain.exit_code == 0, plain.output + plain.stderr
    named = invoke(
        "score",
        DEMO / "report.md",
        "--task",
        DEMO / "task.json",
        "--rubric",
        DEMO / "rubric.json",
        "--out",
        tmp_path / "named",
        "--judge",
        f"test-judge@{judge_server.url}",
    )
    assert named.exit_code == 0, named.output + named.stderr
    a = _card(tmp_path / "plain", "default", "jwst-briefing-note")
    b = _card(tmp_path / "named", "default", "jwst-briefing-note")
    assert a.quality.jury == b.quality.jury == [] and a.factcheck.agreement is None
    assert all(v.jury == [] for v in a.factcheck.verdicts)
    keep = {
        "quality": {"scores", "dimension_scores", "total", "samples", "status"},
        "factcheck": {"verdicts", "counts", "ratios"},
    }
    assert a.model_dump(include=keep) == b.model_dump(include=keep)
    assert "jury" not in plain.output and a.provenance.judge == b.provenance.judge
    page = (tmp_path / "plain" / "html" / "default" / "jwst-briefing-note.html").read_text()
    assert 'id="jury"' not in page


def test_bad_judge_specs_are_refused(judge_env):
    result = invoke("score", DEMO / "report.md", "--task", DEMO / "task.json", "--judge", "http://h/v1")
    assert result.exit_code == 2 and "--judge 'http://h/v1': give the model too, as MODEL@URL" in result.stderr
    result = invoke("score", DEMO / "report.md", "--task", DEMO / "task.json", "--judge", "m@http://user:pw@h/v1")
    assert result.exit_code == 2 and "credentials" in result.stderr


def test_openai_key_is_not_sent_to_another_judges_endpoint(monkeypatch):
    from drevalkit.config import load_settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    for key in ("DREVAL_API_KEY", "DREVAL_BASE_URL", "DREVAL_MODEL"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings(None, {"model": "gpt-4.1-mini"}, environ={"OPENAI_API_KEY": "sk-openai"})
    lead, other = jury_settings(settings, ["gpt-4.1-mini", "qwen@http://gpu:8000/v1"])
    assert lead.api_key.get_secret_value() == "sk-openai" and other.api_key is None
    assert other.base_url == "http://gpu:8000/v1" and other.model == "qwen" and other.backend == "openai"


def test_leaderboard_shows_jury_agreement_and_links_the_judge_card(judge_env, judge_server, second_server, tmp_path):
    judge_server.responder = judge_with(fair)
    second_server.responder = judge_with(harsh)
    reports = tmp_path / "sys"
    reports.mkdir()
    shutil.copy(DEMO / "report.md", reports / "jwst-briefing-note.md")
    result = invoke(
        "score",
        reports / "jwst-briefing-note.md",
        "--task",
        DEMO / "task.json",
        "--rubric",
        DEMO / "rubric.json",
        "--no-factcheck",
        "--judge",
        f"test-judge@{judge_server.url}",
        "--judge",
        f"judge-b@{second_server.url}",
    )
    assert result.exit_code == 0, result.output + result.stderr
    stressed = invoke(
        "stress",
        DEMO / "report.md",
        "--task",
        DEMO / "task.json",
        "--rubric",
        DEMO / "rubric.json",
        "--probes",
        "pad",
        "--variants",
        "1",
    )
    assert stressed.exit_code == 0, stressed.output + stressed.stderr
    out = tmp_path / "dreval-out"
    board = invoke("leaderboard", out, "--format", "md", "--out", tmp_path / "board.md")
    assert board.exit_code == 0, board.output + board.stderr
    text = (tmp_path / "board.md").read_text()
    assert "Jury agreement" in text and "Krippendorff's alpha" in text and "Judge cards" in text
    assert "judge-cards/" in text
    page = invoke("leaderboard", out, "--format", "html", "--out", out / "leaderboard.html")
    assert page.exit_code == 0
    html = (out / "leaderboard.html").read_text()
    assert 'id="judge-cards"' in html and 'href="judge-cards/test-judge-' in html
    data = json.loads(
        invoke("leaderboard", out, "--format", "json", "--out", tmp_path / "b.json").output
        and (tmp_path / "b.json").read_text()
    )
    row = data["systems"][0]
    assert row["jury_alpha"]["mean"] is not None and row["jury_alpha"]["n"] == 1
