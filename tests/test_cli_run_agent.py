"""``dreval run-agent`` as a new user would run it: against a local server speaking each protocol, then ``dreval
score`` on what it wrote; bad invocations; a run killed midway and restarted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.schemas import Scorecard
from drevalkit.testing import rule_judge
from drevalkit.testing.agent_server import AgentServer

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = {
    "jwst-cost": "What did the James Webb Space Telescope cost, and how did its budget grow?",
    "jwst-launch": "When and how was the James Webb Space Telescope launched?",
    "jwst-instruments": "Which instruments and mirror does the Webb telescope carry?",
    "jwst-europe": "What did Europe contribute to the Webb telescope?",
    "jwst-gives-up": "What did the Webb telescope find about exoplanet atmospheres? [scenario: give-up]",
    "jwst-text-calls": "What did the James Webb Space Telescope cost? [scenario: text-tools]",
    "jwst-text-broken": "When was the James Webb Space Telescope launched? [scenario: text-broken]",
}


def invoke(*args, env=None):
    return CliRunner(env=env).invoke(main, [str(a) for a in args], catch_exceptions=False)


def write_tasks(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "prompt": PROMPTS[i]}) + "\n" for i in ids))
    return path


def agent_args(agent: AgentServer, corpus_web, protocol: str) -> list[str]:
    _, search = corpus_web
    return [
        "--base-url",
        agent.url,
        "--model",
        agent.model,
        "--api-key",
        "agent-secret-key",
        "--protocol",
        protocol,
        "--search",
        "searxng",
        "--allow-private-urls",
    ]


@pytest.fixture
def env(judge_env, corpus_web, monkeypatch):
    _, search = corpus_web
    monkeypatch.setenv("DREVAL_SEARXNG_URL", search.url("searxng"))
    return {**judge_env, "DREVAL_SEARXNG_URL": search.url("searxng")}


def card(path: Path) -> Scorecard:
    return Scorecard.model_validate_json(path.read_text())


def test_mirothinker_reports_score_with_dreval_score(env, judge_server, agent, corpus_web, tmp_path):
    judge_server.responder = rule_judge.respond
    tasks = write_tasks(tmp_path / "tasks.jsonl", ["jwst-cost", "jwst-gives-up"])
    out = tmp_path / "reports" / "mirothinker-72b"
    result = invoke("run-agent", "--tasks", tasks, "--out", out, *agent_args(agent, corpus_web, "mirothinker"))
    assert result.exit_code == 1, result.output  # one task gave up: recorded as failed
    assert "jwst-cost" in result.output and "finished" in result.output and "1 reports, 1 failed" in result.output
    assert "failed: jwst-gives-up: agent run failed: give-up" in result.stderr
    assert f"dreval score {out}" in result.output and "agent-secret-key" not in result.output + result.stderr

    scored = invoke("score", out, "--tasks", tasks, "--allow-private-urls")
    assert scored.exit_code == 1, scored.output + scored.stderr
    results = tmp_path / "dreval-out" / "results" / "mirothinker-72b"
    good, failed = card(results / "jwst-cost.json"), card(results / "jwst-gives-up.json")
    assert good.status == "complete" and good.report_ref.citations >= 2 and good.factcheck.claims
    cited = {e.url for e in good.factcheck.evidence}
    assert cited and all(url.startswith("http://127.0.0.1:") for url in cited)  # the pages the agent read
    assert failed.status == "failed" and "agent run failed: give-up" in failed.reasons[0]
    assert not (results / "jwst-cost.trace.json").exists() and len(list(results.iterdir())) == 2  # no trace scored


def test_openai_tools_reports_score_with_dreval_score(env, judge_server, agent, corpus_web, tmp_path):
    judge_server.responder = rule_judge.respond
    tasks = write_tasks(tmp_path / "tasks.jsonl", ["jwst-launch"])
    out = tmp_path / "reports" / "qwen3"
    result = invoke("run-agent", "--tasks", tasks, "--out", out, *agent_args(agent, corpus_web, "openai-tools"))
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 reports, 0 failed" in result.output
    assert all("tools" in body for body in agent.bodies)
    scored = invoke("score", out, "--allow-private-urls", "--no-factcheck")  # the sidecar carries the prompt
    assert scored.exit_code == 0, scored.output + scored.stderr
    assert card(tmp_path / "dreval-out" / "results" / "qwen3" / "jwst-launch.json").status == "complete"


def test_tool_calls_written_as_text_are_run_or_fail_the_task_never_a_report(env, agent, corpus_web, tmp_path):
    """Issue 19: a model served without a tool parser writes its calls as text (``<tools>{...}</tools>``, as
    Qwen2.5-Coder-1.5B did under llama.cpp); they are run, and one that cannot be read fails its task with the
    server flags that turn native tool calls on."""
    tasks = write_tasks(tmp_path / "tasks.jsonl", ["jwst-text-calls", "jwst-text-broken"])
    out = tmp_path / "reports" / "small-model"
    result = invoke("run-agent", "--tasks", tasks, "--out", out, *agent_args(agent, corpus_web, "openai-tools"))
    assert result.exit_code == 1, result.output + result.stderr
    assert "1 reports, 1 failed" in result.output and "unreadable_tool_call" in result.output
    assert "failed: jwst-text-broken: agent run failed: the model wrote a tool call as text" in result.stderr
    assert "note: 3 tool calls were written in the message text" in result.stderr
    for flag in ("--enable-auto-tool-choice --tool-call-parser hermes", "--tool-call-parser qwen25", "--jinja"):
        assert flag in result.stderr
    meta = json.loads((out / "jwst-text-calls.meta.json").read_text())["agent"]
    assert (meta["text_tool_calls"], meta["searches"], meta["pages_read"], meta["turns"]) == (3, 1, 2, 4)
    report = (out / "jwst-text-calls.md").read_text()  # the later real answer, not a call
    assert report.startswith("# ") and "## Findings" in report and "<tools>" not in report
    assert all(c["read"] for c in meta["citations"]) and len(meta["citations"]) == 2
    trace = [json.loads(line) for line in (out / "jwst-text-calls.trace.jsonl").read_text().splitlines()]
    assert [e["forms"] for e in trace if e["event"] == "text_tool_calls"] == [["<tools>"]] * 3
    assert [e["name"] for e in trace if e["event"] == "tool" and e["ok"]] == ["web_search", "read_url", "read_url"]
    failed = json.loads((out / "jwst-text-broken.meta.json").read_text())
    assert failed["status"] == "failed" and failed["agent"]["termination"] == "unreadable_tool_call"
    assert failed["agent"]["tool_calls"] == 0
    assert (out / "jwst-text-broken.md").read_text().startswith("<!-- dreval run-agent: no report (the model wrote")


def test_bad_invocations(env, agent, corpus_web, tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl", ["jwst-cost"])
    out = tmp_path / "out"
    no_model = invoke("run-agent", "--tasks", tasks, "--out", out, "--base-url", agent.url)
    assert no_model.exit_code == 2 and "no agent model" in no_model.stderr
    credentials = invoke(
        "run-agent", "--tasks", tasks, "--out", out, "--model", "m", "--base-url", "http://user:pw@127.0.0.1:1/v1"
    )
    assert credentials.exit_code == 2 and "credentials" in credentials.stderr and "pw" not in credentials.stderr
    unknown = invoke(
        "run-agent", "--tasks", tasks, "--out", out, "--task-id", "nope", *agent_args(agent, corpus_web, "mirothinker")
    )
    assert unknown.exit_code == 2 and "no task with id 'nope'" in unknown.stderr
    args = agent_args(agent, corpus_web, "mirothinker")
    args[args.index("--model") + 1] = "not-served"
    wrong_model = invoke("run-agent", "--tasks", tasks, "--out", out, *args)
    assert wrong_model.exit_code == 3 and "has no model 'not-served'" in wrong_model.stderr
    assert "agent-secret-key" not in wrong_model.stderr + wrong_model.output
    assert "no reports were written" in wrong_model.stderr and "kept in" not in wrong_model.stderr
    args[args.index("--base-url") + 1] = "http://127.0.0.1:9/v1"  # nothing listens there
    dead = invoke("run-agent", "--tasks", tasks, "--out", tmp_path / "dead", *args)
    assert dead.exit_code == 3 and "cannot reach the agent endpoint" in dead.stderr
    assert "(no reports were written)" in dead.stderr and not (tmp_path / "dead").exists()
    (tmp_path / "file").write_text("x")
    assert (
        invoke(
            "run-agent", "--tasks", tasks, "--out", tmp_path / "file", *agent_args(agent, corpus_web, "mirothinker")
        ).exit_code
        == 2
    )
    shown = invoke("config")
    assert "[agent]" in shown.output and "agent_max_turns = 50" in shown.output


def test_a_killed_run_restarts_without_redoing_finished_tasks(env, corpus_web, tmp_path):
    ids = ["jwst-cost", "jwst-launch", "jwst-instruments", "jwst-europe"]
    tasks = write_tasks(tmp_path / "tasks.jsonl", ids)
    out = tmp_path / "reports" / "sys"
    with AgentServer(decode_tokens_per_s=1500) as agent:  # about half a second per task
        args = [
            "run-agent",
            "--tasks",
            str(tasks),
            "--out",
            str(out),
            "--concurrency",
            "1",
            *agent_args(agent, corpus_web, "mirothinker"),
        ]
        process = subprocess.Popen(
            [sys.executable, "-m", "drevalkit.cli", *args],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            # killed once a task has finished and the next one is under way
            while (
                not (list(out.glob("*.meta.json")) and list(out.glob(".*.partial")))
                and time.monotonic() < deadline
                and process.poll() is None
            ):
                time.sleep(0.02)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the process and its extraction workers, at once
            process.wait()
        finished = sorted(p.name[: -len(".meta.json")] for p in out.glob("*.meta.json"))
        assert 1 <= len(finished) < len(ids)
        interrupted = [p for p in out.glob(".*.partial")]
        assert len(interrupted) == 1 and not (out / interrupted[0].name[1 : -len(".partial")]).exists()
        before = len(agent.bodies)

        again = invoke(*args)
        assert again.exit_code == 0, again.output + again.stderr
        assert f"{len(finished)} already done in an earlier run (skipped)" in again.output
        redone = {body["messages"][1]["content"].split("\n")[0] for body in agent.bodies[before:]}
        assert redone == {PROMPTS[i] for i in ids if i not in finished}  # no finished task repeated
    assert sorted(p.name for p in out.glob("*.md")) == sorted(f"{i}.md" for i in ids)
    assert not list(out.glob(".*.partial"))  # the interrupted task ran again from the start
    for task_id in ids:
        lines = (out / f"{task_id}.trace.jsonl").read_text().splitlines()
        assert json.loads(lines[0])["event"] == "start" and json.loads(lines[-1])["event"] == "end"
        assert sum(json.loads(line)["event"] == "start" for line in lines) == 1


def test_the_offline_trial_in_the_readme(judge_env, judge_server, tmp_path):
    """README "Trying it without a model": the scripted agent as its own process, the sample corpus for search and
    pages (no private addresses needed: pages come from the store), then scoring what it wrote."""
    server = subprocess.Popen(
        [sys.executable, "-m", "drevalkit.testing.agent_server"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = server.stdout.readline()
        assert "a stand-in, not a model" in first, first
        url = first.split(" at ", 1)[1].split()[0]
        assert invoke("corpus", "add", ROOT / "samples" / "corpus").exit_code == 0
        out = tmp_path / "reports" / "scripted"
        result = invoke(
            "run-agent",
            "--tasks",
            ROOT / "samples" / "tasks.jsonl",
            "--base-url",
            url,
            "--model",
            "test-agent",
            "--protocol",
            "mirothinker",
            "--search",
            "local",
            "--out",
            out,
        )
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0
    assert result.exit_code == 0, result.output + result.stderr
    assert "3 reports, 0 failed" in result.output
    for task_id in ("jwst-cost", "jwst-launch", "jwst-results"):
        meta = json.loads((out / f"{task_id}.meta.json").read_text())
        assert meta["agent"]["termination"] == "finished" and not meta["agent"]["unread_citations"]
        assert all(c["read"] and c["url"].startswith("https://") for c in meta["agent"]["citations"])
    judge_server.responder = rule_judge.respond
    scored = invoke("score", out, "--tasks", ROOT / "samples" / "tasks.jsonl", "--max-claims", 4)
    assert scored.exit_code == 0, scored.output + scored.stderr
    cards = [card(p) for p in (tmp_path / "dreval-out" / "results" / "scripted").glob("*.json")]
    assert len(cards) == 3 and all(c.status == "complete" and c.factcheck.claims for c in cards)
