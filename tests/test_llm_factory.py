"""Which backend and endpoint a judge is: ``--judge`` specs parsed (MODEL, MODEL@URL, local) and a jury's settings, each
judge with its own key."""

from __future__ import annotations

import pytest

from drevalkit.llm.factory import JudgeSpecError, jury_settings, parse_judge


def test_parse_judge():
    assert parse_judge("Qwen/Qwen2.5-72B-Instruct@http://gpu:8000/v1") == (
        "Qwen/Qwen2.5-72B-Instruct",
        "http://gpu:8000/v1",
    )
    assert parse_judge("org/model@v2@https://h/v1") == ("org/model@v2", "https://h/v1")
    assert parse_judge("gpt-4.1-mini") == ("gpt-4.1-mini", None)
    assert parse_judge(" local ") == ("local", None)
    for bad, why in (("", "MODEL, MODEL@URL or local"), ("http://h/v1", "give the model too")):
        with pytest.raises(JudgeSpecError, match=why) as caught:
            parse_judge(bad)
        assert caught.value.spec == bad and str(caught.value).startswith(f"judge {bad!r}: ")


def test_openai_key_is_not_sent_to_another_judges_endpoint(monkeypatch):
    from drevalkit.config import load_settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    for key in ("DREVAL_API_KEY", "DREVAL_BASE_URL", "DREVAL_MODEL"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings(None, {"model": "gpt-4.1-mini"}, environ={"OPENAI_API_KEY": "sk-openai"})
    lead, other = jury_settings(settings, ["gpt-4.1-mini", "qwen@http://gpu:8000/v1"])
    assert lead.api_key.get_secret_value() == "sk-openai" and other.api_key is None
    assert other.base_url == "http://gpu:8000/v1" and other.model == "qwen" and other.backend == "openai"
