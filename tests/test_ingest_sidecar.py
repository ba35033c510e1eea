"""Import sidecars (drevalkit.ingest.sidecar): an agent run's flags, and a sidecar written before agent runs existed
still reads."""

import json
from pathlib import Path

from drevalkit.ingest.sidecar import AgentCitation, AgentRun, ImportSidecar, is_sidecar, read_sidecar


def test_agent_flags_and_sidecar_compatibility(tmp_path: Path):
    run = AgentRun(
        protocol="mirothinker",
        model="m",
        termination="turn_cap",
        cut_short=True,
        limits_hit=["turn_cap"],
        turns=51,
        unread_citations=[
            AgentCitation(index=3, url="https://c.example", problem="points to a page the agent never read")
        ],
    )
    flags = run.flags()
    assert "cut short by the turn cap after 51 turns" in flags[0]
    assert flags[1] == "citation [3] points to a page the agent never read: https://c.example"
    # a sidecar written before agent runs existed still reads, without an agent block
    old = {
        "schema": "dreval-import/1",
        "task_id": "x",
        "status": "imported",
        "format": "markdown",
        "source_file": "x.md",
        "text_sha256": "",
    }
    (tmp_path / "x.md").write_text("# x\n")
    (tmp_path / "x.meta.json").write_text(json.dumps(old))
    sidecar = read_sidecar(tmp_path / "x.md")
    assert isinstance(sidecar, ImportSidecar) and sidecar.agent is None
    assert is_sidecar(Path("a.meta.json")) and is_sidecar(Path("a.trace.jsonl")) and not is_sidecar(Path("a.jsonl"))
