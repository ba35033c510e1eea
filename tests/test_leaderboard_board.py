"""The leaderboard from result folders: accounting of missing, partial, failed and unreadable results, ranking on
shared tasks with significance of neighbouring gaps, mixed results refused, judge variance, and cost and tokens
that depend on the LLM cache."""

import re
from urllib.parse import unquote

import numpy as np
import pytest

from drevalkit.layout import OutputLayout, card_paths
from drevalkit.leaderboard import LeaderboardError, build_leaderboard
from drevalkit.leaderboard.formats import to_csv, to_html, to_markdown
from drevalkit.schemas import JudgeInfo, Usage
from drevalkit.shards import shard_of

from .support import make_card, planted, write


def test_missing_partial_failed_and_unreadable_are_counted_not_dropped(tmp_path):
    out = tmp_path / "out"
    for task in ("t1", "t2", "t3", "t4"):
        write(out, make_card("alpha", task, 7.0))
    write(out, make_card("beta", "t1", 6.0))
    write(out, make_card("beta", "t2", 6.5, status="partial", factcheck_status="partial"))
    write(out, make_card("beta", "t3", 0.0, status="failed"))
    (OutputLayout(out).result("beta", "t4")).write_text("{not json")  # a broken result file
    board = build_leaderboard(out, resamples=500)
    rows = {row.system: row for row in board.systems}
    assert board.tasks == ["t1", "t2", "t3", "t4"] and board.task_set == "the union of tasks with a result"
    beta = rows["beta"]
    assert (beta.results, beta.complete, beta.partial, beta.failed, beta.missing, beta.unreadable) == (3, 1, 1, 1, 1, 1)
    assert any("t4.json" in p and "unreadable for beta" in p for p in board.problems)
    # quality was complete on the partial result: its total counts; its partial fact-check does not
    assert beta.quality.n == 2 and beta.right_macro.n == 1
    assert rows["alpha"].missing == 0 and rows["alpha"].quality.n == 4
    # against a task set: a task nobody has is missing for everyone; results outside the set are not used
    board = build_leaderboard(out, task_ids=["t1", "t2", "t5"], task_source="tasks.jsonl", resamples=500)
    rows = {row.system: row for row in board.systems}
    assert rows["alpha"].missing == 1 and rows["alpha"].outside_task_set == 2 and rows["alpha"].quality.n == 2
    assert any("not in the task set" in p for p in board.problems)
    cells = {c.task_id: c.status for c in rows["beta"].tasks}
    assert cells == {"t1": "complete", "t2": "partial", "t5": "missing"}
    included = build_leaderboard(out, include_partial=True, resamples=500)
    assert {r.system: r for r in included.systems}["beta"].right_macro.n == 2


def test_ranking_on_shared_tasks_with_significant_and_insignificant_gaps(tmp_path):
    out = tmp_path / "out"
    planted(out, gaps=(0.6, 0.0))
    board = build_leaderboard(out)
    assert [r.system for r in board.systems][0] == "A"
    ranks = {r.system: r.rank for r in board.systems}
    assert ranks["A"] == "1" and ranks["B"] == ranks["C"] == "2-3"
    first, second = board.gaps
    assert first.upper == "A" and first.significant and first.p_adjusted < 0.01 and first.low > 0
    assert not second.significant and second.p_adjusted >= second.p
    assert "Holm" in board.method.correction and "2 neighbouring comparisons" in board.method.correction
    assert board.method.resamples == 10_000 and "percentile bootstrap" in board.method.intervals
    for row in board.systems:
        assert row.shared.n == 20 and row.shared.low <= row.shared.mean <= row.shared.high
        assert set(row.dimensions) == {"coverage", "clarity"} and row.specific.n == 20  # task_budget is specific


def test_all_equal_systems_share_one_band(tmp_path):
    out = tmp_path / "out"
    planted(out, gaps=(0.0, 0.0))
    board = build_leaderboard(out, resamples=2000)
    assert {r.rank for r in board.systems} == {"1-3"}
    assert not any(g.significant for g in board.gaps)


def test_a_missing_task_shrinks_the_shared_set_and_is_said(tmp_path):
    out = tmp_path / "out"
    planted(out, tasks=10, gaps=(0.5, 0.5))
    OutputLayout(out).result("C", "t03").unlink()
    board = build_leaderboard(out, resamples=2000)
    assert len(board.shared_tasks) == 9 and "t03" not in board.shared_tasks
    assert any("9 of 10 tasks" in p for p in board.problems)
    row = {r.system: r for r in board.systems}["C"]
    assert row.missing == 1 and row.quality.n == 9 and all(g.tasks == 9 for g in board.gaps)


def test_mixed_judges_rubrics_and_prompts_are_refused_or_flagged(tmp_path):
    out = tmp_path / "out"
    write(out, make_card("A", "t1", 7.0))
    write(out, make_card("B", "t1", 6.0, judge="judge-b", rubric="other-", prompt="quality@2"))
    with pytest.raises(LeaderboardError) as error:
        build_leaderboard(out)
    message = str(error.value)
    assert "different judges" in message and "2 different rubrics" in message and "quality prompt versions" in message
    board = build_leaderboard(out, allow_mixed=True, resamples=200)
    assert len(board.mixed) == 3
    assert "not all scored alike" in to_html(board) and "Mixed results" in to_markdown(board)


def test_judge_variance_is_shown_and_can_widen_the_intervals(tmp_path):
    out = tmp_path / "out"
    rng = np.random.default_rng(4)
    for index in range(15):
        passes = list(6 + rng.normal(0, 1.0, 3))
        write(out, make_card("A", f"t{index}", float(np.mean(passes)), samples=passes))
    plain = build_leaderboard(out)
    nested = build_leaderboard(out, judge_variance=True)
    row, wide = plain.systems[0], nested.systems[0]
    assert row.judge_variance.samples == 3 and row.judge_variance.judge_sd == pytest.approx(1.0, rel=0.4)
    assert (wide.quality.high - wide.quality.low) > (row.quality.high - row.quality.low)
    assert nested.method.judge_variance_in_intervals and "judge samples" in nested.method.intervals
    assert "Judge variance" in to_markdown(plain) and "judge SD" in to_html(plain)


def test_too_few_shared_tasks_make_no_significance_claim(tmp_path):
    out = tmp_path / "out"
    for task, (a, b) in {"t1": (9.0, 2.0), "t2": (8.5, 2.5), "t3": (9.2, 1.5)}.items():
        write(out, make_card("strong", task, a))
        write(out, make_card("weak", task, b))
    board = build_leaderboard(out, resamples=500)
    (gap,) = board.gaps
    assert gap.diff > 6 and gap.p is None and not gap.significant and "fewer than the 6" in gap.note
    assert {r.rank for r in board.systems} == {"1-2"}
    assert any("no gap is tested" in p for p in board.problems)
    assert "not tested" in to_markdown(board) and "not tested" in to_html(board)
    single = tmp_path / "single"
    write(single, make_card("only", "t1", 7.0))
    row = build_leaderboard(single, resamples=200).systems[0]
    assert row.quality.mean == 7.0 and row.quality.low is None and row.quality.n == 1
    assert "no interval" in to_markdown(build_leaderboard(single, resamples=200))


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


def test_the_leaderboard_links_each_judge_to_its_own_card(tmp_path):
    """Two judges whose model names differ after a dot (Qwen2.5-72B / Qwen2.5-7B) each get their own card."""
    out = tmp_path / "out"
    write(out, make_card("alpha", "t1", 7.0, judge="Qwen/Qwen2.5-72B-Instruct"))
    for model in ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct"):
        for path in card_paths(out, JudgeInfo(model=model, identity="http://judge")):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(model)
    board = build_leaderboard(out, resamples=200)
    (link,) = board.judge_cards.values()
    assert (out / link).read_text() == "Qwen/Qwen2.5-72B-Instruct" and "72B" in link


# ------------------------------------------------------------------------- several folders: shards, systems apart


def _two_machines(tmp_path):
    """Systems A and B scored in shards on two machines: each folder holds part of each system's tasks."""
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    for task, total in (("t1", 7.0), ("t2", 6.0), ("t3", 6.5)):
        write(first, make_card("A", task, total))
    for task, total in (("t4", 7.5), ("t5", 5.0)):
        write(second, make_card("A", task, total))
    for task, folder in (("t1", first), ("t2", second), ("t3", second), ("t4", second), ("t5", first)):
        write(folder, make_card("B", task, 5.0))
    return first, second


def test_several_folders_make_one_board_with_links_to_every_folder(tmp_path):
    first, second = _two_machines(tmp_path)
    board = build_leaderboard([first, second], resamples=500)
    rows = {row.system: row for row in board.systems}
    assert [(rows[s].complete, rows[s].missing) for s in "AB"] == [(5, 0), (5, 0)]
    assert rows["A"].quality.mean == pytest.approx((7.0 + 6.0 + 6.5 + 7.5 + 5.0) / 5)
    assert board.results_dirs == [str(first / "results"), str(second / "results")]
    assert board.results_dir == str(first / "results")
    assert [p for p in board.problems if not p.startswith("no gap is tested")] == []  # 5 shared tasks: too few
    cell = next(c for c in rows["A"].tasks if c.task_id == "t4")
    assert cell.result == "../../machine-2/results/A/t4.json" and cell.scorecard == "../machine-2/html/A/t4.html"
    page = first / "leaderboard.html"
    links = set(re.findall(r'href="([^"#]+\.html)"', to_html(board, page, first)))
    assert len(links) == 10 and all((page.parent / unquote(link)).is_file() for link in links)
    assert "machine-2/results" in to_markdown(board).strip().splitlines()[-1]  # "results in" names both folders
    # one folder alone: the board of what it holds, as before
    alone = build_leaderboard(first, resamples=500)
    assert {row.system: row.complete for row in alone.systems} == {"A": 3, "B": 2} and alone.results_dirs == [
        str(first / "results")
    ]


def test_a_task_scored_in_two_folders_uses_the_later_result_and_says_so(tmp_path):
    first, second = _two_machines(tmp_path)
    again = make_card("A", "t1", 3.0)
    again.provenance.finished_at = "t2"  # later than make_card's "t1"
    write(second, again)
    board = build_leaderboard([first, second], resamples=500)
    cell = next(c for c in next(r for r in board.systems if r.system == "A").tasks if c.task_id == "t1")
    assert cell.total == 3.0 and cell.result.startswith("../../machine-2/")
    (problem,) = [p for p in board.problems if p.startswith("two results for A / t1")]
    assert str(first / "results" / "A" / "t1.json") in problem and problem.endswith(f"({second}/results/A/t1.json)")


@pytest.mark.parametrize("twice", ["same", "results", "inside"])
def test_a_folder_given_twice_is_refused(tmp_path, twice):
    first, _ = _two_machines(tmp_path)
    other = {"same": first, "results": first / "results", "inside": first / "results" / "A"}[twice]
    with pytest.raises(LeaderboardError, match="give each output folder once"):
        build_leaderboard([first, other], resamples=500)


def test_missing_shards_are_named_with_their_tasks(tmp_path):
    first, second = _two_machines(tmp_path)
    tasks = [f"t{i}" for i in range(1, 13)]
    for k, folder in ((1, first), (2, second)):  # shards 1 and 2 of 3 ran; nobody copied the third's folder
        (folder / f"run.{k}-of-3.json").write_text("{}")
    board = build_leaderboard([first, second], task_ids=tasks, resamples=500)
    third = [task for task in tasks if shard_of(task, 3) == 3]
    (line,) = [p for p in board.problems if p.startswith("shard 3/3 is missing")]
    assert line.endswith(f"its {len(third)} task(s) of the task set: {', '.join(third)}")
    assert not any(p.startswith(("shard 1/3", "shard 2/3")) for p in board.problems)
    (nobody,) = [p for p in board.problems if "have no result from any system" in p]
    assert nobody.startswith("7 task(s)") and nobody.endswith("t6, t7, t8, t9, t10, t11, t12")
    # a system without some tasks others have: which, and in which shard
    (first / "results" / "B" / "t1.json").unlink()
    board = build_leaderboard([first, second], task_ids=tasks, resamples=500)
    (line,) = [p for p in board.problems if p.startswith("B has no result")]
    assert line == f"B has no result for 1 task(s) others have: t1 (in shard {shard_of('t1', 3)}/3)"
    # shards of two different splits cannot tell what is missing: said
    (second / "run.1-of-2.json").write_text("{}")
    board = build_leaderboard([first, second], task_ids=tasks, resamples=500)
    assert any("different splits (of 2, 3)" in p for p in board.problems)


def test_failed_fact_checks_are_counted_as_failed_and_unpriced_costs_left_out(tmp_path):
    out = tmp_path / "out"
    for index in range(3):
        write(out, make_card("checked", f"t{index}", 6.0))
        broken = make_card("broken", f"t{index}", 6.0, status="partial", factcheck_status="failed", right=(0, 0, 1))
        broken.factcheck.counts.unknown, broken.factcheck.ratios = 0, {}
        broken.usage = Usage(calls=5, unpriced_calls=5, prompt_tokens=800, completion_tokens=100)  # no price known
        write(out, broken)
    write(out, make_card("broken", "t3", 6.0))  # one fact-check of it ran: its claims count, the failures are said
    board = build_leaderboard(out, resamples=200, include_partial=True)
    rows = {row.system: row for row in board.systems}
    assert (rows["checked"].claims, rows["checked"].factcheck_failed) == (24, 0)
    assert (rows["broken"].claims, rows["broken"].factcheck_failed) == (8, 3)
    assert (rows["broken"].cost.mean, rows["broken"].cost.n) == (0.01, 1)  # the priced result only, never 0.0
    md = to_markdown(board)
    assert "| broken | 8 (3 fact-checks failed) |" in md and "| checked | 24 |" in md
    header = to_csv(board).splitlines()[0].split(",")
    values = next(line.split(",") for line in to_csv(board).splitlines()[1:] if ",broken," in line)
    assert values[header.index("factcheck_failed")] == "3"
    only_failed = tmp_path / "failed"
    for index in range(2):
        write(only_failed, broken.model_copy(update={"task_id": f"t{index}"}))
    html = to_html(build_leaderboard(only_failed, resamples=200, include_partial=True))
    row = html.split('id="factcheck-table"')[1].split("</tr>")[1]
    assert '<span class="st-failed">failed</span><span class="ci">2 fact-checks failed</span>' in row
