"""Where outputs are filed: distinct judges never share a judge card, whatever dots their model names hold."""

from __future__ import annotations

from pathlib import Path

from drevalkit.layout import card_paths, judge_key
from drevalkit.schemas import JudgeInfo

MODELS = ["Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Llama-3.1-8B", "meta/Llama-3.1-8B"]


def test_judges_with_dotted_model_names_get_distinct_card_files(tmp_path: Path):
    judges = [JudgeInfo(model=model, identity="http://judge/v1") for model in MODELS]
    paths = [card_paths(tmp_path, judge) for judge in judges]
    json_paths = [p[0] for p in paths]
    assert len(set(json_paths)) == len(judges)  # was: Qwen2.json twice, Llama-3.json twice
    for judge, (json_path, html_path) in zip(judges, paths):
        key = judge_key(judge)
        assert json_path.name == f"{key}.json" and html_path.name == f"{key}.html"
        assert json_path.parent == html_path.parent == tmp_path / "judge-cards"
    assert json_paths[0].name.startswith("Qwen2.5-72B-Instruct-") and json_paths[2].name.startswith("Llama-3.1-8B-")
