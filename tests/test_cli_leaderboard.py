"""As a new user would: score three systems on a few tasks with the real pipeline (test judge, rule-based
fact-check, offline corpus), then run ``dreval leaderboard`` and read its CSV, JSON, Markdown and HTML."""

import csv
import json

from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.leaderboard import Leaderboard
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer

from .support import SAMPLES, Page

TASKS = 8


def test_three_systems_scored_then_ranked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (SAMPLES / "report.md").read_text()
    body, references = text.split("## References", 1)
    paragraphs = body.split("\n\n")
    tasks = [
        {"id": f"task-{n}", "prompt": f"Part {n} of a briefing on the James Webb Space Telescope."}
        for n in range(1, TASKS + 1)
    ]
    (tmp_path / "tasks.jsonl").write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    for offset, system in enumerate(("alpha", "beta", "gamma")):
        folder = tmp_path / "runs" / system
        folder.mkdir(parents=True)
        for n, task in enumerate(tasks):
            if system == "gamma" and n == TASKS - 1:
                continue  # never ran: missing
            if system == "beta" and n == TASKS - 2:
                (folder / f"{task['id']}.md").write_text("Error generating final report: the search API timed out\n")
                continue  # a give-up message: a failed result
            kept = [p for i, p in enumerate(paragraphs) if p.startswith("#") or (i + n + offset) % 4]
            (folder / f"{task['id']}.md").write_text("\n\n".join(kept) + "\n\n## References" + references)
    with FakeOpenAIServer() as server:
        server.responder = rule_judge.respond
        env = {
            "DREVAL_BASE_URL": server.url,
            "DREVAL_MODEL": server.model,
            "DREVAL_API_KEY": "k",
            "DREVAL_HOME": str(tmp_path / "home"),
            "DREVAL_BACKOFF_BASE": "0.01",
            "DREVAL_BACKOFF_MAX": "0.05",
            "DREVAL_TIMEOUT": "5",
        }
        runner = CliRunner()
        assert runner.invoke(main, ["corpus", "add", str(SAMPLES / "corpus")], env=env).exit_code == 0
        for system in ("alpha", "beta", "gamma"):
            result = runner.invoke(
                main,
                ["score", f"runs/{system}", "--tasks", "tasks.jsonl", "--max-claims", "4", "--rounds", "1"],
                env=env,
                catch_exceptions=False,
            )
            assert result.exit_code in (0, 1), result.output
    result = runner.invoke(main, ["leaderboard", "dreval-out", "--tasks", "tasks.jsonl"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "dreval-out"

    board = Leaderboard.model_validate_json((out / "leaderboard.json").read_text())
    rows = {row.system: row for row in board.systems}
    assert set(rows) == {"alpha", "beta", "gamma"} and len(board.tasks) == TASKS
    assert (rows["alpha"].complete, rows["alpha"].missing) == (TASKS, 0)
    assert (rows["beta"].failed, rows["beta"].missing, rows["beta"].complete) == (1, 0, TASKS - 1)
    assert (rows["gamma"].missing, rows["gamma"].complete) == (1, TASKS - 1)
    assert len(board.shared_tasks) == TASKS - 2
    for row in board.systems:
        assert row.quality.low < row.quality.mean < row.quality.high and row.rank
        assert row.right_micro.mean is not None and row.right_macro.mean is not None and row.claims > 0
        assert set(row.dimensions) == {"coverage", "insight", "instruction_following", "clarity"}
        assert row.specific.n == row.quality.n and row.tokens.mean > 0
    assert len(board.gaps) == 2 and all(g.p is not None and g.p_adjusted >= g.p for g in board.gaps)
    assert board.method.resamples == 10_000 and board.method.correction.startswith("Holm")

    table = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert {r["system"]: r["missing"] for r in table} == {"alpha": "0", "beta": "0", "gamma": "1"}
    assert all(r["quality_low"] and r["quality_high"] and r["interval_method"] for r in table)
    md = (out / "leaderboard.md").read_text()
    assert "10000 resamples" in md and "Holm-Bonferroni" in md and "1 missing" in md and "1 failed" in md
    assert "significant" in md and "right (micro)" in md
    page = Page((out / "leaderboard.html").read_text())
    links = [a["href"] for a in page.find("a") if a.get("href", "").endswith(".html")]
    assert len(set(links)) == 3 * TASKS - 1  # every result has its scorecard, the missing one has none
    assert all((out / link).is_file() for link in links)
    assert "percentile bootstrap" in result.output and "missing" in result.output
