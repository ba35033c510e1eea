"""dreval against a real model server: llama.cpp's own HTTP server (through xllamacpp, on 127.0.0.1) serving the tiny
SmolLM2 model, driven through every command that calls a model, as a user runs it: ``score`` (quality and
fact-check), ``factcheck``, ``rubric``, ``run-agent`` with both protocols, ``generate-tasks --n 1`` and ``stress``
with one probe, and the judge's client under them. Search and web pages come from the local test servers; only the
model is real.

A 135M model's answers are worthless and mostly cut off at the short limit these runs set, so nothing here holds
its judgement. What is held is what a real server gives and dreval must keep true: the token counts dreval records
equal what the server itself counted (its ``/metrics``), finish reasons, the structured-output mode ``auto`` keeps,
llama.cpp's error body for a request over its context, prompt tokens served from its prefix cache, and a status true
to what happened: complete, or failed with the cause, never a crash or a false ``complete``.

Select them with ``pytest -m real_server``; ``make test`` runs them too. CI must install the model (``CI=true``
turns a missing model into a failure)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from drevalkit.cli import main
from drevalkit.config import Settings
from drevalkit.llm import open_llm
from drevalkit.llm.llama_server import LlamaServer
from drevalkit.schemas import Criterion, Dimension, JudgeInfo, Rubric, RunManifest, Scorecard
from drevalkit.validity.card import JudgeCard
from drevalkit.validity.stress_run import StressRun

pytestmark = pytest.mark.real_server

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"
MAX_TOKENS = 32  # as llama_env sets it
FINISH_REASONS = {"stop", "length", "tool_calls"}  # what llama.cpp sends


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@contextmanager
def counted(server: LlamaServer) -> Iterator[dict[str, int]]:
    """The tokens the server counted while the block ran: prompt (from its cache or not), cached, completion."""
    spent: dict[str, int] = {}
    before = server.counters()
    yield spent
    after = server.counters()

    def grown(name: str) -> int:
        return int(after[name] - before[name])

    spent["cached"] = grown("prompt_tokens_cached_total")
    spent["prompt"] = grown("prompt_tokens_total") + spent["cached"]
    spent["completion"] = grown("tokens_predicted_total")


def tokens(usage: Any) -> dict[str, int]:
    """prompt, cached and completion tokens of a Usage, an agent record or a dict of either."""
    get = usage.get if isinstance(usage, dict) else lambda name: getattr(usage, name)
    return {"prompt": get("prompt_tokens"), "cached": get("cached_tokens"), "completion": get("completion_tokens")}


def launch_rubric(path: Path) -> Path:
    """A one-criterion rubric for the demo task: one quality call per judged report."""
    dimension = Dimension(
        id="launch",
        name="Launch",
        kind="specific",
        definition="How well the note reports Webb's launch",
        weight=1.0,
        criteria=[Criterion(id="launch.1", text="States the launch date and rocket, with a citation", weight=1.0)],
    )
    rubric = Rubric(
        task_id="jwst-briefing-note",
        dimensions=[dimension],
        judge=JudgeInfo(model="hand-written"),
        prompt_version="hand-written",
        build_key="hand-written",
    )
    rubric.hash = rubric.content_hash()
    path.write_text(rubric.model_dump_json(indent=2))
    return path


# ------------------------------------------------------------------------------------------ the judge's client


class Verdict(BaseModel):
    verdict: Literal["supported", "refuted", "unclear"]


def test_a_structured_call_keeps_json_schema_and_counts_what_the_server_counted(llama, tmp_path):
    settings = Settings(
        base_url=llama.base_url, model=llama.alias, home=tmp_path, cache=False, max_tokens=64, invalid_retries=0
    )
    messages = [
        {"role": "system", "content": "You check one claim against one piece of evidence."},
        {"role": "user", "content": "Claim: Webb launched in 2021.\nEvidence: Webb launched on 25 December 2021."},
    ]

    async def ask_twice():
        llm = open_llm(settings)
        try:
            await llm.check()
            answers = [await llm.structured(messages, Verdict, sample=sample) for sample in (0, 1)]
            return answers, llm.mode
        finally:
            await llm.close()

    with counted(llama) as spent:
        (first, second), mode = asyncio.run(ask_twice())
    assert mode == "json_schema"  # auto kept it: llama.cpp enforces the schema (as a grammar) instead of refusing it
    for answer in (first, second):
        assert not answer.cached and answer.usage.calls == 1
        assert answer.usage.failed_calls == answer.usage.retries == answer.usage.repairs == 0
        assert 0 < answer.usage.completion_tokens < 64  # it stopped by itself: a finish reason of "stop"
    assert first.usage.prompt_tokens == second.usage.prompt_tokens > 0
    # the same prompt again: all of it but the last token comes from the server's prefix cache, and is reported
    assert second.usage.cached_tokens >= second.usage.prompt_tokens - 1
    both = tokens(first.usage.model_copy().add(second.usage))
    assert both == spent


# ------------------------------------------------------------------------------------------------ the judge's commands


def test_rubric_cut_off_at_the_token_limit_fails_with_that_cause(llama, llama_env, tmp_path):
    with counted(llama) as spent:
        result = invoke("rubric", DEMO / "task.json")
    # the dimension plan's smallest valid JSON is longer than the limit: cut off, the first and only call
    assert result.exit_code == 1, result.output + result.stderr
    assert f"failed: model output invalid after 1 attempts: the answer was cut off at {MAX_TOKENS} tokens" in (
        " ".join(result.output.split())
    )
    assert spent["completion"] == MAX_TOKENS and spent["prompt"] > 0
    assert not (tmp_path / "dreval-out" / "rubrics" / "jwst-briefing-note.json").exists()  # no rubric made up


def check_true_to_what_happened(card: Scorecard) -> None:
    """A status that matches the parts: complete only with every half done, and every failure with its cause."""
    parts = [p for p in (card.quality, card.factcheck) if p is not None]
    assert parts and card.status in ("complete", "partial", "failed")
    if card.status == "complete":
        assert all(p.status == "complete" for p in parts) and not card.reasons
    else:
        assert card.reasons and all(reason.strip() for reason in card.reasons)
    if card.quality is not None:
        for score in card.quality.dimension_scores.values():
            assert (score.score is None) == (score.status == "failed")
            assert score.status != "failed" or score.reason  # a failed dimension says why
        assert (card.quality.total is None) == (card.quality.weight_judged == 0)
    if card.factcheck is not None and card.factcheck.status == "failed":
        assert card.status != "complete"


def test_score_quality_and_factcheck(llama, llama_env, tmp_path):
    assert invoke("corpus", "add", SAMPLES / "corpus").exit_code == 0  # the cited pages, served from the store
    rubric = launch_rubric(tmp_path / "rubric.json")
    with counted(llama) as spent:
        result = invoke(
            "score", DEMO / "report.md", "--task", DEMO / "task.json", "--rubric", rubric,
            "--max-claims", 2, "--rounds", 1, "--evidence-per-claim", 2,
        )  # fmt: skip
    out = tmp_path / "dreval-out"
    card = Scorecard.model_validate_json((out / "results" / "default" / "jwst-briefing-note.json").read_text())
    assert result.exit_code == (0 if card.status == "complete" else 1), result.output + result.stderr
    check_true_to_what_happened(card)
    assert card.quality is not None and card.factcheck is not None  # both halves ran
    assert card.usage.calls >= 2 and tokens(card.usage) == spent  # a quality call and a claim extraction, at least
    manifest = RunManifest.model_validate_json((out / "run.json").read_text())
    assert manifest.statuses == {card.status: 1} and tokens(manifest.usage) == spent
    assert manifest.structured_output_used == "json_schema"  # what auto settled on, recorded for the audit


def test_factcheck_command(llama, llama_env, tmp_path):
    assert invoke("corpus", "add", SAMPLES / "corpus").exit_code == 0
    with counted(llama) as spent:
        result = invoke("factcheck", DEMO / "report.md", "--max-claims", 2, "--rounds", 1, "--evidence-per-claim", 2)
    [found] = (tmp_path / "dreval-out" / "results").rglob("*.json")
    card = Scorecard.model_validate_json(found.read_text())
    assert result.exit_code == (0 if card.status == "complete" else 1), result.output + result.stderr
    check_true_to_what_happened(card)
    assert card.quality is None and card.factcheck is not None
    assert card.usage.calls >= 1 and tokens(card.usage) == spent
    checked = card.factcheck.verdicts
    assert card.factcheck.status != "complete" or checked  # complete means claims were checked


def long_text(words: int) -> str:
    """Varied prose of about ``words`` words: more tokens than one slot of the test server holds (4,096)."""
    sentences = [
        f"In {1990 + i % 35} the review board of observatory {i} reported a cost of {100 + 7 * i} million, "
        f"{i % 9 + 2} instruments and a launch window in month {i % 12 + 1} [1]."
        for i in range(words // 26 + 1)
    ]
    return "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))


def test_a_report_over_the_servers_context_fails_with_llamas_reason(llama, llama_env, tmp_path):
    report = tmp_path / "reports" / "jwst-briefing-note.md"
    report.parent.mkdir()
    report.write_text("# Observatory costs\n\n" + long_text(5000) + "\n\n## References\n[1] https://a.example/\n")
    rubric = launch_rubric(tmp_path / "rubric.json")
    with counted(llama) as spent:
        result = invoke("score", report, "--task", DEMO / "task.json", "--rubric", rubric, "--no-factcheck")
    assert result.exit_code == 1, result.output + result.stderr
    card = Scorecard.model_validate_json(next((tmp_path / "dreval-out" / "results").rglob("*.json")).read_text())
    assert card.status == "failed" and card.quality is not None
    reason = card.quality.dimension_scores["launch"].reason
    assert "HTTP 400" in reason and "exceeds the available context size (4096 tokens)" in reason  # llama.cpp's body
    assert spent == {"prompt": 0, "cached": 0, "completion": 0}  # refused before any work
    assert card.usage.calls == 0 and card.usage.failed_calls == 1 and card.usage.retries == 0  # not retried


def test_stress_with_one_probe(llama, llama_env, tmp_path):
    rubric = launch_rubric(tmp_path / "rubric.json")
    with counted(llama) as spent:
        result = invoke(
            "stress", DEMO / "report.md", "--task", DEMO / "task.json", "--rubric", rubric,
            "--probes", "pad", "--variants", 1,
        )  # fmt: skip
    out = tmp_path / "dreval-out"
    run = StressRun.model_validate_json(next((out / "stress").glob("*/run.json")).read_text())
    card = JudgeCard.model_validate_json(next((out / "judge-cards").glob("*.json")).read_text())
    assert tokens(run.usage) == spent and run.usage.calls == 2  # the original and its one padded variant
    [pad] = card.probes
    report = run.reports[0]
    judged = [j for j in (report.original, *report.variants) if j is not None and j.total is not None]
    assert all(j.reasons for j in (report.original, *report.variants) if j is not None and j.total is None)
    if len(judged) == 2:  # both judged: the shift is measured
        assert pad.reports == 1 and pad.shift is not None
    else:  # not measured, and said so: no pass, no "nothing flagged"
        assert pad.reports == 0 and pad.shift is None and pad.finding.startswith("not measured")
        assert result.exit_code == 1 and not card.flagged
        assert "Nothing was measured" in next((out / "judge-cards").glob("*.html")).read_text()
    assert result.exit_code in (0, 1), result.output + result.stderr


# ----------------------------------------------------------------------------------------------------- the agent


AGENT_TASK = {"id": "webb-launch", "prompt": "When and how was the James Webb Space Telescope launched?"}


def agent_run(llama: LlamaServer, tmp_path: Path, protocol: str, task: dict[str, str], *options: object):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(task) + "\n")
    out = tmp_path / "reports" / protocol
    result = invoke(
        "run-agent", "--tasks", tasks, "--out", out, "--base-url", llama.base_url, "--model", llama.alias,
        "--protocol", protocol, "--search", "searxng", "--allow-private-urls", *options,
    )  # fmt: skip
    events = [json.loads(line) for line in (out / f"{task['id']}.trace.jsonl").read_text().splitlines()]
    sidecar = json.loads((out / f"{task['id']}.meta.json").read_text())
    return result, out, events, sidecar


@pytest.fixture
def searxng(corpus_web, monkeypatch):
    _, search = corpus_web
    monkeypatch.setenv("DREVAL_SEARXNG_URL", search.url("searxng"))


@pytest.mark.parametrize("protocol", ["openai-tools", "mirothinker"])
def test_run_agent(llama, llama_env, searxng, tmp_path, protocol):
    with counted(llama) as spent:
        result, out, events, sidecar = agent_run(
            llama, tmp_path, protocol, AGENT_TASK, "--max-turns", 1, "--max-tokens", MAX_TOKENS
        )
    end = events[-1]
    assert end["event"] == "end" and end["status"] in ("report", "failed")
    assert result.exit_code == (0 if end["status"] == "report" else 1), result.output + result.stderr
    assert sidecar["status"] == ("imported" if end["status"] == "report" else "failed")
    assert end["status"] == "report" or (end["failure"] and sidecar["failure"])  # a failed task says why
    replies = [e for e in events if e["event"] == "reply"]
    assert replies and {r["finish_reason"] for r in replies} <= FINISH_REASONS
    assert all(r["usage_reported"] and r["completion_tokens"] <= MAX_TOKENS for r in replies)
    # the sidecar's totals are the sum of the calls in the trace, and what the server counted
    summed = {k: sum(r[f"{k}_tokens"] for r in replies) for k in ("prompt", "cached", "completion")}
    assert tokens(sidecar["agent"]) == summed == spent
    assert sidecar["agent"]["report_truncated"] == (replies[-1]["finish_reason"] == "length")


def test_run_agent_over_the_servers_context_ends_with_llamas_reason(llama, llama_env, searxng, tmp_path):
    """dreval's context budget (131,072 by default) is more than llama.cpp's slot holds: the server refuses, and
    the run says so instead of failing as an unknown endpoint error."""
    task = {"id": "observatory-costs", "prompt": "Explain each of these findings:\n\n" + long_text(5000)}
    with counted(llama) as spent:
        result, out, events, sidecar = agent_run(llama, tmp_path, "openai-tools", task, "--max-turns", 2)
    assert result.exit_code == 1, result.output + result.stderr
    [limit] = [e for e in events if e["event"] == "limit"]
    assert limit["reason"] == "context_cap" and "exceeds the available context size (4096 tokens)" in limit["server"]
    assert events[-1]["status"] == "failed" and "does not fit the model's context" in events[-1]["failure"]
    assert sidecar["status"] == "failed" and "does not fit the model's context" in sidecar["failure"]
    assert spent == {"prompt": 0, "cached": 0, "completion": 0}


# ------------------------------------------------------------------------------------------------ task generation


PERSONA = """domain: Science & Technology
personas:
  - id: observatory-budget-analyst
    name: Ines Kowalczyk
    role: Budget analyst
    affiliation: A national research council
    subdomain: Costs and schedules of large telescopes
    background: >
      Ines reviews the budgets of large observatories for a national research council. She compares what each
      telescope was expected to cost when it was approved with what it cost at first light, and which review
      boards warned of the growth. She reads audit reports, agency budget requests and mission status reports.
"""


def test_generate_one_task(llama, llama_env, tmp_path):
    personas = tmp_path / "persona.yaml"
    personas.write_text(PERSONA)
    with counted(llama) as spent:
        result = invoke(
            "generate-tasks", "--n", 1, "--personas", personas, "--candidates", 1, "--no-searchability",
            "--dedup-method", "lexical", "--out", tmp_path / "tasks.jsonl",
        )  # fmt: skip
    summary = json.loads((tmp_path / "tasks.summary.json").read_text())
    kept = [line for line in (tmp_path / "tasks.jsonl").read_text().splitlines() if line.strip()]
    assert summary["counts"]["kept"] == len(kept)
    assert result.exit_code == (0 if kept else 1), result.output + result.stderr
    assert kept or summary["failures"] or summary["counts"]["rejected"]  # no task, and the reason recorded
    assert all(f["reason"] for f in summary["failures"])
    total = summary["usage"]["total"]
    assert total["calls"] >= 1 and tokens(total) == spent
