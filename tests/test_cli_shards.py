"""``--shard K/N`` as a user scales out with it: four ``dreval score`` processes at once sharing one ``DREVAL_HOME``
(one store) against the stand-in judge, their output folders ranked as one leaderboard or merged by copying, a
missing shard named with its tasks; a bad ``--shard``; a shard that holds no task; ``run-agent`` in two shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.schemas import RunManifest, Scorecard
from drevalkit.shards import shard_of
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer

from .support import DEMO, SAMPLES, stand_in_env

ROOT = Path(__file__).resolve().parent.parent
TASKS = 16  # 4, 3, 5 and 4 a shard


def invoke(*args, env=None):
    return CliRunner(env=env).invoke(main, [str(a) for a in args], catch_exceptions=False)


def _task_set(folder: Path, count: int) -> tuple[Path, Path, list[str]]:
    """``count`` variants of the demo task, and a folder with a report for each, each report a little different
    (so its claims and answers are its own)."""
    base = json.loads((DEMO / "task.json").read_text())
    ids = [f"jwst-{i:02d}" for i in range(count)]
    tasks = folder / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(dict(base, id=i, prompt=f"{base['prompt']} ({i})")) + "\n" for i in ids))
    reports = folder / "reports" / "sample-agent"
    reports.mkdir(parents=True)
    text = (DEMO / "report.md").read_text()
    for n, task in enumerate(ids):
        (reports / f"{task}.md").write_text(text.replace("\n\n", f"\n\nIn review {n}, the telescope was checked. ", 1))
    return tasks, reports, ids


def _leaderboard(*folders: Path, tasks: Path, env: dict[str, str]) -> dict:
    result = invoke("leaderboard", *folders, "--tasks", tasks, "--format", "json", "--resamples", 200, env=env)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.output)


def test_four_shards_share_one_home_and_merge_into_one_leaderboard(tmp_path):
    tasks, reports, ids = _task_set(tmp_path, TASKS)
    with FakeOpenAIServer() as server:
        server.responder = rule_judge.respond  # real verdicts from the rule-based stand-in, for every claim
        env = {**os.environ, **stand_in_env(server, tmp_path / "home", "test-key"), "DREVAL_OUT": str(tmp_path / "o")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        assert invoke("corpus", "add", SAMPLES / "corpus", env=env).exit_code == 0  # the cited pages, offline
        outs = {k: tmp_path / ("machine-a" if k <= 2 else "machine-b") for k in range(1, 5)}  # two shards a folder
        shards = [
            subprocess.Popen(
                [sys.executable, "-m", "drevalkit.cli", "score", str(reports), "--tasks", str(tasks)]
                + ["--shard", f"{k}/4", "--out", str(outs[k]), "--max-claims", "4", "--no-html"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(1, 5)
        ]
        ran = [shard.communicate(timeout=600) for shard in shards]
        for k, (shard, (out, err)) in enumerate(zip(shards, ran), start=1):
            assert shard.returncode == 0, out + err
            assert "locked" not in out + err and "Traceback" not in err
            held = [task for task in ids if shard_of(task, 4) == k]
            assert f"shard {k}/4: {len(held)} of {TASKS} reports" in err
            manifest = RunManifest.model_validate_json((outs[k] / f"run.{k}-of-4.json").read_text())
            assert manifest.shard.label == f"{k}/4" and manifest.statuses == {"complete": len(held)}
            assert sorted(Path(r).stem for r in manifest.results) == held
        # every answer the four wrote at once is in the store: two reports of each shard scored again from scratch
        # make no call to the judge
        again = tmp_path / "again" / "sample-agent"
        again.mkdir(parents=True)
        for k in range(1, 5):
            for task in [task for task in ids if shard_of(task, 4) == k][:2]:
                shutil.copy(reports / f"{task}.md", again)
        calls = server.completions
        rescored = invoke("score", again, "--tasks", tasks, "--max-claims", 4, "--no-html", "--no-resume", env=env)
        assert rescored.exit_code == 0 and "8 complete" in rescored.output, rescored.output + rescored.stderr
        assert server.completions == calls and calls > 10 * TASKS
    results = {p.stem: p for out in set(outs.values()) for p in (out / "results" / "sample-agent").glob("*.json")}
    assert sorted(results) == ids
    assert all(Scorecard.model_validate_json(p.read_text()).factcheck.claims for p in results.values())

    board = _leaderboard(tmp_path / "machine-a", tmp_path / "machine-b", tasks=tasks, env=env)
    (row,) = board["systems"]
    assert (row["system"], row["complete"], row["missing"]) == ("sample-agent", TASKS, 0)
    assert not [p for p in board["problems"] if "missing" in p or "no result" in p]
    assert board["results_dirs"] == [str(tmp_path / f"machine-{m}" / "results") for m in "ab"]

    # one machine's folder alone: its two shards are missing, named with their tasks
    alone = _leaderboard(tmp_path / "machine-a", tasks=tasks, env=env)
    absent = [task for task in ids if shard_of(task, 4) > 2]
    assert alone["systems"][0]["missing"] == len(absent)
    for k in (3, 4):
        (line,) = [p for p in alone["problems"] if p.startswith(f"shard {k}/4 is missing")]
        assert all(task in line for task in ids if shard_of(task, 4) == k)
    assert any(f"{len(absent)} task(s) of the task set have no result" in p for p in alone["problems"])

    # merged by copying: nothing of one machine's folder overwrites the other's, and the board is whole
    merged = tmp_path / "merged"
    shutil.copytree(tmp_path / "machine-a", merged)
    clashes = [
        p
        for p in (tmp_path / "machine-b").rglob("*")
        if p.is_file() and (merged / p.relative_to(tmp_path / "machine-b")).exists()
    ]
    assert not clashes
    shutil.copytree(tmp_path / "machine-b", merged, dirs_exist_ok=True)
    assert sorted(p.name for p in merged.glob("run.*.json")) == [f"run.{k}-of-4.json" for k in range(1, 5)]
    whole = _leaderboard(merged, tasks=tasks, env=env)
    assert whole["systems"][0]["complete"] == TASKS and whole["systems"][0]["missing"] == 0


def test_a_bad_shard_is_a_usage_error_and_an_empty_shard_still_records_its_run(judge_env, judge_server, tmp_path):
    judge_server.responder = rule_judge.respond
    for bad, message in (("5/4", "K must be 1 to N"), ("two", "is not K/N")):
        result = invoke("score", SAMPLES / "report.md", "--task", SAMPLES / "task.json", "--shard", bad)
        assert result.exit_code == 2 and message in result.output + result.stderr
        assert "Traceback" not in result.output + result.stderr
    assert judge_server.completions == 0
    # one report, two shards: the one without its task scores nothing, says so and records that it ran
    empty = next(k for k in (1, 2) if shard_of("jwst-first-years", 2) != k)
    result = invoke("score", SAMPLES / "report.md", "--task", SAMPLES / "task.json", "--shard", f"{empty}/2")
    assert result.exit_code == 0, result.output + result.stderr
    assert f"shard {empty}/2: 0 of 1 reports" in result.stderr
    manifest = RunManifest.model_validate_json((tmp_path / "dreval-out" / f"run.{empty}-of-2.json").read_text())
    assert manifest.jobs == 0 and manifest.shard.label == f"{empty}/2"
    assert not (tmp_path / "dreval-out" / "results").exists()


@pytest.fixture
def agent_env(judge_env, corpus_web, monkeypatch):
    _, search = corpus_web
    monkeypatch.setenv("DREVAL_SEARXNG_URL", search.url("searxng"))
    return judge_env


def test_run_agent_in_two_shards_fills_one_folder(agent_env, agent, corpus_web, tmp_path):
    prompts = {
        "jwst-cost": "What did the James Webb Space Telescope cost, and how did its budget grow?",
        "jwst-launch": "When and how was the James Webb Space Telescope launched?",
        "jwst-instruments": "Which instruments and mirror does the Webb telescope carry?",
        "jwst-europe": "What did Europe contribute to the Webb telescope?",
    }
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n" for i, p in prompts.items()))
    out = tmp_path / "reports" / "agent"
    common = ["--tasks", tasks, "--out", out, "--base-url", agent.url, "--model", agent.model]
    common += ["--protocol", "openai-tools", "--search", "searxng", "--allow-private-urls"]
    for k in (1, 2):
        result = invoke("run-agent", *common, "--shard", f"{k}/2")
        assert result.exit_code == 0, result.output + result.stderr
        held = sorted(task for task in prompts if shard_of(task, 2) == k)
        manifest = json.loads((out / f".run-agent.{k}-of-2.json").read_text())
        assert manifest["shard"] == {"index": k, "count": 2}
        assert sorted(r["task_id"] for r in manifest["results"]) == held
        assert f"--shard {k}/2" in result.output  # the next command scores the same shard
    assert sorted(p.stem for p in out.glob("*.md")) == sorted(prompts)
    assert not (out / ".run-agent.json").exists()
