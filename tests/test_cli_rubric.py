"""``dreval rubric`` end to end against a local judge: every task of a task file checked first and counted on stderr,
then rubrics built as tasks are drawn from the file, each line printed as its rubric is done."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drevalkit.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _tasks(path: Path, count: int) -> Path:
    lines = (
        json.dumps({"id": f"t{i}", "prompt": f"What changed in grid storage policy in country {i}?"})
        for i in range(count)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_tasks_read_are_counted_and_only_the_picked_ones_built(judge_env, judge_server, tmp_path):
    tasks = _tasks(tmp_path / "tasks.jsonl", 3000)
    result = invoke("rubric", tasks, "--task-id", "t2999", "--task-id", "t5")
    assert result.exit_code == 0, result.output + result.stderr
    assert f"read 3,000 tasks from {tasks}" in result.stderr
    built = [line.split(":")[0] for line in result.output.splitlines() if "dimensions, hash" in line]
    assert [Path(line).stem for line in built] == ["t2999", "t5"]
    unknown = invoke("rubric", tasks, "--task-id", "zz")
    assert unknown.exit_code == 2 and "unknown task id 'zz'" in unknown.stderr and judge_server.completions > 0


def test_every_task_gets_its_line_in_file_order_and_a_bad_line_refuses_the_file_first(
    judge_env, judge_server, tmp_path
):
    tasks = _tasks(tmp_path / "tasks.jsonl", 5)
    result = invoke("rubric", tasks)
    assert result.exit_code == 0 and "read 5 tasks from" in result.stderr
    built = [Path(line.split(":")[0]).stem for line in result.output.splitlines() if "dimensions, hash" in line]
    assert built == [f"t{i}" for i in range(5)]
    calls = judge_server.completions
    tasks.write_text(tasks.read_text() + '{"id": "late", "prompt": \n')
    broken = invoke("rubric", tasks, "--rebuild")
    assert broken.exit_code == 2 and "tasks.jsonl:6: malformed JSON" in broken.stderr
    assert judge_server.completions == calls  # checked before any rubric was asked for
