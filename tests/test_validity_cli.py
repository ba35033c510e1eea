"""dreval stress and dreval agree fail alike (one helper): an unreachable judge exits 3 and a misconfigured search
backend 2, each with its reason in one line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from drevalkit.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_an_unreachable_judge_exits_3_from_stress_and_agree(judge_env, monkeypatch):
    monkeypatch.setenv("DREVAL_BASE_URL", "http://127.0.0.1:9/v1")
    for args in (
        ["stress", DEMO / "report.md", "--task", DEMO / "task.json", "--probes", "pad"],
        ["agree", SAMPLES / "labels" / "claims.jsonl"],
    ):
        result = invoke(*args)
        assert result.exit_code == 3, result.output + result.stderr
        assert "cannot reach the judge endpoint" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_misconfigured_search_backend_is_bad_input(judge_env, monkeypatch):
    for key in ("SERPER_API_KEY", "DREVAL_SERPER_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    result = invoke("agree", SAMPLES / "labels" / "claims.jsonl", "--search", "serper")
    assert result.exit_code == 2, result.output + result.stderr
    assert "serper needs an API key" in result.stderr and len(result.stderr.strip().splitlines()) == 1
