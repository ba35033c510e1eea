"""dreval agree's intervals resample reports (claims) and tasks (pairs), not items: claims of one report share the
judge's context and pages, so a claim-level bootstrap is too narrow. Hand-made results with known answers: two
reports, one the judge gets all right and one all wrong, give an interval from 0 to 1 where the claim-level one is
narrow; one report gives no interval at all; the same seed gives the same intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit import stats
from drevalkit.cli import main
from drevalkit.schemas import (
    Claim,
    FactCheckResult,
    JudgeInfo,
    Provenance,
    QualityResult,
    ReportRef,
    Scorecard,
    Task,
    Verdict,
)
from drevalkit.validity.agree import AgreeOptions, AgreeReport, claim_agreement, pair_agreement
from drevalkit.validity.labels import ClaimLabel, PairLabel

OPTIONS = AgreeOptions(resamples=4000)


def _card(
    report: Path, task_id: str = "t", factcheck: FactCheckResult | None = None, total: float | None = None
) -> Scorecard:
    return Scorecard(
        system="sys",
        task_id=task_id,
        status="complete",
        report_ref=ReportRef(path=str(report), sha256="0" * 64, words=100, source_format="markdown", citations=0),
        factcheck=factcheck,
        quality=None if total is None else QualityResult(rubric_hash="r", total=total, status="complete"),
        provenance=Provenance(dreval_version="test", judge=JudgeInfo(model="m"), config_hash="c", started_at="now"),
    )


def _report(folder: Path, name: str, pairs: list[tuple[str, str]]) -> tuple[list[ClaimLabel], Scorecard]:
    """Labels of one report and dreval's result on it: ``pairs`` holds (people's label, dreval's) per claim."""
    path = folder / f"{name}.md"
    path.write_text(f"# {name}\n")
    claims, verdicts, labels = [], [], []
    for i, (human, machine) in enumerate(pairs):
        text = f"In {2000 + i} the {name} survey counted {10 * i + 7} stars."
        claims.append(Claim(id=f"c{i}", text=text, sentence=text))
        verdicts.append(Verdict(claim_id=f"c{i}", label=machine))
        labels.append(ClaimLabel(report=path.name, claim=text, label=human, line=i + 1))
    return labels, _card(path, name, FactCheckResult(claims=claims, verdicts=verdicts, status="complete"))


def _agreement(folder: Path, reports: dict[str, list[tuple[str, str]]], options: AgreeOptions = OPTIONS):
    labels, results = [], []
    for name, pairs in reports.items():
        own, card = _report(folder, name, pairs)
        labels += own
        results.append((folder / f"{name}.json", card))
    return claim_agreement(labels, folder / "labels.jsonl", results, options)


AGREES = [("right", "right")] * 5 + [("wrong", "wrong")] * 5
DISAGREES = [("right", "wrong")] * 5 + [("wrong", "right")] * 5


def test_a_report_all_right_and_one_all_wrong_span_everything_where_claims_alone_look_sure(tmp_path):
    c, rows = _agreement(tmp_path, {"good": AGREES, "bad": DISAGREES})
    assert c.compared == 20 and c.resampled_by == "report" and c.clusters == 2
    # two reports drawn with replacement: both good (1/4: accuracy 1, kappa 1), both bad (1/4: 0, -1), or one of
    # each (1/2: 0.5, 0) -> the 95% percentile interval runs from the bad report alone to the good one alone
    assert (c.accuracy.value, c.accuracy.low, c.accuracy.high) == (pytest.approx(0.5), 0.0, 1.0)
    assert (c.kappa.value, c.kappa.low, c.kappa.high) == (pytest.approx(0.0), pytest.approx(-1.0), pytest.approx(1.0))
    assert c.accuracy.n == c.kappa.n == 20 and c.accuracy.clusters == 2
    right = next(s for s in c.per_label if s.label == "right")
    assert (right.precision.value, right.precision.low, right.precision.high) == (pytest.approx(0.5), 0.0, 1.0)
    # the same 20 claims resampled one by one, as if independent (each its own report): far narrower
    single = tmp_path / "one-claim-each"
    single.mkdir()
    by_claim, _ = _agreement(single, {f"c{i}": [pair] for i, pair in enumerate(AGREES + DISAGREES)})
    assert by_claim.clusters == 20 and by_claim.accuracy.value == pytest.approx(0.5)
    assert 0.2 < by_claim.accuracy.low < by_claim.accuracy.high < 0.8
    assert by_claim.kappa.high - by_claim.kappa.low < 0.5 * (c.kappa.high - c.kappa.low)


def test_precision_and_recall_by_hand(tmp_path):
    pairs = [
        ("right", "right"),
        ("right", "right"),
        ("right", "wrong"),
        ("wrong", "wrong"),
        ("wrong", "right"),
        ("unknown", "unknown"),
    ]
    c, _ = _agreement(tmp_path, {f"r{i}": [pair] for i, pair in enumerate(pairs)})
    rows = {s.label: s for s in c.per_label}
    right, wrong, unknown = rows["right"], rows["wrong"], rows["unknown"]
    assert (right.human, right.dreval, right.both) == (3, 3, 2)
    assert right.precision.value == pytest.approx(2 / 3) and right.recall.value == pytest.approx(2 / 3)
    assert wrong.precision.value == pytest.approx(1 / 2) and wrong.recall.value == pytest.approx(1 / 2)
    assert unknown.precision.value == pytest.approx(1.0) and unknown.recall.value == pytest.approx(1.0)
    assert c.accuracy.value == pytest.approx(4 / 6)
    for s in (right, wrong):
        for estimate in (s.precision, s.recall):
            assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0


def test_the_same_seed_gives_the_same_intervals_and_another_seed_other_draws(tmp_path):
    reports = {f"r{i}": AGREES[: 10 - i] + DISAGREES[: i + 1] for i in range(6)}
    first, _ = _agreement(tmp_path, reports)
    again, _ = _agreement(tmp_path, reports)
    assert first == again and first.clusters == 6
    other, _ = _agreement(tmp_path, reports, AgreeOptions(resamples=4000, seed=1))
    assert other.accuracy.value == first.accuracy.value
    assert (other.accuracy.low, other.accuracy.high, other.kappa.low) != (
        first.accuracy.low,
        first.accuracy.high,
        first.kappa.low,
    )


def test_one_report_gives_no_interval_and_a_label_from_one_report_neither(tmp_path):
    alone, _ = _agreement(tmp_path, {"only": AGREES + DISAGREES})
    assert alone.clusters == 1 and alone.accuracy.value == pytest.approx(0.5)
    estimates = [alone.accuracy, alone.kappa] + [e for s in alone.per_label for e in (s.precision, s.recall) if e]
    assert estimates and all(e.low is None and e.high is None and e.clusters == 1 for e in estimates)
    # two reports, but people said unknown in one only: that recall stands on one report
    two, _ = _agreement(tmp_path, {"good": AGREES + [("unknown", "unknown")], "bad": DISAGREES})
    unknown = next(s for s in two.per_label if s.label == "unknown")
    assert unknown.recall.value == 1.0 and unknown.recall.clusters == 1 and unknown.recall.low is None
    assert two.accuracy.low is not None


def _write(folder: Path, cards: list[Scorecard], labels: list[dict]) -> Path:
    results = folder / "results"
    results.mkdir()
    for i, card in enumerate(cards):
        (results / f"{i}.json").write_text(card.model_dump_json())
    path = folder / "labels.jsonl"
    path.write_text("".join(json.dumps(label) + "\n" for label in labels))
    return path


@pytest.mark.parametrize(
    "reports, said",
    [
        (
            {"good": AGREES, "bad": DISAGREES},
            ["accuracy 50% [0, 100]", "resampled by report, 2 reports", "Cohen's kappa 0.00 [-1.00, 1.00]"],
        ),
        (
            {"only": AGREES + DISAGREES},
            [
                "accuracy 50% (no interval: all from one report)",
                "Cohen's kappa 0.00 (no interval: all from one report)",
                "resampled by report, 1 report)",
            ],
        ),
    ],
    ids=["two-reports", "one-report"],
)
def test_dreval_agree_says_what_it_resampled(judge_env, tmp_path, reports, said):
    labels, cards = [], []
    for name, pairs in reports.items():
        own, card = _report(tmp_path, name, pairs)
        labels += [label.model_dump() for label in own]
        cards.append(card)
    result = CliRunner().invoke(
        main,
        ["agree", str(_write(tmp_path, cards, labels)), "--results", str(tmp_path / "results")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output + result.stderr
    for text in said:
        assert text in result.output
    saved = AgreeReport.model_validate_json(
        (tmp_path / "dreval-out" / "agree" / "labels" / "agreement.json").read_text()
    )
    assert saved.claims.resampled_by == "report" and saved.claims.clusters == len(reports)
    assert "reports are drawn with replacement" in saved.method


# ---------------------------------------------------------------------------------------------------- pairs


def _pairs(folder: Path, preferred: dict[str, str]) -> tuple[list[PairLabel], list[Task], list]:
    """Per task, three reports scored 9, 6 and 3 and its three pairs, all labelled ``preferred[task]``."""
    labels, tasks, results = [], [], []
    for task_id, choice in preferred.items():
        totals = {f"{task_id}-x.md": 9.0, f"{task_id}-y.md": 6.0, f"{task_id}-z.md": 3.0}
        for name, total in totals.items():
            (folder / name).write_text("# r\n")
            results.append((folder / f"{name}.json", _card(folder / name, task_id, total=total)))
        for a, b in ((0, 1), (1, 2), (0, 2)):
            labels.append(
                PairLabel(
                    task=task_id,
                    report_a=list(totals)[a],
                    report_b=list(totals)[b],
                    preferred=choice,
                    line=len(labels) + 1,
                )
            )
            tasks.append(Task(id=task_id, prompt=f"task {task_id}"))
    return labels, tasks, results


def test_pairs_are_resampled_by_task(tmp_path):
    labels, tasks, results = _pairs(tmp_path, {"t1": "a", "t2": "b"})  # dreval agrees on t1, disagrees on t2
    p, rows = pair_agreement(labels, tasks, tmp_path / "labels.jsonl", results, OPTIONS)
    assert p.scored == 6 and p.resampled_by == "task" and p.clusters == 2
    assert [r.dreval for r in rows] == ["a"] * 6
    for estimate in (p.agreement, p.strict, p.with_ties):
        assert (estimate.value, estimate.low, estimate.high, estimate.n) == (pytest.approx(0.5), 0.0, 1.0, 6)
    by_pair = stats.bootstrap_mean([1.0] * 3 + [0.0] * 3, resamples=4000)  # pairs as if independent
    assert by_pair.high - by_pair.low < 1.0
    one, _ = pair_agreement(labels[:3], tasks[:3], tmp_path / "labels.jsonl", results, OPTIONS)
    assert one.clusters == 1 and one.agreement.value == 1.0 and one.agreement.low is None
