"""The leaderboard from result folders: accounting of missing, partial, failed and unreadable results, ranking on
shared tasks with significance of neighbouring gaps, mixed results refused, the four formats and the command."""

import csv
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.layout import OutputLayout
from drevalkit.leaderboard import Leaderboard, LeaderboardError, build_leaderboard
from drevalkit.leaderboard.formats import render, to_csv, to_html, to_markdown

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


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_formats_carry_intervals_method_and_counts(tmp_path):
    out = tmp_path / "out"
    planted(out, tasks=8, gaps=(1.0, 0.0))
    OutputLayout(out).result("C", "t02").unlink()
    board = build_leaderboard(out, resamples=1000)
    rows = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert rows[0]["system"] == "A" and rows[0]["rank"] == "1" and {r["system"] for r in rows} == {"A", "B", "C"}
    c = next(r for r in rows if r["system"] == "C")
    assert c["missing"] == "1" and c["complete"] == "7" and float(c["quality_low"]) <= float(c["quality_mean"])
    assert rows[0]["gap_to_next_significant"] in ("true", "false") and rows[0]["resamples"] == "1000"
    assert "percentile bootstrap" in rows[0]["interval_method"] and rows[0]["correction"].startswith("Holm")
    assert {
        "dim_coverage_mean",
        "specific_mean",
        "right_micro_mean",
        "right_macro_mean",
        "citation_reachability_mean",
        "tokens_per_report_mean",
    } <= set(rows[0])
    again = Leaderboard.model_validate_json(render(board, "json"))
    assert {r.system: r.missing for r in again.systems} == {"A": 0, "B": 0, "C": 1} and again.gaps[0].upper == "A"
    md = to_markdown(board)
    assert "1000 resamples" in md and "Holm-Bonferroni" in md and "| 1 | A |" in md and "1 missing" in md
    assert "right (micro)" in md and "right (macro)" in md and "| t02 |" in md and " missing |" in md
    page = tmp_path / "site" / "board.html"
    html = to_html(board, page, out)
    parsed = _Page()
    parsed.feed(html)
    links = [a["href"] for tag, a in parsed.tags if tag == "a" and "href" in a and not a["href"].startswith("#")]
    assert links and all((page.parent / href.split("#")[0]).resolve().is_file() for href in links)
    assert len(links) >= 2 * 23  # every task cell of every system, in the matrix and the breakdowns
    sortable = [a for tag, a in parsed.tags if tag == "table" and "sortable" in a.get("class", "")]
    assert len(sortable) >= 4


def test_hostile_names_stay_inert_in_every_format(tmp_path):
    out = tmp_path / "out"
    evil_system = '=HYPERLINK("http://x")<script>alert(1)</script>'
    evil_task = '"><img src=x onerror=alert(2)>|*[x](javascript:alert(3))'
    write(out, make_card(evil_system, evil_task, 6.0))
    write(out, make_card("fine", evil_task, 7.0))
    write(out, make_card("fine", "t" * 700, 7.0))  # a 700-character task id
    board = build_leaderboard(out, resamples=200)
    html = to_html(board, out / "leaderboard.html", out)
    parsed = _Page()
    parsed.feed(html)
    assert [t for t, _ in parsed.tags if t == "script"] == ["script"]  # ours only
    assert not [t for t, _ in parsed.tags if t in ("img", "iframe", "object", "embed", "svg")]
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action", "formaction", "style"):
            assert "javascript:" not in (attrs.get(name) or ""), (tag, attrs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = to_markdown(board)
    assert "<script>" not in md and "\\<script\\>" in md and "\\|" in md and "\\[x\\]" in md
    rows = list(csv.reader(io.StringIO(to_csv(board))))
    system_cells = [r[3] for r in rows[1:]]
    assert "'" + evil_system in system_cells  # a spreadsheet will not run it as a formula


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
