"""Task files (drevalkit.ingest.task_files): every benchmark's shape read, bad task files refused, task selection,
and an import that keeps the good items."""

import json
import tracemalloc
from pathlib import Path

import pytest

from drevalkit.ingest.task_files import TaskError, import_tasks, iter_tasks, load_tasks, scan_tasks, select_task

DATA = Path(__file__).resolve().parent / "data" / "import"


def test_task_files(tmp_path: Path):
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text('{"id": "a", "prompt": "Task A"}\n\n{"task_id": 7, "question": "Task B"}\n')
    tasks = load_tasks(jsonl)
    assert [t.id for t in tasks] == ["a", "7"] and tasks[1].prompt == "Task B"
    assert select_task(tasks, "7", jsonl).prompt == "Task B"
    with pytest.raises(TaskError, match="unknown task id 'zz'"):
        select_task(tasks, "zz", jsonl)
    with pytest.raises(TaskError, match="pick one with --task-id"):
        select_task(tasks, None, jsonl)
    single = tmp_path / "task.json"
    single.write_text('{"prompt": "Just a prompt"}')
    (task,) = load_tasks(single)
    assert task.id.startswith("task-") and task.id == load_tasks(single)[0].id


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n', r"tasks.jsonl:2: malformed JSON"),
        ('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', "appears more than once"),
        ('{"id": "a"}\n', "invalid task"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_task_files(tmp_path: Path, content: str, message: str):
    path = tmp_path / "tasks.jsonl"
    path.write_text(content)
    with pytest.raises(TaskError, match=message):
        load_tasks(path)


# --------------------------------------------------------------------- task files of the benchmarks, imported


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_task_files_of_the_benchmarks(tmp_path):
    drb = load_tasks(DATA / "drb" / "query.jsonl")
    assert [t.id for t in drb] == ["1", "2", "3", "4"] and drb[0].language == "zh"
    assert drb[0].domain == "Science & Technology" and drb[0].provenance["format"] == "drb"
    dre = load_tasks(DATA / "deepresearcheval" / "query.jsonl")
    assert [t.id for t in dre] == ["7", "8", "9"]
    generated = load_tasks(DATA / "deepresearcheval" / "tasks_generated.jsonl")  # task_1 per expert: renamed
    assert [t.id for t in generated] == ["task_1", "task_2", "task_1-2"]
    assert generated[2].provenance["original_id"] == "task_1" and generated[2].domain == "Travel"
    assert (
        generated[0].persona.role == "Programme Auditor" and generated[0].time_constraint == "From approval to launch"
    )
    assert generated[0].key_challenges == ["Requires reconciling estimates reported in different years and currencies."]
    assert generated[0].provenance["time_sensitivity"] is True
    repeated = tmp_path / "repeated.jsonl"
    with pytest.raises(TaskError, match="'a' appears more than once"):
        load_tasks(_write(repeated, '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n'))
    (flat,) = load_tasks(DATA / "deepresearcheval" / "tasks_intermediate.json")
    assert flat.id == "task_3" and flat.time_constraint == "Cycles 1-3 (2022-2024)"
    assert flat.persona.name == "Ingrid Solberg" and flat.persona.id == "ingrid-solberg"
    assert flat.key_challenges == ["Cycle statistics are spread over several announcements."]
    miro = load_tasks(DATA / "miroeval" / "mirobench_text.json")
    assert [t.id for t in miro] == ["11", "12", "13"] and miro[0].prompt.startswith("I follow space news")
    assert miro[0].provenance["original_query"] == "韦布望远镜什么时候到达L2？" and miro[0].domain == "science"
    assert miro[2].provenance["files"] == ["cycle1.pdf"]


def test_import_tasks_keeps_the_good_items(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "prompt": "Fine"}\n{"id": "y", "prompt": \n{"id": "z"}\n')
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = import_tasks(
        [
            DATA / "deepresearcheval" / "tasks_generated.jsonl",
            DATA / "deepresearcheval" / "tasks_generated.jsonl",
            broken,
            empty,
            tmp_path / "missing.json",
        ]
    )
    assert [t.id for t in result.tasks] == ["task_1", "task_2", "task_1-2", "x"]
    assert result.tasks[2].persona.name == "Tomás Aguilar" and result.tasks[2].provenance["original_id"] == "task_1"
    assert result.tasks[0].provenance["expected_search_rounds"] == 4 and result.duplicates == 3
    assert len(result.renamed) == 1 and len(result.problems) == 4
    assert any("broken.jsonl:2: malformed JSON" in p for p in result.problems)
    assert any("broken.jsonl:3: invalid task" in p for p in result.problems)


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"id": "t", "prompt": "q", "n": ' + "9" * 100_000 + "}"])
def test_a_hostile_task_file_is_a_task_error(tmp_path, text):
    """Deep nesting or a 100,000-digit number is a TaskError naming the file, not a RecursionError/ValueError."""
    path = tmp_path / "tasks.json"
    path.write_text(text)
    with pytest.raises(TaskError, match="tasks.json.*unreadable JSON"):
        load_tasks(path)


def _write_tasks(path: Path, count: int, prompt_chars: int = 40) -> Path:
    with path.open("w") as handle:
        for i in range(count):
            prompt = f"Research question {i}: what changed in grid storage? ".ljust(prompt_chars, "x")
            handle.write(json.dumps({"id": f"t{i}", "prompt": prompt}) + "\n")
    return path


def test_a_jsonl_task_file_is_read_line_by_line_in_bounded_memory(tmp_path: Path):
    # 20,000 tasks of 9 MB: the whole file in memory (its text, its lines, every task) is what a million-line file
    # multiplied into gigabytes; read as a stream only the ids are held (to refuse a repeated one)
    path = _write_tasks(tmp_path / "tasks.jsonl", 20_000, prompt_chars=400)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count, picked = scan_tasks(path, ["t7", "t19999"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000 and [t.id for t in picked] == ["t7", "t19999"]
    assert peak < size / 3, (peak, size)
    streamed = iter_tasks(path)
    assert next(streamed).id == "t0" and next(streamed).id == "t1"  # lazily: nothing past what was asked for read
    streamed.close()
    with pytest.raises(TaskError, match=r"unknown task id 'zz' in .*tasks.jsonl \(known: t0, t1, t2, t3, t4 ...\)"):
        scan_tasks(path, ["zz"])


def test_a_streamed_file_is_checked_like_a_whole_one(tmp_path: Path):
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n\n{"id": "b", "prompt": "y"}\n{"id": "a", "prompt": "z"}\n')
    streamed = iter_tasks(path)
    assert [next(streamed).id, next(streamed).id] == ["a", "b"]
    with pytest.raises(TaskError, match="task id 'a' appears more than once"):
        next(streamed)
    path.write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n')
    with pytest.raises(TaskError, match=r"tasks.jsonl:2: malformed JSON"):
        scan_tasks(path)
    path.write_bytes(b'{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "\xff"}\n')
    with pytest.raises(TaskError, match="cannot read the task file"):
        load_tasks(path)
    pretty = tmp_path / "tasks.json"  # a JSON list over many lines is read whole, as before
    pretty.write_text(json.dumps([{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"}], indent=2))
    assert scan_tasks(pretty) == (2, [])
