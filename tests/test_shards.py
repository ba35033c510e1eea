"""The split of a task set into shards: stable under added tasks, even, the same on every machine, and a bad
``K/N`` refused with the form to use."""

from __future__ import annotations

import hashlib

import pytest

from drevalkit.layout import OutputLayout
from drevalkit.shards import MANIFEST_NAME, Shard, ShardError, shard_of


def test_every_task_is_in_exactly_one_shard_and_the_split_is_even():
    ids = [f"task-{i}" for i in range(4000)]
    shards = [Shard.parse(f"{k}/4") for k in range(1, 5)]
    picked = [shard.pick(ids, str) for shard in shards]
    assert sorted(i for part in picked for i in part) == sorted(ids)
    assert all(900 < len(part) < 1100 for part in picked)  # about a quarter each
    assert all(part == [i for i in ids if i in set(part)] for part in picked)  # in the given order


def test_adding_tasks_moves_none_between_shards():
    before = {f"q{i}": shard_of(f"q{i}", 8) for i in range(500)}
    grown = [f"q{i}" for i in range(2000)]
    assert {i: shard_of(i, 8) for i in grown if i in before} == before


def test_the_split_is_the_documented_hash():
    """sha256 of the UTF-8 id, its first 8 bytes big-endian, mod N, plus 1: what another machine or tool computes."""
    for task in ("jwst-first-years", "任务-7", ""):
        digest = hashlib.sha256(task.encode("utf-8")).digest()
        assert shard_of(task, 5) == int.from_bytes(digest[:8], "big") % 5 + 1
    assert shard_of("jwst-first-years", 1) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/4", "K must be 1 to N"),
        ("5/4", "K must be 1 to N"),
        ("1/0", "K must be 1 to N"),
        ("2", "is not K/N"),
        ("2of4", "is not K/N"),
        ("-1/4", "is not K/N"),
        ("1/4/2", "is not K/N"),
        ("9999999/9999999", "is not K/N"),
    ],
)
def test_a_bad_shard_is_refused_with_the_form(text, message):
    with pytest.raises(ShardError, match=message) as caught:
        Shard.parse(text)
    assert "e.g." in str(caught.value)


def test_a_shard_names_its_manifest():
    shard = Shard.parse(" 2 / 4 ")
    assert (shard.index, shard.count, shard.label, shard.slug) == (2, 4, "2/4", "2-of-4")
    layout = OutputLayout("out")
    assert layout.run_manifest(None) == layout.manifest
    path = layout.run_manifest(shard)
    assert path.name == "run.2-of-4.json" and MANIFEST_NAME.match(path.name).groups() == ("2", "4")
