"""Finding and reading results for the leaderboard: what dreval itself wrote into the results (a leaderboard, a run
manifest, a judge card) is not a result; a result whose task id happens to be run still is."""

from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.layout import OutputLayout
from drevalkit.leaderboard import build_leaderboard, read_result

from .support import make_card, planted, write


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_dreval_outputs_in_the_results_are_ignored_and_a_task_named_run_is_not(tmp_path):
    """What an older dreval wrote into results/ (the leaderboard of a system folder), a run manifest and a judge
    card there are not results; a result whose task id happens to be ``run`` still is."""
    out = tmp_path / "out"
    planted(out, tasks=6)
    assert _invoke("leaderboard", out, "--resamples", 200).exit_code == 0
    system = out / "results" / "A"
    (system / "leaderboard.json").write_text((out / "leaderboard.json").read_text())
    (system / "agreement.json").write_text('{"dreval_version": "0", "labels_file": "x", "kind": "quality"}')
    (out / "results" / "B" / "card.json").write_text('{"dreval_version": "0", "key": "k", "judge": {}}')
    write(out, make_card("C", "run", 5.0))
    board = build_leaderboard(out, resamples=200)
    rows = {row.system: row for row in board.systems}
    assert all(row.unreadable == 0 for row in board.systems)
    assert any(cell.task_id == "run" and cell.status == "complete" for cell in rows["C"].tasks)
    ignored = [p for p in board.problems if "ignored" in p]
    assert len(ignored) == 3 and any("leaderboard.json: a dreval leaderboard, not a result" in p for p in ignored)
    assert read_result(system / "agreement.json").own and not read_result(OutputLayout(out).result("C", "run")).own
