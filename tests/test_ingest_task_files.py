import json
from pathlib import Path

import pytest

from drevalkit.ingest.importers import ReportError, load_report
from drevalkit.ingest.task_files import TaskError, load_tasks, select_task

MB = 1_000_000


def _load(path: Path, **kw):
    return load_report(path, system="s", task_id="t", max_bytes=5 * MB, **kw)


def test_markdown_and_deepresearcheval_json(tmp_path: Path):
    md = tmp_path / "r.md"
    md.write_text("# Report\nText [1].\n\n## References\n[1] Src. https://a.example/x\n")
    report = _load(md)
    assert report.source_format == "markdown" and report.citations[0].url == "https://a.example/x"
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"entries": [{"response": "Body [1]\n\nReferences\n1. https://b.example", "id": 4}]}))
    report = _load(js)
    assert report.source_format == "deepresearcheval"
    assert report.text.startswith("Body") and report.meta["id"] == 4
    assert report.citations[0].url == "https://b.example"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"   \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
    ],
)
def test_bad_report_files(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(ReportError, match=message):
        _load(path)


def test_huge_report_refused_without_reading(tmp_path: Path):
    path = tmp_path / "huge.md"
    with path.open("wb") as handle:
        handle.truncate(50 * MB)
    with pytest.raises(ReportError, match=r"50\.0 MB is larger than the 5\.0 MB limit"):
        _load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"entries": [{"response": "x"}', "malformed JSON"),
        ('{"entries": []}', "non-empty 'entries'"),
        ('{"entries": [{"answer": "x"}]}', "response is missing"),
        ('{"entries": [{"response": "   "}]}', "text is empty"),
    ],
)
def test_bad_deepresearcheval_json(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=message):
        _load(path)


def test_missing_report(tmp_path: Path):
    with pytest.raises(ReportError, match="cannot read"):
        _load(tmp_path / "nope.md")


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
