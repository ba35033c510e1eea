"""The agent runner against real local servers: a scripted agent behind the OpenAI-compatible test server speaking
each protocol, a fake search API over the sample corpus, and the corpus pages served over HTTP."""

import asyncio
import json
from pathlib import Path

import pytest

from drevalkit.agents import AgentRunError, arun_agent
from drevalkit.agents.protocols.base import OMITTED
from drevalkit.agents.trace import read_trace
from drevalkit.config import Settings
from drevalkit.ingest.importers import ReportError, load_report
from drevalkit.ingest.sidecar import read_sidecar
from drevalkit.schemas import Task
from drevalkit.testing.agent_server import AgentServer, Script

FINAL = "Do not call any more tools"


@pytest.fixture
def make(tmp_path, corpus_web):
    _, search = corpus_web

    def settings(server: AgentServer, protocol: str = "mirothinker", **overrides) -> Settings:
        values = dict(
            agent_base_url=server.url,
            agent_model=server.model,
            agent_api_key="agent-secret-key",
            agent_protocol=protocol,
            home=tmp_path / "home",
            search="searxng",
            searxng_url=search.url("searxng"),
            allow_private_urls=True,
            backoff_base=0.01,
            backoff_max=0.02,
            max_retries=2,
            agent_timeout=5.0,
        )
        values.update(overrides)
        return Settings(**values)

    return settings


def task(
    task_id: str,
    scenario: str | None = None,
    prompt: str = "What did the James Webb Space Telescope cost, and when was it launched?",
) -> Task:
    return Task.model_validate({"id": task_id, "prompt": prompt + (f" [scenario: {scenario}]" if scenario else "")})


def run(settings: Settings, tasks: list[Task], out: Path, **options):
    return asyncio.run(arun_agent(settings, tasks, out, **options))


def sidecar(out: Path, task_id: str):
    found = read_sidecar(out / f"{task_id}.md")
    assert found is not None and found.agent is not None
    return found


def events(out: Path, task_id: str, kind: str | None = None) -> list[dict]:
    found = read_trace(out / f"{task_id}.trace.jsonl")
    return [e for e in found if kind is None or e["event"] == kind]


def sent(server: AgentServer, scenario: str | None = None) -> list[dict]:
    """The requests the agent's endpoint received (for one scenario's task), extraction calls left out."""
    bodies = [b for b in server.bodies if not b["messages"][0]["content"].startswith("You extract information")]
    if scenario is not None:
        bodies = [b for b in bodies if f"[scenario: {scenario}]" in b["messages"][1]["content"]]
    return bodies


# -- the output contract ---------------------------------------------------------------------------------------------


def test_mirothinker_run_writes_report_sidecar_and_trace(agent, make, tmp_path, corpus_web):
    site, _ = corpus_web
    out = tmp_path / "reports" / "miro"
    summary = run(make(agent), [task("jwst")], out)
    outcome = summary.outcomes[0]
    assert (outcome.status, outcome.termination, outcome.cut_short) == ("report", "finished", False)
    assert sorted(p.name for p in out.iterdir()) == [".run-agent.json", "jwst.md", "jwst.meta.json", "jwst.trace.jsonl"]
    text = (out / "jwst.md").read_text()
    assert "<think>" not in text and "<use_mcp_tool>" not in text and "## References" in text
    meta = sidecar(out, "jwst")
    run_info = meta.agent
    assert meta.status == "imported" and meta.format == "dreval-agent" and meta.prompt.startswith("What did")
    assert (run_info.protocol, run_info.model, run_info.termination) == ("mirothinker", "test-agent", "finished")
    assert run_info.pages_read == 2 and run_info.searches == 1 and run_info.tool_calls == 3
    assert run_info.citations and all(c.read and c.url.startswith(site.url("")) for c in run_info.citations)
    assert not run_info.unread_citations and len(meta.sources_used) == 2
    for citation in run_info.citations:  # each [n] of the References list is a page read, under its title
        assert f"[{citation.index}] {citation.title} - {citation.read_url}" in text

    bodies = sent(agent)
    assert len(bodies) == run_info.turns == 5  # search, read, read, done, final report
    for body in bodies:
        assert (body["temperature"], body["top_p"], body["repetition_penalty"], body["max_tokens"]) == (
            1.0,
            0.95,
            1.05,
            16384,
        )
        assert "tools" not in body and body["messages"][0]["role"] == "system"
    results = [m for m in bodies[-1]["messages"][2:] if m["role"] == "user"]
    assert all(m["content"].startswith("{") for m in results[:-1]) and FINAL in results[-1]["content"]
    assert all("<think>" in m["content"] for m in bodies[-1]["messages"] if m["role"] == "assistant")  # kept

    trace = events(out, "jwst")
    assert [e["event"] for e in trace][0] == "start" and trace[-1]["event"] == "end"
    assert trace[0]["settings"]["max_turns"] == 50 and trace[0]["model"] == "test-agent"
    requests = [e for e in trace if e["event"] == "request"]
    assert requests[0]["messages"][0]["kind"] == "system" and requests[-1]["final"]
    assert sum(len(e["messages"]) for e in requests) == len(bodies[-1]["messages"])  # every message, once
    tools = [e for e in trace if e["event"] == "tool"]
    assert [t["name"] for t in tools] == ["google_search", "scrape_and_extract_info", "scrape_and_extract_info"]
    assert all(t["ok"] and t["result_chars"] == t["sent_chars"] > 0 for t in tools)
    replies = [e for e in trace if e["event"] == "reply"]
    assert sum(r["prompt_tokens"] for r in replies) == run_info.prompt_tokens > 0
    assert all(r["latency_s"] >= 0 and r["completion_tokens"] > 0 for r in replies)
    assert "agent-secret-key" not in "".join(p.read_text() for p in out.iterdir())

    report = load_report(out / "jwst.md", system="miro", task_id="jwst", max_bytes=10**6)
    assert report.meta["agent"]["termination"] == "finished" and report.meta["flags"] == []
    assert {c.url for c in report.citations} == {c.read_url for c in run_info.citations}
    manifest = json.loads((out / ".run-agent.json").read_text())
    assert manifest["terminations"] == {"finished": 1} and manifest["protocol"] == "mirothinker"


def test_openai_tools_run_uses_native_tool_calls(agent, make, tmp_path):
    out = tmp_path / "reports" / "native"
    outcome = run(make(agent, "openai-tools"), [task("jwst")], out).outcomes[0]
    assert (outcome.status, outcome.termination) == ("report", "finished")
    bodies = sent(agent)
    assert all(b["tools"][0]["function"]["name"] == "web_search" and b["tool_choice"] == "auto" for b in bodies)
    assert "temperature" not in bodies[0] and bodies[0]["max_tokens"] == 8192
    last = bodies[-1]["messages"]
    calls = [c["id"] for m in last if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    answers = [m["tool_call_id"] for m in last if m["role"] == "tool"]
    assert calls == answers and len(calls) == 3  # every call answered, in order
    assert len(bodies) == 4  # no extra turn: the reply without tool calls is the report
    meta = sidecar(out, "jwst")
    assert meta.agent.protocol == "openai-tools" and meta.agent.pages_read == 2 and not meta.agent.unread_citations
    assert "## References" in (out / "jwst.md").read_text()


@pytest.mark.parametrize("form", ["hermes", "tools", "function", "json", "mcp", "prose"])
def test_openai_tools_runs_tool_calls_written_as_text(agent, make, tmp_path, form):
    out = tmp_path / "r"
    outcome = run(make(agent, "openai-tools"), [task("txt", f"text-{form}")], out).outcomes[0]
    assert (outcome.status, outcome.termination, outcome.text_tool_calls) == ("report", "finished", 3)
    tools = events(out, "txt", "tool")
    assert [(t["name"], t["ok"]) for t in tools] == [("web_search", True), ("read_url", True), ("read_url", True)]
    written = events(out, "txt", "text_tool_calls")
    assert [e["turn"] for e in written] == [1, 2, 3] and all(e["problem"] == "" for e in written)
    bodies = sent(agent)
    history = bodies[-1]["messages"]  # the calls kept as native calls, each answered by a role: tool message
    calls = [c["id"] for m in history if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert calls == [m["tool_call_id"] for m in history if m["role"] == "tool"] and len(calls) == 3
    assert not any("<tool_call>" in (m.get("content") or "") for m in history if m["role"] == "assistant")
    meta = sidecar(out, "txt")
    assert (meta.agent.text_tool_calls, meta.agent.searches, meta.agent.pages_read) == (3, 1, 2)
    report = (out / "txt.md").read_text()  # the later real answer, which quotes a call in a code block
    assert report.startswith("# ") and "## References" in report and "```json" in report
    assert len(meta.agent.citations) == 2 and not meta.agent.unread_citations
    assert json.loads((out / ".run-agent.json").read_text())["results"][0]["text_tool_calls"] == 3


@pytest.mark.parametrize(
    "scenario, why",
    [("text-broken", "<tool_call> block is not valid JSON"), ("text-unknown", "'python_interpreter' is not one")],
)
def test_a_text_tool_call_that_cannot_run_fails_the_task_with_the_server_flags(agent, make, tmp_path, scenario, why):
    out = tmp_path / "r"
    outcome = run(make(agent, "openai-tools"), [task("bad", scenario)], out).outcomes[0]
    assert (outcome.status, outcome.termination, outcome.turns, outcome.tool_calls) == (
        "failed",
        "unreadable_tool_call",
        1,
        0,
    )
    assert why in outcome.failure and "--tool-call-parser hermes" in outcome.failure and "--jinja" in outcome.failure
    assert (out / "bad.md").read_text().startswith("<!-- dreval run-agent: no report")
    (written,) = events(out, "bad", "text_tool_calls")
    assert why in written["problem"] and events(out, "bad", "end")[0]["status"] == "failed"
    assert len(sent(agent)) == 1  # no final report asked for: the server's setup, not the model, is at fault


def test_a_final_reply_that_is_a_text_tool_call_is_no_report(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent, "openai-tools", agent_max_turns=4), [task("fc", "text-final-call")], out).outcomes[0]
    assert outcome.status == "failed" and outcome.termination == "turn_cap"
    assert "asked for its report, the model wrote a tool call as text" in outcome.failure
    assert "--jinja" in outcome.failure
    rejected = [e for e in events(out, "fc", "rejected") if e["kind"] == "text_tool_call"]
    assert len(rejected) == 2 and all(e["final"] for e in rejected)  # asked twice, a call both times
    assert "<tool_call>" not in (out / "fc.md").read_text()


# -- failures the model can recover from, and those that end the loop ------------------------------------------------


def test_mirothinker_rolls_back_a_malformed_call(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent), [task("mal", "malformed-once")], out).outcomes[0]
    assert outcome.status == "report" and outcome.termination == "finished"
    rejected = events(out, "mal", "rejected")
    assert len(rejected) == 1 and rejected[0]["kind"] == "malformed" and rejected[0]["rolled_back"]
    assert "not valid JSON" in rejected[0]["problem"]
    bodies = sent(agent)
    assert bodies[1]["messages"] == bodies[2]["messages"]  # the same turn asked again
    assert not any("unterminated" in json.dumps(b["messages"]) for b in bodies)  # never kept in the history
    assert sidecar(out, "mal").agent.tool_errors == 1


def test_openai_tools_answers_a_malformed_call_with_an_error(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent, "openai-tools"), [task("mal", "malformed-once")], out).outcomes[0]
    assert outcome.status == "report"
    errors = [m for m in sent(agent)[-1]["messages"] if m["role"] == "tool" and m["content"].startswith("Error")]
    assert len(errors) == 1 and "not valid JSON" in errors[0]["content"]
    assert not events(out, "mal", "rejected")[0]["rolled_back"]


def test_unknown_tool_is_answered_with_an_error(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent), [task("unk", "unknown-tool")], out).outcomes[0]
    assert outcome.status == "report"
    answered = [
        m["content"] for m in sent(agent)[-1]["messages"] if m["role"] == "user" and "unknown tool" in m["content"]
    ]
    assert len(answered) == 1 and "tool-python/run_python_code" in answered[0]
    assert events(out, "unk", "rejected")[0]["kind"] == "unknown_tool"


@pytest.mark.parametrize("protocol", ["mirothinker", "openai-tools"])
@pytest.mark.parametrize("scenario, kind", [("malformed-always", "malformed"), ("repeat-query", "repeated")])
def test_failures_in_a_row_end_the_research(agent, make, tmp_path, protocol, scenario, kind):
    out = tmp_path / "r"
    outcome = run(make(agent, protocol), [task("t", scenario)], out).outcomes[0]
    assert outcome.termination == "repeated_failures" and outcome.cut_short
    assert outcome.status == "report"  # asked for its report from what it had
    rejected = events(out, "t", "rejected")
    assert len(rejected) == 3 and {r["kind"] for r in rejected} == {kind}
    assert all(r["rolled_back"] == (protocol == "mirothinker") for r in rejected)
    meta = sidecar(out, "t")
    assert (
        meta.agent.limits_hit == ["repeated_failures"]
        and "cut short by repeated failed tool calls" in meta.agent.flags()[0]
    )
    assert events(out, "t", "limit")[0]["reason"] == "repeated_failures"


@pytest.mark.parametrize("protocol", ["mirothinker", "openai-tools"])
def test_turn_cap_asks_for_the_report_and_marks_it_cut_short(agent, make, tmp_path, protocol):
    out = tmp_path / "r"
    outcome = run(make(agent, protocol, agent_max_turns=4), [task("t", "never-finish")], out).outcomes[0]
    assert (outcome.termination, outcome.status, outcome.cut_short, outcome.turns) == ("turn_cap", "report", True, 5)
    final = sent(agent)[-1]
    assert "used all the tool calls" in final["messages"][-1]["content"]
    if protocol == "openai-tools":
        assert final["tool_choice"] == "none"
    report = load_report(out / "t.md", system="s", task_id="t", max_bytes=10**6)
    assert report.meta["flags"][0].startswith("agent run cut short by the turn cap after 5 turns")
    assert report.citations  # the report cites what it read before the cap


# -- context: pruning, truncation, budget ----------------------------------------------------------------------------


def test_only_the_last_k_tool_results_are_sent(agent, make, tmp_path):
    out = tmp_path / "keep2"
    outcome = run(make(agent, agent_keep_tool_results=2, search_results=8), [task("t", "many-reads")], out).outcomes[0]
    reads = sum(e["name"] == "scrape_and_extract_info" for e in events(out, "t", "tool"))
    assert outcome.status == "report" and outcome.tool_calls == 2 + reads and reads >= 6
    for body in sent(agent):
        messages = body["messages"][2:]
        results = [m for m in messages if m["role"] == "user" and m["content"].startswith("{")]
        omitted = [m for m in messages if m["content"] == OMITTED]
        calls = sum(m["role"] == "assistant" and "<use_mcp_tool>" in m["content"] for m in messages)
        assert len(results) <= 2 and len(results) + len(omitted) == calls
    last = sent(agent)[-1]["messages"]
    assert sum(m["content"] == OMITTED for m in last) == outcome.tool_calls - 2
    assert sum(m["role"] == "assistant" for m in last) == outcome.tool_calls + 1  # every assistant message kept
    assert [e["pruned"] for e in events(out, "t", "request")][-1] == outcome.tool_calls - 2
    # the agent still cites every page it read: its notes were in its own messages
    assert len(sidecar(out, "t").agent.citations) == reads

    agent.bodies.clear()
    kept_all = run(
        make(agent, agent_keep_tool_results=-1, search_results=8), [task("t", "many-reads")], tmp_path / "all"
    ).outcomes[0]
    assert max(outcome.tokens_per_turn) < max(kept_all.tokens_per_turn)
    assert not any(m["content"] == OMITTED for m in sent(agent)[-1]["messages"])


def test_long_tool_results_and_pages_are_cut_with_a_marker(agent, make, tmp_path):
    out = tmp_path / "pages"
    run(make(agent, agent_page_chars=600), [task("t")], out)
    reads = [e for e in events(out, "t", "tool") if e["name"] == "scrape_and_extract_info"]
    assert reads and all(e["page_chars"] > 600 for e in reads)
    shown = [m["content"] for m in sent(agent)[-1]["messages"] if "page cut" in m["content"]]
    assert shown and "the first 600 of" in shown[0]

    agent.bodies.clear()
    out = tmp_path / "results"
    run(make(agent, agent_max_tool_chars=1000), [task("t")], out)
    search = events(out, "t", "tool")[0]
    assert search["cut"] and search["result_chars"] > 1000 and search["sent_chars"] < 1100
    marker = f"[... tool result cut at 1000 of {search['result_chars']} characters ...]"
    assert any(m["content"].endswith(marker) for m in sent(agent)[-1]["messages"])


def test_context_budget_ends_the_research_and_the_report_still_fits(agent, make, tmp_path):
    out = tmp_path / "r"
    settings = make(agent, agent_context_tokens=4000, agent_max_tokens=1024, agent_keep_tool_results=-1)
    outcome = run(settings, [task("t", "many-reads")], out).outcomes[0]
    assert (outcome.termination, outcome.status, outcome.cut_short) == ("context_cap", "report", True)
    limit = events(out, "t", "limit")[0]
    assert limit["estimated_tokens"] + limit["max_tokens"] > 4000
    final = sent(agent)[-1]["messages"]
    assert FINAL in final[-1]["content"] and all(
        m["content"] == OMITTED for m in final[2:-1] if m["role"] == "user"
    )  # pruned further to fit
    assert "cut short by the context budget" in sidecar(out, "t").agent.flags()[0]


def test_server_refusing_an_overlong_request_is_a_context_cap(make, tmp_path):
    with AgentServer(context_tokens=6000) as server:
        settings = make(server, agent_max_tokens=1024, agent_keep_tool_results=-1, agent_concurrency=1)
        long, short = run(settings, [task("t", "many-reads"), task("u")], tmp_path / "r").outcomes
        assert long.termination == "context_cap" and long.status == "report"
        assert "server" in events(tmp_path / "r", "t", "limit")[0]
        # the final request was refused too (dreval's estimate said it fits): sent again with every result pruned
        assert len(server.refused) == 2 and events(tmp_path / "r", "t", "error")[0]["kind"] == "context_overflow"
        final = sent(server, "many-reads")[-1]["messages"]
        assert all(m["content"] == OMITTED for m in final[2:-1] if m["role"] == "user")
        # ... for that task only: the next task of the run kept every result
        others = [m for b in server.bodies if "[scenario" not in b["messages"][1]["content"] for m in b["messages"]]
        assert short.status == "report" and others and not any(m["content"] == OMITTED for m in others)


def test_time_cap(make, tmp_path):
    with AgentServer(decode_tokens_per_s=400) as server:  # about 0.15 s a turn
        outcome = run(make(server, agent_time_cap=0.6), [task("t", "never-finish")], tmp_path / "r").outcomes[0]
    assert (outcome.termination, outcome.status, outcome.cut_short) == ("time_cap", "report", True)
    assert 1 <= outcome.turns < 10 and outcome.seconds < 5


def test_a_final_report_cut_at_the_token_limit_is_kept_and_flagged(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent), [task("t", "final-cut")], out).outcomes[0]
    assert outcome.status == "report" and not outcome.cut_short
    run_info = sidecar(out, "t").agent
    assert run_info.report_truncated and "cut at its token limit" in run_info.flags()[0]


# -- thinking --------------------------------------------------------------------------------------------------------


def test_thinking_sent_by_a_reasoning_parser_stays_in_the_history_not_in_the_report(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent), [task("t", "reasoning-field")], out).outcomes[0]
    assert outcome.status == "report"
    history = [m["content"] for m in sent(agent)[-1]["messages"] if m["role"] == "assistant"]
    assert history and all(h.startswith("<think>\n") for h in history)
    assert "Writing the report" not in (out / "t.md").read_text()
    assert events(out, "t", "reply")[-1]["reasoning"] == "Writing the report from my notes."


# -- failed tasks: recorded, never a report --------------------------------------------------------------------------


def test_endpoint_failing_mid_run_fails_the_task_and_a_rerun_retries_it(agent, make, tmp_path):
    out = tmp_path / "r"
    tasks = [task("broken", "endpoint-fails"), task("fine")]
    summary = run(make(agent), tasks, out)
    broken, fine = summary.outcomes
    assert fine.status == "report"
    assert (broken.status, broken.termination) == ("failed", "endpoint_error")
    assert "HTTP 500" in broken.failure and "gave up after 3 attempts" in broken.failure
    assert len(agent.faults_injected) == 3  # the first try and two retries
    assert (out / "broken.md").read_text().startswith("<!-- dreval run-agent: no report")
    meta = sidecar(out, "broken")
    assert meta.status == "failed" and meta.failure.startswith("agent run failed: endpoint error")
    assert events(out, "broken", "error")[0]["kind"] == "endpoint" and events(out, "broken", "end")
    with pytest.raises(ReportError, match="agent run failed: endpoint error"):
        load_report(out / "broken.md", system="s", task_id="broken", max_bytes=10**6)

    agent.agent.scripts["endpoint-fails"] = Script()  # the endpoint is back
    agent.bodies.clear()
    again = run(make(agent), tasks, out)
    assert [o.status for o in again.outcomes] == ["report", "skipped"]
    assert not any("[scenario" not in b["messages"][1]["content"] for b in sent(agent))  # "fine" not redone


@pytest.mark.parametrize(
    "scenario, rule", [("give-up", "give-up"), ("error-report", "error-message"), ("empty-final", "no report")]
)
def test_give_up_and_error_text_fail_the_task(agent, make, tmp_path, scenario, rule):
    out = tmp_path / "r"
    outcome = run(make(agent), [task("t", scenario)], out).outcomes[0]
    assert outcome.status == "failed" and outcome.failure.startswith(f"agent run failed: {rule}")
    text = (out / "t.md").read_text()
    assert text.startswith("<!-- dreval run-agent: no report") and "Error generating" not in text.split("(", 1)[0]
    with pytest.raises(ReportError, match="agent run failed"):
        load_report(out / "t.md", system="s", task_id="t", max_bytes=10**6)
    if scenario == "empty-final":
        assert sum(e["final"] for e in events(out, "t", "request")) == 2  # asked once more


def test_citations_to_pages_never_read_are_flagged(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent), [task("t", "cite-unread")], out).outcomes[0]
    assert outcome.status == "report" and outcome.unread_citations == 2
    unread = {c.index: c for c in sidecar(out, "t").agent.unread_citations}
    assert "only saw in search results" in unread[3].problem and "no URL" in unread[9].problem
    flags = load_report(out / "t.md", system="s", task_id="t", max_bytes=10**6).meta["flags"]
    assert any(f.startswith("citation [3] points to a page the agent only saw") for f in flags)
    assert any(f.startswith("citation [9] has no URL") for f in flags)
    assert [s.index for s in sidecar(out, "t").sources_used] == [1, 2]


# -- tools -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extract", ["agent", "judge"])
def test_pages_summarised_by_an_extraction_call(agent, make, tmp_path, extract):
    out = tmp_path / "r"
    judge = dict(base_url=agent.url, model=agent.model, api_key="judge-key") if extract == "judge" else {}
    outcome = run(make(agent, agent_extract=extract, **judge), [task("t")], out).outcomes[0]
    assert outcome.status == "report"
    extractions = [b for b in agent.bodies if b["messages"][0]["content"].startswith("You extract information")]
    assert len(extractions) == 2 and "<<<PAGE " in extractions[0]["messages"][1]["content"]
    assert sidecar(out, "t").agent.extract_tokens > 0
    shown = [json.loads(m["content"]) for m in sent(agent)[-1]["messages"] if m["content"].startswith('{\n  "success"')]
    assert shown and all(len(s["extracted_info"]) < s["scrape_stats"]["char_count"] for s in shown)
    with pytest.raises(AgentRunError, match="needs the judge's endpoint"):
        run(make(agent, agent_extract="judge", base_url=None, model=None), [task("t")], tmp_path / "x")


def test_private_pages_are_refused_without_the_flag(agent, make, tmp_path):
    out = tmp_path / "r"
    outcome = run(make(agent, allow_private_urls=False), [task("t")], out).outcomes[0]
    reads = [e for e in events(out, "t", "tool") if e["name"] == "scrape_and_extract_info"]
    assert reads and all(not e["ok"] and "refused" in e["error"] for e in reads)
    assert outcome.status == "report" and sidecar(out, "t").agent.pages_read == 0


# -- resume ----------------------------------------------------------------------------------------------------------


def test_finished_tasks_are_skipped_and_other_systems_folders_refused(agent, make, tmp_path):
    out = tmp_path / "r"
    tasks = [task("a"), task("b", prompt="Which instruments does the Webb telescope carry?")]
    first = run(make(agent), tasks, out)
    assert [o.status for o in first.outcomes] == ["report", "report"]
    requests = len(agent.bodies)
    again = run(make(agent), tasks, out)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"] and len(agent.bodies) == requests
    with pytest.raises(AgentRunError, match="holds reports of model 'test-agent'"):
        run(make(agent, agent_model="other-model"), tasks, out, check=False)
    with pytest.raises(AgentRunError, match="mirothinker"):
        run(make(agent, "openai-tools"), tasks, out)
    (out / "a.md").write_text("# edited by hand\n")  # a report that no longer matches its sidecar runs again
    redo = run(make(agent), tasks, out)
    assert [o.status for o in redo.outcomes] == ["report", "skipped"]
    assert [o.status for o in run(make(agent), tasks, out, resume=False).outcomes] == ["report", "report"]


def test_a_key_echoed_by_the_agent_endpoint_is_in_no_report_sidecar_or_trace(agent, make, tmp_path):
    """Issue 17, item 3: an endpoint answering 400 "Incorrect API key provided: <the key>" must not have the key
    written into the run's files."""
    secret = "sk-test-SECRET123456789"
    agent.fault_rate, agent.fault_kinds = 1.0, ("echo_key",)
    out = tmp_path / "r"
    summary = run(make(agent, agent_api_key=secret), [task("echoed")], out)
    (outcome,) = summary.outcomes
    assert outcome.status == "failed" and "echo_key" in agent.faults_injected
    assert "Incorrect API key provided: ***" in outcome.failure
    written = "\n".join(p.read_text(errors="replace") for p in sorted(out.rglob("*")) if p.is_file())
    assert "Incorrect API key provided: ***" in written
    assert "SECRET123456789" not in written + outcome.failure and secret[:12] not in written + outcome.failure
