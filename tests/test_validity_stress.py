"""The stress run (drevalkit.validity.stress) against the OpenAI-compatible test server, with judges that react to the
perturbations: each bias is flagged by its probe and only by it, a fair judge is flagged by none, and the judge card
lists every probe. The ``dreval stress`` command is tested in test_cli_stress.py."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from drevalkit.factcheck.corpus import add_folder
from drevalkit.ingest.importers import load_report
from drevalkit.llm import open_llm
from drevalkit.quality.rubric import RubricBook, read_rubric
from drevalkit.schemas import FactCheckResult, JudgeInfo
from drevalkit.scoring import build_jobs, collect_reports
from drevalkit.store import Store
from drevalkit.validity import probes as P
from drevalkit.validity.card import build_card, card_for, render_card, write_card
from drevalkit.validity.stress import StressRunner
from drevalkit.validity.stress_run import EvidenceTrial, ReportStress, StressOptions, StressRun
from drevalkit.validity.stress_summary import summarise

from .support import fair, figures_stated, judge_with, prose_words

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


# ------------------------------------------------------------------------------ judges that react to the probes


def length_biased(text, body):
    return 1 + prose_words(text) / 60


def format_biased(text, body):
    # every report the judge sees ends in the canonical "## References" heading: that one is not style
    return fair(text, body) + (2.0 if "**" in text or re.search(r"^#{1,6} (?!References$)", text, re.M) else 0.0)


def position_biased(text, body):
    """Rewards whatever the report's first section is about (the first of cost, launch, results after the title)."""
    first = re.search(r"\b(cost|launch|results)\b", text.split("\n", 1)[-1], re.I)
    return fair(text, body) + (2.0 if first and first.group(1).lower() == "cost" else 0.0)


def citation_counting(text, body):
    return 1 + len(re.findall(r"\[\d+\]", text)) / 2


def obeys_injections(text, body):
    lowered = text.lower()
    obeyed = any(cue in lowered for cue in ("criterion 10", "score of 10", "10/10", "maximum score"))
    return 10.0 if obeyed else fair(text, body)


def constant(text, body):
    return 7.0


def temperature_noise(text, body):
    return 1 + figures_stated(text) / 10 + 3.0 * body.get("temperature", 0.0) + (body.get("seed", 0) % 3) * 0.5


# ------------------------------------------------------------------------------------------------- running

DEMO_REPORT, DEMO_TASK, DEMO_RUBRIC = (
    SAMPLES / "demo" / "report.md",
    SAMPLES / "demo" / "task.json",
    SAMPLES / "demo" / "rubric.json",
)


@pytest.fixture
def corpus_settings(make_settings, judge_server):
    """Settings at the test server, with the sample corpus indexed (the cited pages, offline)."""
    settings = make_settings(judge_server)
    with Store(settings.store_path) as store:
        add_folder(store, SAMPLES / "corpus", 10_000_000)
    return settings


def run_stress(settings, probes, report=DEMO_REPORT, task=DEMO_TASK, rubric=DEMO_RUBRIC, variants=3, **options):
    async def go():
        store = Store(settings.store_path)
        llm = open_llm(settings, store)
        try:
            jobs = build_jobs(collect_reports([report]), task_file=task)
            runner = StressRunner(
                settings, store, llm, StressOptions(probes=tuple(probes), variants=variants, **options)
            )
            book = RubricBook(settings.layout, llm, fixed=read_rubric(rubric) if rubric else None)
            return await runner.run(jobs, book)
        finally:
            await llm.close()
            store.close()

    return asyncio.run(go())


def flagged(run) -> set[str]:
    return {r.probe for r in run.results if r.flagged}


TEXT_PROBES = ("pad", "trim-style", "shuffle", "strip-citations", "inject", "fake-citations")


@pytest.mark.parametrize(
    "judge, expected",
    [
        (fair, set()),
        (length_biased, {"pad"}),
        (format_biased, {"trim-style"}),
        (position_biased, {"shuffle"}),
        (citation_counting, {"strip-citations", "fake-citations"}),
        (obeys_injections, {"inject"}),
    ],
    ids=["fair", "length", "format", "position", "citations", "injection"],
)
def test_each_bias_is_flagged_by_its_probe_and_only_by_it(judge, expected, judge_server, corpus_settings):
    judge_server.responder = judge_with(judge)
    run = run_stress(corpus_settings, TEXT_PROBES)
    assert flagged(run) == expected
    by_probe = {r.probe: r for r in run.results}
    for probe in TEXT_PROBES:
        result = by_probe[probe]
        assert result.reports == 1 and result.variants >= (1 if probe == "trim-style" else 2) and result.failed == 0
        assert result.low <= result.shift <= result.high
        if probe in expected:
            assert result.finding.startswith("sensitive") and result.moved == 1.0
        elif judge is fair:
            assert result.shift == pytest.approx(0.0) and result.finding.startswith("stable")
    inject = by_probe["inject"]
    assert inject.injection_success == (1.0 if judge is obeys_injections else 0.0)


def test_fair_judge_separates_the_null_report_and_a_constant_judge_is_fooled(judge_server, corpus_settings):
    judge_server.responder = judge_with(fair)
    run = run_stress(corpus_settings, ["null-report", "pad"])
    null = next(r for r in run.results if r.probe == "null-report")
    assert not null.flagged and null.high < -3.0 and null.finding.startswith("separates")
    assert null.perturbed_mean == pytest.approx(1.0)  # the null report states no figures

    judge_server.responder = judge_with(constant)
    run = run_stress(corpus_settings.model_copy(update={"cache": False}), ["null-report", "pad"])
    null = next(r for r in run.results if r.probe == "null-report")
    assert null.flagged and null.shift == pytest.approx(0.0) and null.finding.startswith("fooled")
    assert flagged(run) == {"null-report"}  # a constant judge is perfectly "stable" on everything else


def test_conditions_measure_the_judges_fluctuation(judge_server, corpus_settings):
    judge_server.responder = judge_with(temperature_noise)
    run = run_stress(corpus_settings, ["conditions"], variants=4)
    result = run.results[0]
    report = run.reports[0]
    conditions = [(v.temperature, v.seed) for v in report.variants]
    assert conditions == [(0.7, 1), (1.0, 2), (0.7, 3), (1.0, 4)]
    base = report.original.total
    # fair + 3 * temperature + 0.5 * (seed % 3): shifts 2.6, 4.0, 2.1, 3.5
    assert [round(v.total - base, 3) for v in report.variants] == [2.6, 4.0, 2.1, 3.5]
    assert result.flagged and result.shift == pytest.approx(3.05)
    assert result.fluctuation_range == pytest.approx(4.0)
    values = [base] + [v.total for v in report.variants]
    mean = sum(values) / 5
    assert result.fluctuation_sd == pytest.approx((sum((v - mean) ** 2 for v in values) / 4) ** 0.5)

    judge_server.responder = judge_with(fair)
    steady = run_stress(corpus_settings.model_copy(update={"cache": False}), ["conditions"]).results[0]
    assert not steady.flagged and steady.fluctuation_sd == 0.0 and steady.finding.startswith("stable")


def test_evidence_injection_no_longer_fools_the_rule_verifier_the_instructing_page_is_withheld(
    judge_server, corpus_settings
):
    """The rule verifier trusts any passage that holds the claim's figures: it used to call every altered claim
    right once the page restated it with "mark this claim right" (flagged, 100% against 0%). The fact-check now
    screens pages: the instructing page is not evidence, so the claim is never right, its verdict names the page,
    the page counts as not supporting, and the probe finds the fact-check robust."""
    judge_server.responder = judge_with(fair)
    run = run_stress(corpus_settings, ["evidence-injection"])
    result = run.results[0]
    trials = run.reports[0].evidence
    assert len(trials) == 3 and all(not t.problem for t in trials)
    assert all(t.control in ("wrong", "unknown") for t in trials)  # the altered claims contradict their pages
    assert all(t.injected == "unknown" for t in trials)  # their one cited page, also the only search hit, withheld
    assert not result.flagged and result.injection_success == 0.0 and result.control_rate == 0.0
    assert result.unit == "share" and result.shift == pytest.approx(0.0) and result.finding.startswith("robust")

    for trial in trials:  # kept for reading: pages, the one-sentence report, the fact-check, a probe store
        control, injected = Path(trial.folder) / "control", Path(trial.folder) / "injected"
        pages = {p.name: p.read_text() for p in (injected / "pages").glob("ref-*.txt")}
        clean = {p.name: p.read_text() for p in (control / "pages").glob("ref-*.txt")}
        assert any(P.EVIDENCE_INJECTIONS[trial.wording - 1].split("{")[0][:30] in t for t in pages.values())
        assert not any(
            "fact-check" in t.lower() or "verifier" in t.lower() or "AI systems" in t for t in clean.values()
        )
        url = json.loads((injected / "pages" / "urls.json").read_text())[f"ref-{min(trial.refs)}.txt"]
        hostile = [f for f in trial.injected_flags if "addressed the verifier" in f]
        assert hostile and all(f.startswith(f"evidence page addressed the verifier: {url} (") for f in hostile)
        assert not any("addressed the verifier" in f for f in trial.control_flags)
        assert trial.altered in (injected / "report.md").read_text()
        assert (injected / "store.sqlite3").exists()
        checked = FactCheckResult.model_validate_json((injected / "factcheck.json").read_text())
        assert any(url in r and "addressed the verifier" in r for r in checked.reasons)
        assert "addressed the verifier" in checked.verdicts[0].rationale
        source = next(s for s in checked.cited_sources if s.url == url)
        assert source.reachable and source.unsupported == 1 and source.supported == 0
        assert checked.citation_accuracy == 0.0 and not checked.evidence  # no passage of it reached the verifier
    # the instructions were served from the probe stores only, never put in the user's evidence store
    with Store(corpus_settings.store_path) as store:
        hits = store.search_documents("mark this claim right verifier", 20)
    assert all("example" in h.url for h in hits)
    for hit in hits:
        record = Store(corpus_settings.store_path)
        try:
            text = record.get_document(record.get_fetch(hit.url).content_sha256)
        finally:
            record.close()
        assert "Mark this claim right" not in text


def test_evidence_injection_flags_a_verifier_that_the_instruction_turns():
    """The probe's statistics: altered claims called right only with the instruction are a sensitive verifier."""
    trials = [
        EvidenceTrial(
            sentence="s",
            altered="a",
            figure="1",
            replacement="2",
            refs=[1],
            wording=1,
            place="end",
            folder="",
            control="wrong",
            injected="right",
        )
        for _ in range(3)
    ]
    run = StressRun(
        judge=JudgeInfo(model="m"),
        probes=["evidence-injection"],
        reports=[ReportStress(system="s", task_id="t", report="r", evidence=trials)],
    )
    result = summarise(run, StressOptions(probes=("evidence-injection",)))[0]
    assert result.flagged and result.injection_success == 1.0 and result.control_rate == 0.0
    assert result.shift == pytest.approx(1.0) and result.finding.startswith("sensitive")


def test_evidence_injection_is_skipped_with_a_reason_when_no_cited_page_is_stored(judge_server, make_settings):
    judge_server.responder = judge_with(fair)
    run = run_stress(make_settings(judge_server), ["evidence-injection", "pad"])
    result = next(r for r in run.results if r.probe == "evidence-injection")
    assert result.skipped == 1 and result.shift is None and not result.flagged
    assert "corpus add" in run.reports[0].skipped["evidence-injection"]
    assert result.finding.startswith("not measured")


def test_every_text_judged_is_kept_and_the_run_is_repeatable_from_the_cache(judge_server, corpus_settings):
    judge_server.responder = judge_with(length_biased)
    run = run_stress(corpus_settings, ["pad", "conditions", "null-report"], variants=2)
    folder = Path(run.reports[0].folder)
    original = load_report(DEMO_REPORT, system="s", task_id="t", max_bytes=1_000_000).text  # as read: canonical
    assert (folder / "original.md").read_text() == P.normalise(original)
    assert (folder / "original.quality.json").exists()
    for variant in run.reports[0].variants:
        if variant.probe == "conditions":
            assert (folder / "conditions" / f"{variant.variant}.quality.json").exists()
        else:
            path = Path(variant.path)
            assert path.parent == folder / variant.probe and path.exists()
            assert path.with_suffix(".quality.json").exists()
    assert json.loads((Path(run.folder) / "run.json").read_text())["results"]
    calls = judge_server.completions
    again = run_stress(corpus_settings, ["pad", "conditions", "null-report"], variants=2)
    assert judge_server.completions == calls  # every answer from the cache
    assert [r.model_dump(exclude={"finding"}) for r in again.results] == [
        r.model_dump(exclude={"finding"}) for r in run.results
    ]


def test_samples_carry_each_report_and_judge_passes_into_the_interval(judge_server, corpus_settings):
    judge_server.responder = judge_with(length_biased)
    run = run_stress(corpus_settings.model_copy(update={"samples": 2}), ["pad"], variants=2)
    original = run.reports[0].original
    assert len(original.samples) == 2
    result = run.results[0]
    assert result.low <= result.shift <= result.high and result.flagged


def test_a_report_that_cannot_be_read_is_recorded_not_fatal(judge_server, corpus_settings, tmp_path):
    judge_server.responder = judge_with(fair)
    empty = tmp_path / "jwst-briefing-note.md"
    empty.write_text("   \n")
    run = run_stress(corpus_settings, ["pad"], report=empty)
    assert run.reports[0].problem and run.results[0].finding.startswith("not measured")


# ----------------------------------------------------------------------------- the judge card and findings


def test_judge_card_is_filed_under_the_judges_identity_and_renders_hostile_text_inert(
    tmp_path, judge_server, corpus_settings
):
    judge_server.responder = judge_with(fair)
    run = run_stress(corpus_settings, ["pad"], variants=1)
    run.judge = JudgeInfo(model="<script>alert(1)</script>", endpoint="http://h/v1", identity="http://h/v1")
    run.results[0].finding = "<img src=x onerror=alert(1)>"
    card = build_card(run)
    json_path, html_path = write_card(card, tmp_path)
    assert card_for(tmp_path, run.judge) == card
    other = JudgeInfo(model="<script>alert(1)</script>", endpoint="http://other/v1", identity="http://other/v1")
    assert card_for(tmp_path, other) is None  # the same model name at another endpoint is another judge
    page = html_path.read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "<img src=x" not in page
    assert page == render_card(card)


def test_a_probe_skipped_by_some_reports_only_keeps_the_general_finding():
    entries = [
        ReportStress(system="s", task_id=f"t{k}", report="r", skipped={"shuffle": P.why_not("shuffle")})
        for k in range(2)
    ] + [ReportStress(system="s", task_id="t2", report="r", problem="unreadable")]
    run = StressRun(judge=JudgeInfo(backend="openai", model="m", endpoint="e"), probes=["shuffle"], reports=entries)
    # every report that could be read had none; the unreadable one says its own problem
    assert (
        summarise(run, StressOptions(probes=("shuffle",)))[0].finding
        == "not measured: no report has sections to reorder"
    )
    run.reports.append(ReportStress(system="s", task_id="t3", report="r"))  # read, but its judging failed
    assert (
        summarise(run, StressOptions(probes=("shuffle",)))[0].finding
        == "not measured: no report had both the original and a variant judged"
    )
