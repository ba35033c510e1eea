"""Defects a new user met with the leaderboard and scorecards: the ranked column's name, a system folder given
instead of the output folder (and the leaderboard it wrote into the results), unreadable results counted apart
and described in words, cost and tokens that depend on the LLM cache, --judge-variance with nothing to include,
and ``dreval html`` of a file that is not a result."""

import asyncio

from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict

from drevalkit.cli import main
from drevalkit.config import Price
from drevalkit.layout import OutputLayout
from drevalkit.leaderboard import Leaderboard, build_leaderboard, read_result
from drevalkit.leaderboard.formats import to_csv, to_html, to_markdown
from drevalkit.llm import open_llm
from drevalkit.render.scorecard import render_scorecard
from drevalkit.schemas import Usage
from drevalkit.store import Store

from .support import make_card, planted, write


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


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


def test_dreval_outputs_in_the_results_are_ignored_and_a_task_named_run_is_not(tmp_path):
    """What an older dreval wrote into results/ (the leaderboard of a system folder), a run manifest and a judge
    card there are not results; a result whose task id happens to be ``run`` still is."""
    out = tmp_path / "out"
    planted(out, tasks=6)
    assert _invoke("leaderboard", out, "--resamples", 200).exit_code == 0
    system = out / "results" / "A"
    (system / "leaderboard.json").write_text((out / "leaderboard.json").read_text())
    (system / "agreement.json").write_text('{"dreval_version": "0", "labels_file": "x", "kind": "quality"}')
    (out / "results" / "B" / "card.json").write_text('{"dreval_version": "0", "key": "k", "judge": {}}')
    write(out, make_card("C", "run", 5.0))
    board = build_leaderboard(out, resamples=200)
    rows = {row.system: row for row in board.systems}
    assert all(row.unreadable == 0 for row in board.systems)
    assert any(cell.task_id == "run" and cell.status == "complete" for cell in rows["C"].tasks)
    ignored = [p for p in board.problems if "ignored" in p]
    assert len(ignored) == 3 and any("leaderboard.json: a dreval leaderboard, not a result" in p for p in ignored)
    assert read_result(system / "agreement.json").own and not read_result(OutputLayout(out).result("C", "run")).own


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
    assert "t90.json: not valid JSON (line 2 column 14); counted as unreadable for B" in problems
    assert "t91.json: not a dreval result (" in problems and "validation error" in problems
    assert "t92.json: an empty file, not a dreval result" in problems


def _cached_card(system, task, usage):
    card = make_card(system, task, 6.0)
    card.usage = usage
    return card


def test_cost_counts_cached_answers_at_their_first_cost_and_flags_unknown_ones(tmp_path):
    out = tmp_path / "out"
    for index in range(3):
        # paid: every call made now; cached: the same answers from the cache, their first cost kept; old: from the
        # cache by a dreval that did not keep it (cost 0, 0 tokens)
        write(
            out, _cached_card("paid", f"t{index}", Usage(calls=4, prompt_tokens=1000, completion_tokens=200, cost=0.01))
        )
        write(
            out,
            _cached_card(
                "cached",
                f"t{index}",
                Usage(
                    cache_hits=4, from_cache_prompt_tokens=1000, from_cache_completion_tokens=200, from_cache_cost=0.01
                ),
            ),
        )
        write(out, _cached_card("old", f"t{index}", Usage(cache_hits=4)))
    board = build_leaderboard(out, resamples=200)
    rows = {row.system: row for row in board.systems}
    assert rows["paid"].cost.mean == rows["cached"].cost.mean == 0.01
    assert rows["paid"].tokens.mean == rows["cached"].tokens.mean == 1200
    assert (rows["paid"].from_cache, rows["cached"].from_cache, rows["cached"].from_cache_unpriced) == (0, 3, 0)
    assert (rows["old"].from_cache, rows["old"].from_cache_unpriced, rows["old"].cost.mean) == (3, 3, 0.0)
    md = to_markdown(board)
    assert "Cost and tokens count only the calls made when scoring for 3 of 9 results" in md
    assert "(old: 3)" in md and "| 3 of 3 (3 without their cost) |" in md
    assert "results_from_cache_without_cost" in to_csv(board).splitlines()[0]
    assert "3 of 3 (3 without their cost)" in to_html(board)
    (out / "results" / "old").rename(tmp_path / "old")
    md = to_markdown(build_leaderboard(out, resamples=200))
    assert "judging cost: the calls made when scoring plus the original cost of the cached answers used (3 of 6" in md


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rationale: str


def test_a_cache_hit_keeps_what_the_answer_first_cost(judge_server, make_settings, tmp_path):
    settings = make_settings(judge_server, prices={judge_server.model: Price(input=1.0, output=2.0)})
    messages = [{"role": "system", "content": "You judge."}, {"role": "user", "content": "Judge this text."}]

    async def ask(store):
        client = open_llm(settings, store)
        try:
            return await client.structured(messages, Answer)
        finally:
            await client.close()

    with Store(tmp_path / "store.sqlite3") as store:
        first = asyncio.run(ask(store))
        second = asyncio.run(ask(store))
    assert not first.cached and first.usage.cost > 0 and first.usage.from_cache_cost == 0
    assert second.cached and second.usage.calls == 0 and second.usage.cost == 0 and second.usage.prompt_tokens == 0
    assert second.usage.cache_hits == 1
    assert second.usage.from_cache_prompt_tokens == first.usage.prompt_tokens > 0
    assert second.usage.from_cache_completion_tokens == first.usage.completion_tokens > 0
    assert second.usage.from_cache_cost == first.usage.cost


def test_scorecard_header_says_answers_came_from_the_cache():
    card = make_card("S", "t1", 6.0)
    card.usage = Usage(
        cache_hits=24, from_cache_prompt_tokens=9000, from_cache_completion_tokens=1000, from_cache_cost=0.0123
    )
    page = " ".join(render_scorecard(card).split())
    assert "0 tokens, 0 calls; 24 answers from the cache (first cost 0.0123, 10000 tokens)" in page
    assert "0.0000 spent now; 24 answers from the cache" in page
    card.usage = Usage(cache_hits=1)
    assert "1 answer from the cache (what they first cost was not recorded)" in " ".join(render_scorecard(card).split())
    card.usage = Usage(calls=3, prompt_tokens=10, completion_tokens=5, cost=0.5)
    page = " ".join(render_scorecard(card).split())
    assert "15 tokens, 3 calls</div>" in page and "from the cache (" not in page


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


def test_html_of_files_that_are_not_results(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = _invoke("html", bad)
    assert result.exit_code == 2
    assert "bad.json: not valid JSON (line 1 column 2); no page written" in result.output
    assert "written under" not in result.output and "no scorecard written" in result.output
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    result = _invoke("html", bad, other)
    assert result.exit_code == 2 and "other.json: not a dreval result (" in result.output
    assert "none of the 2 file(s)" in result.output and "written under" not in result.output
    out = tmp_path / "out"
    planted(out, tasks=6)
    assert _invoke("leaderboard", out, "--resamples", 200).exit_code == 0
    (out / "results" / "A" / "leaderboard.json").write_text((out / "leaderboard.json").read_text())
    result = _invoke("html", out)
    assert result.exit_code == 0, result.output
    assert "leaderboard.json: a dreval leaderboard, not a result; skipped" in result.output
    assert "18 scorecards written under" in result.output
