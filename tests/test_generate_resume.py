"""A generation run killed or interrupted half-way continues where it stopped: no finished call is repeated (call
counts prove it, with the LLM cache off), and no partial output file is ever left to be mistaken for a finished one."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.store import STORE_SCHEMA_VERSION, Store
from drevalkit.tasks.journal import run_id
from drevalkit.tasks.outputs import TaskOutputs
from drevalkit.testing.openai_server import FakeOpenAIServer
from drevalkit.testing.task_llm import TaskScript

ARGS = ["generate-tasks", "--domain", "Health", "--domain", "History", "--dedup-method", "lexical"]


@pytest.fixture
def slow_server():
    # about 0.1-0.3 s per answer, two at a time: a run lasts long enough to be stopped in the middle
    with FakeOpenAIServer(decode_tokens_per_s=3000) as server:
        server.responder = TaskScript()
        yield server


def _env(server: FakeOpenAIServer, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREVAL_") and k != "OPENAI_API_KEY"}
    env.update(
        DREVAL_BASE_URL=server.url,
        DREVAL_MODEL=server.model,
        DREVAL_API_KEY="test-key",
        DREVAL_HOME=str(home),
        DREVAL_CONCURRENCY="2",
        DREVAL_BACKOFF_BASE="0.01",
        DREVAL_TIMEOUT="20",
    )
    return env


def _start(server: FakeOpenAIServer, home: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "drevalkit.cli", *ARGS, "--out", str(out), *extra],
        env=_env(server, home),
        cwd=out.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(server: FakeOpenAIServer, proc: subprocess.Popen, completions: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while server.completions < completions:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.02)


def _journal(home: Path, out: Path) -> dict:
    with Store(home / "store.sqlite3") as store:
        return {k: v for k, v in store.journal_entries(run_id("generate", out)).items() if k[0] != "run"}


def _invoke(server: FakeOpenAIServer, home: Path, out: Path, monkeypatch, *extra: str):
    for key, value in _env(server, home).items():
        if key.startswith("DREVAL_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(out.parent)
    return CliRunner().invoke(main, [*ARGS, "--out", str(out), *extra], catch_exceptions=False)


def _summary(out: Path) -> dict:
    return json.loads(TaskOutputs(out).summary.read_text())


def test_a_killed_run_resumes_without_repeating_finished_calls(slow_server, tmp_path, monkeypatch):
    home, out = tmp_path / "home", tmp_path / "tasks.jsonl"
    proc = _start(slow_server, home, out)
    _wait_for(slow_server, proc, 30)
    proc.kill()  # a crash: no chance to clean up
    proc.communicate()
    answered_before = slow_server.completions
    journaled = _journal(home, out)
    assert journaled and len(journaled) <= answered_before <= len(journaled) + 2  # at most the calls in flight
    outputs = TaskOutputs(out)
    for path in (outputs.tasks, outputs.rejected, outputs.summary):
        assert not path.exists()  # nothing partial to mistake for a finished file
    assert not list(tmp_path.glob(".tasks*.tmp"))

    result = _invoke(slow_server, home, out, monkeypatch, "--no-cache")  # the LLM cache cannot help: only the journal
    assert result.exit_code in (0, 1), result.output
    resumed_calls = slow_server.completions - answered_before
    summary = _summary(out)
    assert summary["journal"]["reused"] == len(journaled)
    assert summary["journal"]["recorded"] == resumed_calls > 0
    assert summary["status"] == "complete" and outputs.rejected.exists()

    # the same run from scratch makes exactly the calls of both halves together, minus none: nothing was repeated
    reference = tmp_path / "reference.jsonl"
    before = slow_server.completions
    assert _invoke(slow_server, home, reference, monkeypatch, "--no-cache").exit_code in (0, 1)
    total = slow_server.completions - before
    assert len(journaled) + resumed_calls == total
    assert answered_before + resumed_calls - total <= 2  # only calls cut off in flight were sent again
    same = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert same == [json.loads(line)["id"] for line in reference.read_text().splitlines()]


def test_ctrl_c_exits_130_and_the_next_run_continues(slow_server, tmp_path, monkeypatch):
    home, out = tmp_path / "home", tmp_path / "tasks.jsonl"
    proc = _start(slow_server, home, out)
    _wait_for(slow_server, proc, 20)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "finished steps are recorded" in stderr
    assert not out.exists()
    journaled = _journal(home, out)
    assert journaled
    before = slow_server.completions
    result = _invoke(slow_server, home, out, monkeypatch)
    assert result.exit_code in (0, 1), result.output
    assert _summary(out)["journal"]["reused"] >= len(journaled)
    calls = slow_server.completions
    assert calls > before
    again = _invoke(slow_server, home, out, monkeypatch, "--no-cache")
    assert again.exit_code in (0, 1) and slow_server.completions == calls  # finished: the journal has every step
    fresh = _invoke(slow_server, home, out, monkeypatch, "--no-resume")
    assert fresh.exit_code in (0, 1) and slow_server.completions == calls  # journal forgotten, answers cached
    assert _summary(out)["journal"]["reused"] == 0


def test_a_schema_2_store_gets_the_journal(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        store.put_llm("key", "m", "cached answer", {})
    with sqlite3.connect(path) as conn:  # as a store written by the previous dreval
        conn.execute("DROP TABLE journal")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Store(path) as store:
        assert store.get_llm("key") == ("cached answer", {})
        store.put_journal("run", "stage", "k", {"value": [1, 2]})
        assert store.get_journal("run", "stage", "k") == {"value": [1, 2]}
        assert store.get_journal("run", "stage", "other") is None
        assert store.journal_entries("run") == {("stage", "k"): {"value": [1, 2]}}
        assert store.clear_journal("run") == 1 and store.journal_entries("run") == {}
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(STORE_SCHEMA_VERSION),) and STORE_SCHEMA_VERSION == 3
