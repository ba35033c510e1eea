"""score_report from Python with a jury: ``judges=`` takes the CLI's ``--judge`` strings. Two judges at two local
test servers give each judge's scores and verdicts and their agreement on the returned Scorecard; one judge replaces
the configured one; a judge that cannot be used is refused before anything is asked. Keyword overrides apply to the settings given."""

from __future__ import annotations

from pathlib import Path

import pytest

import drevalkit
from drevalkit.factcheck.corpus import add_folder
from drevalkit.ingest.task_files import load_tasks
from drevalkit.llm.factory import JudgeSpecError
from drevalkit.quality.rubric import read_rubric
from drevalkit.store import Store
from drevalkit.testing.openai_server import FakeOpenAIServer

from .support import check_two_judges, doubtful_verifier, fair, judge_with

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"
RUBRIC = read_rubric(DEMO / "rubric.json")


@pytest.fixture
def settings(judge_server, make_settings):
    """Settings of the test server, with the sample corpus indexed for the fact-check."""
    settings = make_settings(judge_server)
    store = Store(settings.store_path)
    try:
        add_folder(store, SAMPLES / "corpus", settings.fetch_max_bytes)
    finally:
        store.close()
    return settings


def test_score_report_with_two_judges_keeps_each_judges_scores_and_their_agreement(
    judge_server, second_server, settings
):
    judge_server.responder = judge_with(fair)  # quality by figures stated; verdicts by the rule-based stand-in
    second_server.responder = doubtful_verifier  # 2.5 points harsher, and calls every claim unknown
    task = load_tasks(DEMO / "task.json")[0]
    card = drevalkit.score_report(
        DEMO / "report.md",
        task,
        rubric=DEMO / "rubric.json",
        settings=settings,
        judges=[f"test-judge@{judge_server.url}", f"judge-b@{second_server.url}"],
    )
    assert card.status == "complete", card.reasons
    check_two_judges(card)  # each judge's totals, criterion scores and verdicts, alpha and kappa, as from the CLI
    assert [j.total for j in card.quality.jury] == card.quality.samples and card.quality.agreement.value is not None
    assert judge_server.completions > 0 and second_server.completions > 0

    calls = judge_server.completions + second_server.completions
    again = drevalkit.score_report(
        DEMO / "report.md",
        task,
        rubric=DEMO / "rubric.json",
        settings=settings,
        judges=[f"test-judge@{judge_server.url}", f"judge-b@{second_server.url}"],
    )
    assert again.quality == card.quality and judge_server.completions + second_server.completions == calls


def test_one_judge_replaces_the_configured_one_and_a_bad_one_is_refused(judge_server, second_server, settings):
    judge_server.responder = judge_with(fair)
    second_server.responder = judge_with(lambda text, body: fair(text, body) - 2.5)
    report = DEMO / "report.md"
    task = load_tasks(DEMO / "task.json")[0]
    configured = drevalkit.score_report(report, task, rubric=RUBRIC, settings=settings, factcheck=False)
    alone = drevalkit.score_report(
        report, task, rubric=RUBRIC, settings=settings, factcheck=False, judges=f"judge-b@{second_server.url}"
    )
    assert alone.provenance.judge.model == "judge-b" and alone.provenance.jury == [] and alone.quality.jury == []
    assert alone.quality.total == pytest.approx(configured.quality.total - 2.5)
    calls = judge_server.completions + second_server.completions
    for bad, why in (("http://h/v1", "give the model too"), ("m@http://user:pw@h/v1", "credentials")):
        with pytest.raises(JudgeSpecError, match=why):
            drevalkit.score_report(report, task, rubric=RUBRIC, settings=settings, judges=[bad])
    assert judge_server.completions + second_server.completions == calls


def test_score_report_applies_keyword_overrides_to_given_settings(make_settings, tmp_path):
    import drevalkit

    report = tmp_path / "r.md"
    report.write_text("# Report\n\nThe bridge opened in 1998 and cost 12 million euros [1].\n")
    with FakeOpenAIServer() as server:
        settings = make_settings(server)
        card = drevalkit.score_report(
            report, "Research bridges", settings=settings, quality=False, max_claims=1, out=tmp_path / "elsewhere"
        )
    assert (tmp_path / "elsewhere" / "results" / "default").is_dir()  # the override of `out` was used
    assert card.factcheck is not None and len(card.factcheck.claims) <= 1


def test_a_misspelt_keyword_is_refused_naming_the_close_match_before_anything_runs(
    judge_server, make_settings, sample_report_path
):
    settings = make_settings(judge_server)
    for keyword, match in (("max_claim", "max_claims"), ("factchek", "factcheck")):
        with pytest.raises(TypeError, match=rf"unexpected keyword argument '{keyword}' \(did you mean '{match}'\?\)"):
            drevalkit.score_report(sample_report_path, "Research", settings=settings, **{keyword: 1})
    with pytest.raises(TypeError, match="unexpected keyword argument 'zzz'$"):
        drevalkit.score_report(sample_report_path, "Research", settings=settings, zzz=1)
    assert judge_server.completions == 0 and not settings.out.exists()
