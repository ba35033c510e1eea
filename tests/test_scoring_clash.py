"""Two task sets in one output folder (drevalkit.scoring.clash): scoring benchmark B's task "1" into the folder that
holds benchmark A's task "1" is refused before any judging, with one message naming the clashing ids and the ways
out; A's rubrics and results are left as they were. Another --out, or --rebuild-rubrics, scores B."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.layout import OutputLayout
from drevalkit.schemas import Task
from drevalkit.scoring.clash import clashes
from drevalkit.scoring.jobs import ScoreJob

from .support import make_card, write

BENCHMARK_A = {
    "1": "Write a report on the history of the James Webb Space Telescope, from approval to launch.",
    "2": "Write a report on the cost growth of the James Webb Space Telescope, with the main figures.",
}
BENCHMARK_B = {
    "1": "Write a report on heat pump sales in Europe between 2019 and 2024, country by country.",
    "2": "Write a report on the installer shortage that slows heat pump adoption in Europe.",
}
REPORT = (
    "# {title}\n\nThe programme was approved in 1996 and its cost grew to about 10 billion dollars by 2021 [1]. "
    "Sales of the product rose from 1.5 million units in 2019 to 3 million in 2022 [2].\n\n## References\n"
    "[1] History. https://a.example/history\n[2] Market. https://a.example/market\n"
)


def _benchmark(folder: Path, prompts: dict[str, str]) -> tuple[Path, Path]:
    """A task file and a folder of reports (one per task, system ``agent``)."""
    folder.mkdir(parents=True)
    tasks = folder / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n" for i, p in prompts.items()))
    reports = folder / "agent"
    reports.mkdir()
    for task_id in prompts:
        (reports / f"{task_id}.md").write_text(REPORT.format(title=f"Report {task_id}"))
    return tasks, reports


def _score(env, tasks: Path, reports: Path, *extra: str):
    args = ["score", str(reports), "--tasks", str(tasks), "--no-factcheck", "--no-html", *extra]
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.json")) if p.name != "run.json"}


def test_a_second_task_set_under_the_same_ids_is_refused_before_any_judging(judge_env, judge_server, tmp_path):
    env = {**judge_env, "DREVAL_OUT": str(tmp_path / "out")}
    a_tasks, a_reports = _benchmark(tmp_path / "a", BENCHMARK_A)
    b_tasks, b_reports = _benchmark(tmp_path / "b", BENCHMARK_B)
    first = _score(env, a_tasks, a_reports)
    assert first.exit_code == 0, first.output + first.stderr
    before, calls = _snapshot(tmp_path / "out"), judge_server.completions
    assert {"rubrics/1.json", "rubrics/2.json", "results/agent/1.json", "results/agent/2.json"} <= set(before)

    refused = _score(env, b_tasks, b_reports)
    assert refused.exit_code == 2, refused.output + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "holds rubrics or results of other tasks under the ids of this run's tasks" in message
    assert (
        "task 1 (its frozen rubric 1.json was built from another task, the result of system agent is of another "
        "task); task 2 (its frozen rubric 2.json was built from another task, the result of system agent is of "
        "another task). Nothing was judged." in message
    )
    assert "Nothing was judged" in message and "--out DIR" in message and "--rebuild-rubrics" in message
    assert "Traceback" not in refused.output + refused.stderr and len(refused.stderr.strip().splitlines()) <= 3
    assert judge_server.completions == calls  # not one judging call
    assert _snapshot(tmp_path / "out") == before  # A's rubrics and results as they were

    again = _score(env, a_tasks, a_reports)  # A again: its own rubrics and results, nothing to refuse
    assert again.exit_code == 0, again.output + again.stderr

    elsewhere = _score({**env, "DREVAL_OUT": str(tmp_path / "out-b")}, b_tasks, b_reports)
    assert elsewhere.exit_code == 0, elsewhere.output + elsewhere.stderr

    rebuilt = _score(env, b_tasks, b_reports, "--rebuild-rubrics")
    assert rebuilt.exit_code == 0, rebuilt.output + rebuilt.stderr
    result = json.loads((tmp_path / "out" / "results" / "agent" / "1.json").read_text())
    assert result["task"]["prompt"] == BENCHMARK_B["1"] and result["status"] == "complete"


def test_results_of_another_task_text_clash_without_rubrics(tmp_path):
    # a fact-check-only run (or one with a fixed rubric) reads no frozen rubric: the results still clash
    out = tmp_path / "out"
    scored = make_card("agent", "1", 6.0)
    scored.task = Task(id="1", prompt=BENCHMARK_A["1"])
    write(out, scored)
    unscored = make_card("agent", "2", 6.0)  # a result that records no task: nothing to compare
    write(out, unscored)
    (OutputLayout(out).result("agent", "3")).write_text("{not json")  # unreadable: the scorer reports it

    def jobs(prompts: dict[str, str]) -> list[ScoreJob]:
        return [ScoreJob(tmp_path / f"{i}.md", "agent", i, Task(id=i, prompt=p)) for i, p in prompts.items()]

    layout = OutputLayout(out)
    assert clashes(layout, jobs({**BENCHMARK_B, "3": "x"}), rubrics=False) == {
        "1": ["the result of system agent is of another task"]
    }
    same_text = {"1": "  " + BENCHMARK_A["1"].replace(" ", "\n", 2) + " ", "2": BENCHMARK_B["2"]}
    assert clashes(layout, jobs(same_text), rubrics=False) == {}  # whitespace is not another task
    no_task = [ScoreJob(tmp_path / "1.md", "agent", "1", None)]
    assert clashes(layout, no_task, rubrics=True) == {}
