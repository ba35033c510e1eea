"""Scoring jobs from report files (drevalkit.scoring.jobs): original files of other tools and imported reports, each
carrying its query, scored as they are."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.ingest.importers import import_reports
from drevalkit.ingest.sidecar import ImportSidecar, read_sidecar
from drevalkit.schemas import Scorecard
from drevalkit.scoring.jobs import build_jobs, collect_reports

from .support import CHROME_PHRASES

DATA = Path(__file__).resolve().parent / "data" / "import"
GEMINI = DATA / "deepresearcheval" / "gemini"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _sidecar(path: Path) -> ImportSidecar:
    sidecar = read_sidecar(path)
    assert sidecar is not None, path
    return sidecar


def _card(path: Path) -> Scorecard:
    return Scorecard.model_validate_json(path.read_text())


def test_jobs_from_original_files_and_reports_carrying_their_query(tmp_path):
    jobs = build_jobs(collect_reports([GEMINI]))  # no task file: each file carries its query
    assert [(j.task_id, j.system, bool(j.task), j.problem) for j in jobs] == [
        ("7", "gemini", True, ""),
        ("8", "gemini", True, ""),
        ("9", "gemini", True, ""),
    ]
    assert jobs[0].task.prompt.startswith("Between 1996 and 2024")
    jobs = build_jobs(collect_reports([GEMINI]), tasks_file=DATA / "deepresearcheval" / "query.jsonl")
    assert [j.task.id for j in jobs] == ["7", "8", "9"] and jobs[0].task.domain == "Science & Technology"
    # a JSONL of many reports: one job each, the file's name as the system; a broken line is a failed job
    jobs = build_jobs(collect_reports([DATA / "drb" / "my-agent.jsonl"]), tasks_file=DATA / "drb" / "query.jsonl")
    assert [(j.task_id, j.system) for j in jobs] == [
        ("1", "my-agent"),
        ("2", "my-agent"),
        ("my-agent-line3", "my-agent"),
        ("4", "my-agent"),
    ]
    assert "malformed JSON" in jobs[2].problem and not jobs[0].problem
    # an imported folder: sidecars are not reports, and the sidecar's prompt makes the task
    import_reports([GEMINI, DATA / "markdown" / "webb-summary.md"], tmp_path / "sys")
    files = collect_reports([tmp_path / "sys"])
    assert all(p.suffix == ".md" for p, _ in files)
    jobs = build_jobs(files)
    assert {j.task_id: bool(j.task) for j in jobs} == {"7": True, "8": True, "9": True, "webb-summary": False}
    assert "does not carry its question" in next(j for j in jobs if j.task_id == "webb-summary").problem
    with pytest.raises(Exception, match="give exactly one of"):
        build_jobs(collect_reports([DATA / "markdown" / "webb-summary.md"]))


def test_score_an_imported_gemini_folder_with_cited_sources_fetched(judge_env, judge_server, monkeypatch, tmp_path):
    """Done-when: a folder of DeepResearchEval Gemini JSON files imports and scores with its cited sources linked
    (markers resolve to the source list, cited URLs are requested) and no interface text left in the reports."""
    from drevalkit.testing import rule_judge
    from drevalkit.testing.search_server import FakeSearchServer
    from drevalkit.testing.static_site import StaticSite

    judge_server.responder = rule_judge.respond
    urls = json.loads((SAMPLES / "corpus" / "urls.json").read_text())
    with StaticSite(SAMPLES / "corpus") as site, FakeSearchServer(corpus=[]) as search:
        originals = tmp_path / "gemini_2.5_pro"
        originals.mkdir()
        for path in GEMINI.glob("*.json"):
            text = path.read_text()
            for name, url in urls.items():
                text = text.replace(url, site.url(name))
            (originals / path.name).write_text(text)
        imported = invoke("import", "deepresearcheval", originals, "--out", tmp_path / "reports" / "gemini")
        assert imported.exit_code == 1 and "1 failed" in imported.output  # the plan-only export
        for md in (tmp_path / "reports" / "gemini").glob("[78].md"):
            for phrase in CHROME_PHRASES:
                assert phrase not in md.read_text()
        monkeypatch.setenv("DREVAL_SEARXNG_URL", search.url("searxng"))
        result = invoke(
            "score", tmp_path / "reports" / "gemini", "--search", "searxng", "--allow-private-urls", "--max-claims", 8
        )
        assert result.exit_code == 1, result.output + result.stderr  # 9 is a failed report
        results = tmp_path / "dreval-out" / "results" / "gemini"
        cards = {p.stem: _card(p) for p in results.glob("*.json")}
        assert set(cards) == {"7", "8", "9"}
        assert cards["9"].status == "failed" and "plan-only" in cards["9"].reasons[0] and cards["9"].quality is None
        for task_id, cited in (
            ("7", ["history.html", "cost.html", "reviews.txt", "launch.html"]),
            ("8", ["instruments.html", "hubble.html"]),
        ):
            card = cards[task_id]
            assert card.task.prompt == _sidecar(tmp_path / "reports" / "gemini" / f"{task_id}.md").prompt
            assert card.report_ref.citations == len(cited) and card.quality.total is not None
            fetched = {f.url for f in card.factcheck.fetches}
            assert any(site.url(name) in fetched for name in cited)
            assert all(site.url(name) not in fetched for name in urls if name not in cited)
        assert site.hits["/launch.html"] >= 1 and site.hits["/instruments.html"] >= 1
        # the original files score the same way, without importing first
        direct = invoke(
            "score",
            originals,
            "--tasks",
            DATA / "deepresearcheval" / "query.jsonl",
            "--no-factcheck",
            "--out",
            tmp_path / "direct",
        )
        assert direct.exit_code == 1, direct.output + direct.stderr
        direct_cards = {p.stem: _card(p) for p in (tmp_path / "direct" / "results" / "gemini_2.5_pro").glob("*.json")}
        assert set(direct_cards) == {"7", "8", "9"} and direct_cards["7"].quality.total is not None
        assert direct_cards["7"].report_ref.source_format == "deepresearcheval"
        assert direct_cards["7"].report_ref.sha256 == cards["7"].report_ref.sha256  # the same normalised text
        assert direct_cards["9"].status == "failed" and "plan-only" in direct_cards["9"].reasons[0]


def test_drb_and_miroeval_files_import_and_score(judge_env, tmp_path):
    result = invoke("score", DATA / "drb" / "my-agent.jsonl", "--no-factcheck")
    assert result.exit_code == 1, result.output + result.stderr
    cards = {p.stem: _card(p) for p in (tmp_path / "dreval-out" / "results" / "my-agent").glob("*.json")}
    assert set(cards) == {"1", "2", "my-agent-line3", "4"}
    assert cards["1"].status == "complete" and cards["1"].report_ref.citations == 4
    assert cards["1"].task.prompt.startswith("整理詹姆斯") and cards["2"].status == "complete"
    assert cards["4"].status == "failed" and "error-message" in cards["4"].reasons[0]
    assert cards["my-agent-line3"].status == "failed" and "malformed JSON" in cards["my-agent-line3"].reasons[0]
    assert (
        invoke(
            "import", "miroeval", DATA / "miroeval" / "my-agent_text_3.json", "--out", tmp_path / "reports" / "miro"
        ).exit_code
        == 1
    )
    result = invoke(
        "score", tmp_path / "reports" / "miro", "--tasks", DATA / "miroeval" / "mirobench_text.json", "--no-factcheck"
    )
    assert result.exit_code == 1, result.output + result.stderr
    cards = {p.stem: _card(p) for p in (tmp_path / "dreval-out" / "results" / "miro").glob("*.json")}
    assert cards["11"].status == "complete" and cards["11"].report_ref.citations == 2
    assert cards["12"].status == "failed" and "No answer found after" in cards["12"].reasons[0]
    assert cards["13"].status == "failed" and "no-response" in cards["13"].reasons[0]
