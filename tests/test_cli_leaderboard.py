"""dreval leaderboard as a new user would run it: score three systems on a few tasks with the real pipeline (test
judge, rule-based fact-check, offline corpus), then run ``dreval leaderboard`` and read its CSV, JSON, Markdown and
HTML. The command's options and output: the four files, the terminal table's header naming the ranked metric, a
system folder given instead of the output folder, unreadable results counted apart and described in words,
--judge-variance with nothing to include, mixed results refused."""

import csv
import json
import re

from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.leaderboard import Leaderboard
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer

from .support import SAMPLES, Page, make_card, planted, stand_in_env, write

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
        env = stand_in_env(server, tmp_path / "home", "k")
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


# ------------------------------------------------------------------------------------------------ the command


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_leaderboard_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    planted(out, tasks=6, gaps=(1.0, 0.0))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"id": f"t{i:02d}", "prompt": f"q{i}"}) for i in range(7)))
    result = _invoke("leaderboard", out, "--tasks", tasks, "--resamples", 500)
    assert result.exit_code == 0, result.output
    for name in ("csv", "json", "md", "html"):
        assert (out / f"leaderboard.{name}").stat().st_size > 500
    assert "percentile bootstrap" in result.output and "Holm" in result.output
    board = Leaderboard.model_validate_json((out / "leaderboard.json").read_text())
    assert all(row.missing == 1 for row in board.systems) and board.method.resamples == 500
    printed = _invoke("leaderboard", out / "results", "--format", "csv", "--resamples", 200)
    assert printed.exit_code == 0 and printed.output.startswith("rank,rank_low,rank_high,system")
    written = _invoke("leaderboard", out, "--out", tmp_path / "board.md", "--resamples", 200)
    assert written.exit_code == 0 and (tmp_path / "board.md").read_text().startswith("# dreval leaderboard")
    assert _invoke("leaderboard", out, "--out", tmp_path / "board.xyz").exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = _invoke("leaderboard", empty)
    assert nothing.exit_code == 2 and "no result files" in nothing.output
    write(out, make_card("D", "t00", 5.0, judge="another"))
    refused = _invoke("leaderboard", out)
    assert refused.exit_code == 2 and "different judges" in refused.output and "--allow-mixed" in refused.output
    assert _invoke("leaderboard", out, "--allow-mixed", "--resamples", 200).exit_code == 0


def _header(output: str) -> str:
    """The terminal table's header line (the one naming the rank column)."""
    return next(line for line in output.splitlines() if "rank" in line and "system" in line)


def _cells(output: str) -> dict[str, dict[str, str]]:
    """The terminal table as {system: {column: cell}} (rich draws its columns with box characters)."""
    rows = [
        [cell.strip() for cell in line.strip("┃│ ").split("┃" if "┃" in line else "│")]
        for line in output.splitlines()
        if line.startswith(("┃", "│"))
    ]
    header = rows[0]
    return {row[1]: dict(zip(header, row)) for row in rows[1:]}


def test_terminal_header_names_the_ranked_metric(tmp_path):
    out = tmp_path / "out"
    planted(out, tasks=6, gaps=(1.0, 0.0))
    by_right = _invoke("leaderboard", out, "--rank-by", "right", "--resamples", 200)
    assert by_right.exit_code == 0, by_right.output
    assert "right ratio (shared) [95% CI]" in _header(by_right.output)
    assert "quality (shared)" not in _header(by_right.output)
    by_quality = _invoke("leaderboard", out, "--resamples", 200, "--confidence", 0.9)
    assert "quality (shared) [90% CI]" in _header(by_quality.output)


def test_a_system_folder_ranks_the_output_folder_and_writes_beside_results(tmp_path):
    out = tmp_path / "out"
    planted(out, tasks=6, gaps=(1.0, 0.0))
    result = _invoke("leaderboard", out / "results" / "A", "--resamples", 200)
    assert result.exit_code == 0, result.output
    assert not list((out / "results").rglob("leaderboard.*"))
    for name in ("csv", "json", "md", "html"):
        assert (out / f"leaderboard.{name}").is_file()
    assert "one system's folder" in result.output and f"written to {out}" in " ".join(result.output.split())
    board = Leaderboard.model_validate_json((out / "leaderboard.json").read_text())
    assert [row.system for row in board.systems] == ["A", "B", "C"] and board.results_dir == str(out / "results")
    # the scorecard links are relative to the output folder, as when it is given
    assert all(cell.scorecard.startswith("html/") for row in board.systems for cell in row.tasks)


def test_several_folders_are_ranked_as_one_written_into_the_first(tmp_path):
    """Two machines' folders, each with some systems' results: one board in the first folder, the second left as it
    was; a folder that does not exist, or the same one twice, is bad input."""
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    planted(first, tasks=8, gaps=(1.0, 0.0))
    for system in ("B", "C"):  # B and C were scored on the second machine, A on the first
        (first / "results" / system).rename(tmp_path / system)
        (second / "results").mkdir(parents=True, exist_ok=True)
        (tmp_path / system).rename(second / "results" / system)
    result = _invoke("leaderboard", first, second, "--resamples", 200)
    assert result.exit_code == 0, result.output
    board = Leaderboard.model_validate_json((first / "leaderboard.json").read_text())
    assert board.systems[0].system == "A" and not list(second.glob("leaderboard.*"))
    assert {row.system: row.complete for row in board.systems} == {"A": 8, "B": 8, "C": 8}
    missing = _invoke("leaderboard", first, tmp_path / "nowhere")
    assert missing.exit_code == 2 and "nowhere: no such folder" in missing.output
    twice = _invoke("leaderboard", first, first / "results")
    assert twice.exit_code == 2 and "give each output folder once" in " ".join(twice.output.split())


def test_unreadable_results_are_their_own_count_and_described(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    planted(out, tasks=6)
    broken = out / "results" / "B" / "t90.json"
    broken.write_text('{"system": "B",\n  "task_id": }')
    (out / "results" / "B" / "t91.json").write_text('{"system": "B"}')
    (out / "results" / "B" / "t92.json").write_text("")
    result = _invoke("leaderboard", out, "--resamples", 200)
    assert result.exit_code == 0, result.output
    cells = _cells(result.output)
    assert (cells["B"]["failed"], cells["B"]["unreadable"]) == ("0", "3")
    md = (out / "leaderboard.md").read_text()
    assert "0 failed, 0 missing, 3 unreadable" in md
    board = Leaderboard.model_validate_json((out / "leaderboard.json").read_text())
    rows = {r.system: r for r in board.systems}
    assert (rows["B"].failed, rows["B"].unreadable) == (0, 3)
    problems = " ".join(board.problems)
    assert re.search(r"t90\.json: malformed JSON \([^;]*, line 2 column 14\); counted as unreadable for B", problems)
    assert "t91.json: not a dreval result (" in problems and "validation error" in problems
    assert "t92.json: an empty file, not a dreval result" in problems


def test_judge_variance_without_samples_says_so(tmp_path):
    out = tmp_path / "out"
    planted(out, tasks=6)
    result = _invoke("leaderboard", out, "--judge-variance", "--resamples", 200)
    assert result.exit_code == 0 and result.output.count("no judge variance to include") == 1
    board = Leaderboard.model_validate_json((out / "leaderboard.json").read_text())
    assert not board.method.judge_variance_in_intervals and "judge samples" not in board.method.intervals
    printed = _invoke("leaderboard", out, "--judge-variance", "--format", "csv", "--resamples", 200)
    assert "no judge variance to include" in printed.output
    assert "no judge variance" not in _invoke("leaderboard", out, "--resamples", 200).output
    sampled = tmp_path / "sampled"
    for index in range(6):
        write(sampled, make_card("A", f"t{index}", 6.0 + index / 10, samples=[5.9 + index / 10, 6.1 + index / 10]))
    result = _invoke("leaderboard", sampled, "--judge-variance", "--resamples", 200)
    assert result.exit_code == 0 and "no judge variance" not in result.output
