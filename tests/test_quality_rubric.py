"""Rubrics: built by the judge once, frozen and reused, a mismatch or tampering refused; hand-written rubrics' weights
normalised so totals stay within 0-10, bad weights refused naming the dimension."""

import asyncio
import json

import pytest

from drevalkit.llm import open_llm
from drevalkit.quality.rubric import RubricBook, RubricError, build_key, read_rubric
from drevalkit.store import Store


def _build(settings, task, rebuild=False):
    async def go():
        with Store(settings.store_path) as store:
            client = open_llm(settings, store)
            try:
                return await RubricBook(settings.layout, client, rebuild=rebuild).get(task)
            finally:
                await client.close()

    return asyncio.run(go())


def test_rubric_is_built_frozen_and_reused(judge_server, make_settings, sample_task):
    settings = make_settings(judge_server)
    rubric, usage = _build(settings, sample_task)
    ids = [d.id for d in rubric.dimensions]
    assert ids[:4] == ["coverage", "insight", "instruction_following", "clarity"]
    assert 5 <= len(ids) <= 7 and len(set(ids)) == len(ids)
    assert sum(d.weight for d in rubric.dimensions) == pytest.approx(1.0)
    for dim in rubric.dimensions:
        assert 2 <= len(dim.criteria) <= 8
        assert sum(c.weight for c in dim.criteria) == pytest.approx(1.0)
        assert all(c.id.startswith(dim.id + ".") for c in dim.criteria)
    assert usage.calls == 1 + len(ids)
    path = settings.layout.rubric(sample_task.id)
    assert read_rubric(path) == rubric
    calls = judge_server.completions
    again, usage = _build(settings.model_copy(update={"cache": False}), sample_task)
    assert again == rubric and usage.calls == 0 and judge_server.completions == calls


def test_frozen_rubric_mismatch_and_tampering(judge_server, make_settings, sample_task):
    settings = make_settings(judge_server)
    _build(settings, sample_task)
    changed = sample_task.model_copy(update={"prompt": sample_task.prompt + " Also cover Euclid."})
    with pytest.raises(RubricError, match="--rebuild-rubrics"):
        _build(settings, changed)
    rebuilt, _ = _build(settings, changed, rebuild=True)
    assert rebuilt.build_key == build_key(changed, settings.model)
    path = settings.layout.rubric(sample_task.id)
    frozen = read_rubric(path)
    data = json.loads(path.read_text())
    data["dimensions"][0]["weight"] = 0.99
    path.write_text(json.dumps(data))
    edited = read_rubric(path)  # an edit is used as it now is, under a new hash (so results are scored again)
    assert edited.hash != frozen.hash
    assert sum(d.weight for d in edited.dimensions) == pytest.approx(1.0)


def _hand_written(weights: list, criterion_weights: list | None = None) -> dict:
    return {
        "task_id": "t",
        "dimensions": [
            {
                "id": f"d{i}",
                "name": f"D{i}",
                "kind": "general",
                "definition": "x",
                "weight": w,
                "criteria": [
                    {"id": f"d{i}.{j}", "text": "c", "weight": cw}
                    for j, cw in enumerate(criterion_weights or [1, 3], start=1)
                ],
            }
            for i, w in enumerate(weights, start=1)
        ],
    }


def test_hand_written_rubric_weights_are_normalised_so_totals_stay_within_0_10(tmp_path):
    from drevalkit.quality.judge import CriterionJudgement, DimensionOutcome, aggregate

    path = tmp_path / "rubric.json"
    path.write_text(json.dumps(_hand_written([3, 7], [30, 70])))
    rubric = read_rubric(path)
    assert [d.weight for d in rubric.dimensions] == pytest.approx([0.3, 0.7])
    assert [c.weight for c in rubric.dimensions[1].criteria] == pytest.approx([0.3, 0.7])
    outcomes = [
        DimensionOutcome(d.id, 0, {c.id: CriterionJudgement(rationale="r", score=10) for c in d.criteria})
        for d in rubric.dimensions
    ]
    result = aggregate(rubric, outcomes, 1)
    assert result.total == pytest.approx(10.0) and result.status == "complete"


@pytest.mark.parametrize(
    "weights, criterion_weights, message",
    [
        ([3, -1], None, "dimension 'd2' has weight -1"),
        ([3, None], None, "dimension 'd2' has no weight"),
        ([0, 0], None, "every dimension weight is 0"),
        ([1, 1], [0, 0], "every criterion weight of dimension 'd1' is 0"),
        ([1, "x"], None, "dimension 'd2' has a non-numeric weight"),
        ([1, 1], [1, -2], "criterion 'd1.2' of dimension 'd1' has weight -2"),
    ],
)
def test_bad_rubric_weights_are_refused_naming_the_dimension(tmp_path, weights, criterion_weights, message):
    data = _hand_written(weights, criterion_weights)
    for dim in data["dimensions"]:
        if dim["weight"] is None:
            del dim["weight"]
    path = tmp_path / "rubric.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RubricError) as info:
        read_rubric(path)
    assert message in str(info.value)


def test_a_hostile_rubric_file_is_a_rubric_error(tmp_path):
    path = tmp_path / "rubric.json"
    path.write_text('{"dimensions": ' + "9" * 100_000 + "}")
    with pytest.raises(RubricError, match="rubric.json: unreadable JSON"):
        read_rubric(path)
