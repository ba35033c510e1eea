"""Give-up and error messages recognised as failed reports (drevalkit.ingest.failures), and real reports never taken for
them."""

from pathlib import Path

import pytest

from drevalkit.ingest.failures import detect_failure

from .support import REPORT_WITH_LOOKALIKES

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.mark.parametrize(
    "text, rule",
    [
        ("Error generating final report: Maximum retries exceeded", "error-message"),
        ("No answer found after 2h30mins", "error-message"),
        ("No answer found after 100 rounds.", "error-message"),
        ('Traceback (most recent call last):\n  File "a.py", line 1\nValueError: x', "error-message"),
        ('{"error": {"message": "Rate limit reached", "type": "requests"}}', "error-object"),
        ("Sorry, I couldn't complete this research: the sources were unavailable.", "give-up"),
        ("I was unable to find any information about this topic.", "give-up"),
        ("   \n ", "empty"),
        ("[INFO] start\n[INFO] searching\n[WARNING] timeout\n[ERROR] failed\n[INFO] exiting\n", "log-dump"),
    ],
)
def test_give_up_messages_are_recognised(text, rule):
    assert detect_failure(text).startswith(rule + ":")


@pytest.mark.parametrize(
    "text",
    [
        (SAMPLES / "report.md").read_text(),
        REPORT_WITH_LOOKALIKES,
        "Error analysis in survey statistics: a short report. Survey errors arise from sampling [1].",
        "# Why agents fail\n\nAgents often return 'Error generating final report' when retries run out [1]. "
        + "This report examines such failures in detail. " * 60,
        "The answer is 42 [1].\n\n## References\n\n[1] Guide. https://guide.example/42",
    ],
)
def test_real_reports_are_not_taken_for_give_ups(text):
    assert detect_failure(text) is None
