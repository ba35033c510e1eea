"""The tour (``make tour``, ``python -m drevalkit.testing.tour OUT``) end to end, as a newcomer runs it: a subprocess
that starts the stand-in judge and the scripted agent, runs every dreval stage, and stops both servers; then the
artefacts it wrote. A failing step stops the tour, says which step, and still stops the servers."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from drevalkit.ingest.task_files import load_tasks
from drevalkit.schemas import Scorecard
from drevalkit.testing.tour import JUDGE_MODEL, SYSTEMS

from .support import run_tour

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TASKS = [json.loads(line)["id"] for line in (ROOT / "samples" / "tasks.jsonl").read_text().splitlines()]


def assert_servers_stopped(record: dict) -> None:
    assert [s["name"] for s in record["servers"]] == ["stand-in judge", "scripted agent"]
    for server in record["servers"]:
        assert not server["running"] and server["exit_code"] is not None, server
        url = urlparse(server["url"])
        with pytest.raises(OSError):  # nothing listens on its port any more
            socket.create_connection((url.hostname, url.port), timeout=1).close()
        cmdline = Path(f"/proc/{server['pid']}/cmdline")
        if cmdline.exists():  # the pid may have been reused, but not by a stand-in server
            assert b"drevalkit.testing" not in cmdline.read_bytes()


def test_the_tour_runs_every_stage_against_stand_ins_and_stops_its_servers(tour):
    out, done = tour
    text = done.stdout
    assert "stand-in judge (rule-based, not a model) at http://127.0.0.1:" in text
    assert "scripted agent (a stand-in, not a model) at http://127.0.0.1:" in text
    for number in range(1, 9):
        assert f"[{number}/8] " in text
    assert "Where everything is:" in text and "leaderboard.html" in text
    assert "Every figure above comes from stand-ins" in text.splitlines()[-1]
    record = json.loads((out / "tour.json").read_text())
    assert record["status"] == "complete" and not record["error"]
    assert [s["exit_code"] for s in record["steps"]] == [0] * 8
    assert_servers_stopped(record)
    # the user's settings and store are untouched: the store is the tour's own
    assert (out / "home" / "store.sqlite3").exists()


def test_the_tour_writes_real_artefacts(tour):
    out, _ = tour
    tasks = load_tasks(out / "tasks.jsonl")
    assert len(tasks) == 4 and len({t.id for t in tasks}) == 4
    assert all(t.provenance["models"]["judge"]["model"] == JUDGE_MODEL for t in tasks)
    assert (out / "tasks.rejected.jsonl").exists()
    assert json.loads((out / "tasks.summary.json").read_text())["status"] == "complete"

    rubrics = out / "dreval-out" / "rubrics"
    for task_id in [t.id for t in tasks] + SAMPLE_TASKS:  # the generated tasks' and those scored
        assert json.loads((rubrics / f"{task_id}.json").read_text())["dimensions"], task_id

    assert len(SYSTEMS) == 2
    for system in SYSTEMS:
        for task_id in SAMPLE_TASKS:
            report = (out / "reports" / system / f"{task_id}.md").read_text()
            assert "## References" in report and "[1]" in report
            sidecar = json.loads((out / "reports" / system / f"{task_id}.meta.json").read_text())
            assert sidecar["status"] == "imported" and sidecar["agent"]["citations"]
            assert sidecar["agent"]["cut_short"] == (system == "scripted-tools-2-turns")
            assert (out / "reports" / system / f"{task_id}.trace.jsonl").stat().st_size > 0

            card = Scorecard.model_validate_json(
                (out / "dreval-out" / "results" / system / f"{task_id}.json").read_text()
            )
            assert card.status == "complete" and card.system == system
            assert card.report_ref.citations >= 1 and card.factcheck.claims
            assert card.provenance.judge.model == JUDGE_MODEL
            assert (out / "dreval-out" / "html" / system / f"{task_id}.html").stat().st_size > 0

    board = out / "dreval-out"
    for suffix in ("csv", "json", "md", "html"):
        assert (board / f"leaderboard.{suffix}").stat().st_size > 0
    ranked = json.loads((board / "leaderboard.json").read_text())
    assert {s["system"] for s in ranked["systems"]} == set(SYSTEMS)
    assert all(s["complete"] == len(SAMPLE_TASKS) for s in ranked["systems"])
    html = (board / "leaderboard.html").read_text()
    assert all(system in html for system in SYSTEMS) and JUDGE_MODEL in html


def test_a_failing_step_stops_the_tour_says_which_and_stops_the_servers(tour, tmp_path):
    samples = tmp_path / "samples"
    (samples / "corpus").mkdir(parents=True)  # an empty corpus: `dreval corpus add` indexes nothing, exit 1
    shutil.copy(ROOT / "samples" / "tasks.jsonl", samples / "tasks.jsonl")
    # a tour into a folder an earlier tour made empties it first: here a copy of the session's complete tour, with a
    # stray file in it (one run of the failing tour checks both, instead of one run to fail and another to empty)
    out = tmp_path / "tour"
    shutil.copytree(tour[0], out)
    (out / "stale.txt").write_text("from an earlier tour")
    assert (out / "reports").is_dir() and (out / "dreval-out").is_dir()
    done = run_tour(out, "--samples", str(samples), timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "tour stopped: step 1 (index the sample corpus" in done.stderr and "exited with code 1" in done.stderr
    assert "[2/8]" not in done.stdout
    assert not (out / "stale.txt").exists() and not (out / "reports").exists() and not (out / "dreval-out").exists()
    record = json.loads((out / "tour.json").read_text())
    assert record["status"] == "failed" and [s["exit_code"] for s in record["steps"]] == [1]
    assert_servers_stopped(record)

    # a folder the tour did not make is refused
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = run_tour(tmp_path / "mine", timeout=60)
    assert refused.returncode == 2 and "not made by the tour" in refused.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "mine" / "logs").exists()
