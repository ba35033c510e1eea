"""dreval html of files that are not results: each said in words, no page written, a leaderboard among the results
skipped."""

from click.testing import CliRunner

from drevalkit.cli import main

from .support import planted


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_html_of_files_that_are_not_results(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = _invoke("html", bad)
    assert result.exit_code == 2
    assert "bad.json: malformed JSON (" in result.output and "); no page written" in result.output
    assert "written under" not in result.output and "no scorecard written" in result.output
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    result = _invoke("html", bad, other)
    assert result.exit_code == 2 and "other.json: not a dreval result (" in result.output
    assert "none of the 2 file(s)" in result.output and "written under" not in result.output
    out = tmp_path / "out"
    planted(out, tasks=6)
    assert _invoke("leaderboard", out, "--resamples", 200).exit_code == 0
    (out / "results" / "A" / "leaderboard.json").write_text((out / "leaderboard.json").read_text())
    result = _invoke("html", out)
    assert result.exit_code == 0, result.output
    assert "leaderboard.json: a dreval leaderboard, not a result; skipped" in result.output
    assert "18 scorecards written under" in result.output
