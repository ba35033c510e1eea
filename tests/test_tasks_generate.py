"""``dreval generate-tasks`` end to end against the local OpenAI-compatible server, with a scripted stand-in LLM
(``drevalkit.testing.task_llm.TaskScript``) whose confidences and qualities spread over the whole scale.

A generation run killed or interrupted half-way continues where it stopped: no finished call is repeated (call
counts prove it, with the LLM cache off), and no partial output file is ever left to be mistaken for a finished one."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.ingest.task_files import load_tasks
from drevalkit.schemas import Persona, Task
from drevalkit.store import STORE_SCHEMA_VERSION, Store
from drevalkit.tasks.dedup import LexicalSimilarity, deduplicate, embeddings_available, make_similarity
from drevalkit.tasks.drafts import candidate_id
from drevalkit.tasks.filters import histogram, necessity_verdict, qualification_verdict
from drevalkit.tasks.journal import run_id
from drevalkit.tasks.outputs import TaskOutputs
from drevalkit.testing.openai_server import FakeOpenAIServer
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.task_llm import TaskScript

FAST = ("--dedup-method", "lexical")  # torch takes a while to load; the embedding path has its own test


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def outputs(path: Path) -> tuple[list[Task], list[dict], dict]:
    out = TaskOutputs(path)
    return (
        [Task.model_validate(t) for t in read_jsonl(path)],
        read_jsonl(out.rejected),
        json.loads(out.summary.read_text()),
    )


def check_accounting(tasks: list[Task], rejected: list[dict], summary: dict) -> None:
    """Every candidate is either a task or a rejected record, once; every stage's count adds up."""
    candidates = [r["candidate_id"] for r in rejected if r["candidate_id"]] + [
        t.provenance["candidate_id"] for t in tasks
    ]
    assert len(candidates) == len(set(candidates)) == summary["counts"]["candidates"]
    assert summary["counts"]["kept"] == len(tasks)
    stages = {row["stage"]: row for row in summary["stages"]}
    by_stage = Counter(r["stage"] for r in rejected if r["candidate_id"])
    for name, row in stages.items():
        if not row.get("skipped"):
            assert row["rejected"] + row["failed"] == by_stage.get(name, 0), name
    assert all(r["reason"] for r in rejected)


@pytest.fixture
def scripted(judge_env, judge_server):
    judge_server.responder = TaskScript()
    return judge_server


def test_generate_twenty_tasks_with_both_verdicts_then_rubrics(scripted, tmp_path):
    """The issue's "done when": 20 unique tasks across domains, both verdicts on each, a rejected file for every
    other candidate, a summary with histograms; the output feeds `dreval rubric` directly."""
    result = invoke("generate-tasks", "--n", 20, "--out", "tasks.jsonl", *FAST)
    assert result.exit_code == 0, result.output
    tasks, rejected, summary = outputs(tmp_path / "tasks.jsonl")
    assert len(tasks) == 20 and len({t.id for t in tasks}) == 20
    assert len({t.domain for t in tasks}) >= 7
    assert load_tasks(tmp_path / "tasks.jsonl") == tasks  # what score / rubric / run-agent read
    check_accounting(tasks, rejected, summary)
    for task in tasks:
        p = task.provenance
        q, n = p["qualification"], p["necessity"]
        assert q["passed"] and q["requires_deep_research"] and q["confidence"] >= 0.7 and q["reasoning"]
        assert n["passed"] and n["search_necessary"] and n["quality"] <= 0.7 and n["reasoning"]
        assert {"accuracy", "completeness", "depth", "timeliness"} <= set(n)
        assert task.id == p["candidate_id"] and task.id.startswith("task-")
        assert p["models"]["generator"]["model"] == "test-judge" and p["models"]["judge"]["model"] == "test-judge"
        assert p["generated_at"] and p["prompt_version"].startswith("tasks@") and p["persona_source"]
        baseline = tmp_path / p["baseline_answer"]
        assert baseline.read_text().startswith("## Answer from memory")
        assert task.persona is not None and task.deliverables and 10 <= len(task.prompt.split()) <= 60
        assert (p["revalidate_after"] is not None) == p["time_sensitive"]
    assert sum(bool(t.time_constraint) for t in tasks) > len(tasks) / 2
    # the rejected candidates of each filter carry the verdict that dropped them
    for record in rejected:
        if record["stage"] == "qualification":
            q = record["qualification"]
            assert not q["requires_deep_research"] or q["confidence"] < 0.7
        if record["stage"] == "necessity":
            n = record["necessity"]
            assert n["quality"] > 0.7 or not n["search_necessary"]
            assert (tmp_path / record["baseline_answer"]).exists()
    stages = Counter(r["stage"] for r in rejected)
    assert stages["qualification"] and stages["necessity"] and stages["format"] and stages["duplicate"]
    for record in (r for r in rejected if r["stage"] == "duplicate"):
        assert record["similar_to"]["similarity"] >= 0.5
    for name in ("qualification", "necessity"):
        hist = summary["histograms"][name]
        assert sum(hist["counts"]) == hist["n"] > 0 and hist["dominant_value"] is None
        assert sum(1 for c in hist["counts"] if c) >= 4  # spread out, not one value
    assert len(summary["domains"]) == 10 and all(d["candidates"] for d in summary["domains"])
    assert summary["status"] == "complete" and summary["usage"]["total"]["calls"] == scripted.completions
    assert "qualification confidence" in result.output and "dreval generate-tasks: stages" in result.output

    calls = scripted.completions
    rubric = invoke("rubric", "tasks.jsonl")
    assert rubric.exit_code == 0, rubric.output
    assert len(list((tmp_path / "dreval-out" / "rubrics").glob("*.json"))) == 20
    assert scripted.completions > calls

    calls = scripted.completions
    again = invoke("generate-tasks", "--n", 20, "--out", "tasks.jsonl", *FAST)
    assert again.exit_code == 0 and scripted.completions == calls  # a finished run makes no call
    assert outputs(tmp_path / "tasks.jsonl")[0] == tasks


def test_thresholds_apply_to_recorded_judgements(scripted, tmp_path):
    args = ("generate-tasks", "--domain", "Health", "--domain", "Politics", *FAST)
    assert invoke(*args, "--out", "a.jsonl").exit_code in (0, 1)
    loose, _, _ = outputs(tmp_path / "a.jsonl")
    calls = scripted.completions
    strict_run = invoke(*args, "--out", "a.jsonl", "--qualification-threshold", 0.85, "--necessity-threshold", 0.5)
    assert strict_run.exit_code in (0, 1)
    strict, rejected, summary = outputs(tmp_path / "a.jsonl")
    assert scripted.completions == calls  # judged once; thresholds are applied to the recorded judgements
    assert 0 < len(strict) < len(loose)
    assert all(t.provenance["qualification"]["confidence"] >= 0.85 for t in strict)
    assert all(t.provenance["necessity"]["quality"] <= 0.5 for t in strict)
    assert any("below the threshold 0.85" in r["reason"] for r in rejected)
    assert any("quality" in r["reason"] and "> 0.5" in r["reason"] for r in rejected)
    check_accounting(strict, rejected, summary)


def test_a_filter_that_cannot_discriminate_is_reported(judge_env, judge_server, tmp_path):
    judge_server.responder = TaskScript(constant_quality=0.3)  # like a judge copying the example of its prompt
    result = invoke("generate-tasks", "--domain", "Health", "--domain", "History", "--out", "t.jsonl", *FAST)
    assert result.exit_code == 1
    _, _, summary = outputs(tmp_path / "t.jsonl")
    hist = summary["histograms"]["necessity"]
    assert hist["dominant_value"] == 0.3 and hist["dominant_count"] == hist["n"]
    assert any("necessity filter" in w and "cannot discriminate" in w for w in summary["warnings"])
    assert summary["histograms"]["qualification"]["dominant_value"] is None


def test_histogram_and_verdicts():
    assert histogram([0.05, 0.15, 0.95, 1.0]).counts == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert histogram([0.3, 0.3, 0.3, 0.5]).dominant == 0.3
    assert histogram([0.3, 0.3, 0.5, 0.5]).dominant is None  # half is not more than half
    assert histogram([0.3, 0.3]).dominant is None  # too few to tell
    q = {"requires_deep_research": True, "confidence": 0.7}
    assert qualification_verdict(q, 0.7)["passed"] and not qualification_verdict(q, 0.71)["passed"]
    assert not qualification_verdict({**q, "requires_deep_research": False, "confidence": 0.99}, 0.7)["passed"]
    judged = {"accuracy": 7, "completeness": 7, "depth": 7, "timeliness": 7, "search_necessary": True}
    assert necessity_verdict(judged, 0.7)["passed"] and necessity_verdict(judged, 0.7)["quality"] == 0.7
    assert not necessity_verdict({**judged, "depth": 8}, 0.7)["passed"]
    assert not necessity_verdict({**judged, "search_necessary": False}, 0.7)["passed"]


def test_against_an_existing_set_and_id_prefix(scripted, tmp_path):
    base = ("generate-tasks", "--domain", "Health", "--domain", "Industrial", *FAST)
    assert invoke(*base, "--out", "first.jsonl").exit_code in (0, 1)
    first, _, _ = outputs(tmp_path / "first.jsonl")
    assert first
    published = tmp_path / "published.jsonl"  # a "benchmark" holding two of them, one reworded
    published.write_text(
        json.dumps({"id": "bench-1", "prompt": first[0].prompt})
        + "\n"
        + json.dumps({"id": "bench-2", "prompt": first[1].prompt.replace(", and", "; and")})
        + "\n"
    )
    result = invoke(*base, "--out", "second.jsonl", "--against", published, "--id-prefix", "fresh-")
    assert result.exit_code in (0, 1)
    second, rejected, summary = outputs(tmp_path / "second.jsonl")
    novelty = {r["candidate_id"]: r for r in rejected if r["stage"] == "novelty"}
    assert {first[0].id, first[1].id} <= set(novelty)
    assert {novelty[first[0].id]["similar_to"]["id"], novelty[first[1].id]["similar_to"]["id"]} == {
        "bench-1",
        "bench-2",
    }
    assert novelty[first[0].id]["similar_to"]["similarity"] > 0.99
    assert [t.id for t in second] == [f"fresh-{i:03d}" for i in range(1, len(second) + 1)]
    assert {t.prompt for t in second}.isdisjoint({first[0].prompt, first[1].prompt})
    check_accounting(second, rejected, summary)
    missing = invoke(*base, "--out", "third.jsonl", "--against", tmp_path / "nope.jsonl")
    assert missing.exit_code == 2


def test_dedup_is_deterministic_and_reports_the_nearest():
    items = [
        ("a", "Compare bus network redesigns in Canada and Australia between 2019 and 2023 with ridership data."),
        ("b", "Between 2019 and 2023, compare the bus network redesigns of Canada and Australia using ridership data."),
        ("c", "Assess steel decarbonisation projects using hydrogen direct reduction announced since 2020."),
    ]
    dropped, nearest = deduplicate(
        items,
        accepted=[],
        against=[
            ("x", "Hydrogen steel plants announced since 2020: assess decarbonisation projects with direct reduction.")
        ],
        similarity=LexicalSimilarity(),
        threshold=0.5,
    )
    assert dropped["b"].kind == "duplicate" and dropped["b"].other == "a"
    assert dropped["c"].kind == "novelty" and dropped["c"].other == "x"
    assert "a" not in dropped and nearest["a"][0] in ("x", "b") or "a" not in nearest
    again, _ = deduplicate(items, accepted=[], against=[], similarity=LexicalSimilarity(), threshold=0.5)
    assert set(again) == {"b"}


@pytest.mark.skipif(not embeddings_available(), reason='needs pip install ".[embeddings]"')
def test_embedding_dedup_catches_paraphrases_lexical_misses():
    a = "How did European cities fund protected bike lanes from 2018 to 2024, and what happened to cyclist injuries?"
    b = "Between 2018 and 2024, what money paid for segregated cycle tracks in Europe's cities, and did crashes fall?"
    c = "Rank the five largest lithium refining projects outside China by capacity and construction status."
    embedding = make_similarity("embedding")
    assert embedding.name == "embedding"
    matrix = embedding.matrix([a], [b, c])
    assert matrix[0][0] > matrix[0][1] + 0.2
    assert LexicalSimilarity().matrix([a], [b])[0][0] < matrix[0][0]


def test_ids_are_content_hashes_unique_across_personas():
    one, two = Persona(id="p1", name="A"), Persona(id="p2", name="B")
    text = "Compare rail freight subsidies in Europe between 2020 and 2024."
    assert candidate_id(one, text) == candidate_id(one, "  " + text.replace(" ", "  "))  # stable
    assert candidate_id(one, text) != candidate_id(two, text)  # never repeated across personas


def test_generation_failures_are_recorded(judge_env, judge_server, tmp_path):
    judge_server.responder = TaskScript(fail_personas=("Adaeze",))
    result = invoke("generate-tasks", "--domain", "Health", "--out", "t.jsonl", *FAST)
    assert result.exit_code == 1
    tasks, rejected, summary = outputs(tmp_path / "t.jsonl")
    (failure,) = [r for r in rejected if r["stage"] == "generation"]
    assert failure["failed"] and failure["persona_id"] == "health-clinical-pharmacologist"
    assert "schema" in failure["reason"]
    assert summary["counts"]["failed"] == 1 and summary["failures"][0]["persona_id"] == failure["persona_id"]
    assert summary["status"] == ("partial" if tasks else "failed")  # never "complete" with a failed step
    assert any("failed" in w for w in summary["warnings"])
    with Store(Path(judge_env["DREVAL_HOME"]) / "store.sqlite3") as store:  # failures are not final: not journaled
        stages = Counter(stage for stage, _ in store.journal_entries(run_id("generate", tmp_path / "t.jsonl")))
    assert stages["generation"] == 4  # five Health personas, one failed
    judge_server.responder = TaskScript()
    calls = judge_server.completions
    retried = invoke("generate-tasks", "--domain", "Health", "--out", "t.jsonl", *FAST)
    assert retried.exit_code == 0
    assert judge_server.completions - calls >= 1 and outputs(tmp_path / "t.jsonl")[2]["counts"]["failed"] == 0


def test_dry_run_spends_nothing(scripted, tmp_path):
    result = invoke("generate-tasks", "--n", 20, "--out", "t.jsonl", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "generation" in result.output and "prompt tokens" in result.output and "total" in result.output
    assert scripted.completions == 0 and not (tmp_path / "t.jsonl").exists()


def test_synthesized_personas_and_language(scripted, tmp_path):
    result = invoke(
        "generate-tasks",
        "--domain",
        "History",
        "--synthesize-personas",
        2,
        "--language",
        "zh",
        "--out",
        "zh.jsonl",
        *FAST,
    )
    assert result.exit_code in (0, 1), result.output
    tasks, rejected, summary = outputs(tmp_path / "zh.jsonl")
    made = summary["counts"]["personas_synthesized"]
    dropped = [w for w in summary["warnings"] if "synthesized persona" in w and "dropped" in w]
    assert made >= 1 and made + len(dropped) == 2  # the script's two backgrounds are near-twins: one is dropped
    synthesized = (tmp_path / "zh.personas.yaml").read_text()
    assert synthesized.count("domain: History") == made
    sources = Counter(t.provenance["persona_source"] for t in tasks)
    assert all(t.language == "zh" for t in tasks) and tasks
    assert any("年" in t.prompt for t in tasks)
    prompts = [r["messages"][-1]["content"] for r in scripted.requests]
    assert any("written in Chinese (Simplified)" in p for p in prompts)
    assert summary["domains"][0]["personas_available"] == 5 + made
    assert sources  # library and synthesized personas both write tasks
    assert any(r["persona_id"].startswith("synth-") for r in rejected) or "synthesized" in sources


def test_prompts_carry_no_example_values_and_fence_untrusted_text(scripted, tmp_path):
    assert invoke("generate-tasks", "--domain", "Politics", "--out", "t.jsonl", *FAST).exit_code in (0, 1)
    for request in scripted.requests:
        prompt = "\n".join(m["content"] for m in request["messages"])
        assert "<<<PERSONA" in prompt or "<<<TASK" in prompt
        assert not any(f'"{key}": 0.' in prompt for key in ("confidence", "quality", "accuracy"))
        assert request["response_format"]["type"] == "json_schema"


def test_searchability_with_a_web_search_backend(scripted, judge_env, tmp_path, monkeypatch):
    corpus = []
    for site in ("who.example", "ecdc.example", "nejm.example", "news.example"):
        for topic in (
            "vaccination respiratory virus surveillance",
            "new medicines formulary drug safety",
            "rural health access telehealth",
            "infant health vaccination schedules parental leave",
            "dementia care treatments caregiver support",
        ):
            corpus.append(
                {
                    "url": f"https://{site}/{topic.split()[0]}",
                    "title": topic.title(),
                    "text": f"{topic} statistics evaluation report",
                }
            )
    with FakeSearchServer(corpus=corpus) as search:
        monkeypatch.setenv("DREVAL_SERPER_URL", search.url("serper"))
        monkeypatch.setenv("SERPER_API_KEY", "serper-test-key")
        result = invoke(
            "generate-tasks",
            "--domain",
            "Health",
            "--domain",
            "History",
            "--search",
            "serper",
            "--out",
            "t.jsonl",
            *FAST,
        )
        assert result.exit_code in (0, 1), result.output
        assert search.requests  # on by default with a web search backend
    tasks, rejected, summary = outputs(tmp_path / "t.jsonl")
    stage = {row["stage"]: row for row in summary["stages"]}["searchability"]
    assert not stage.get("skipped") and stage["entered"] > 0
    assert tasks and all(t.provenance["searchability"]["passed"] for t in tasks)
    assert all(
        t.provenance["searchability"]["results"] >= 3 and t.provenance["searchability"]["site_count"] >= 2
        for t in tasks
    )
    assert all(t.domain == "Health" for t in tasks)  # the corpus knows nothing about History
    assert any(r["stage"] == "searchability" and "only" in r["reason"] for r in rejected)
    assert all("single_page_flag" in t.provenance["searchability"] for t in tasks)
    check_accounting(tasks, rejected, summary)

    off = invoke(
        "generate-tasks", "--domain", "Health", "--search", "serper", "--no-searchability", "--out", "off.jsonl", *FAST
    )
    assert off.exit_code in (0, 1)
    assert {row["stage"]: row for row in outputs(tmp_path / "off.jsonl")[2]["stages"]}["searchability"]["skipped"]


def test_revalidate_reports_stale_tasks(scripted, tmp_path):
    assert invoke(
        "generate-tasks", "--domain", "Health", "--out", "t.jsonl", "--as-of", "2025-01-15", *FAST
    ).exit_code in (0, 1)
    tasks, _, _ = outputs(tmp_path / "t.jsonl")
    assert tasks and all(t.provenance["generated_at"] == "2025-01-15" for t in tasks)
    result = invoke(
        "generate-tasks", "--revalidate", "t.jsonl", "--as-of", "2026-03-01", "--qualification-threshold", 0.9
    )
    assert result.exit_code in (0, 1)
    report = json.loads((tmp_path / "t.revalidation.json").read_text())
    assert report["as_of"] == "2026-03-01" and report["counts"]["tasks"] == len(tasks)
    records = {r["id"]: r for r in report["tasks"]}
    for task in tasks:
        record = records[task.id]
        assert record["status"] in ("fresh", "stale")
        assert record["due"] == bool(task.provenance["revalidate_after"])  # 180 days passed for time-sensitive ones
        if record["qualification"]["confidence"] < 0.9:
            assert record["status"] == "stale" and any("qualification" in r for r in record["reasons"])
    assert any(r["status"] == "stale" for r in records.values())
    assert "stale" in result.output


# ------------------------------------------------------------------------ a run killed or interrupted resumes


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
    # the server finishes answering what was in flight at the kill (its count moves after the answer is made): wait
    # for that, or a late answer would be counted as one of the resumed run's calls
    deadline = time.monotonic() + 10
    while slow_server.completions < len(slow_server.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
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
    assert summary["status"] == ("complete" if result.exit_code == 0 else "partial") and outputs.rejected.exists()

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
