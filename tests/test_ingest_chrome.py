"""Interface chrome removed from imported reports (drevalkit.ingest.chrome): the rules leave the report proper alone and
stay fast on hostile text."""

import pytest

from drevalkit.ingest.chrome import strip_chrome

from .support import REPORT_WITH_LOOKALIKES


def test_chrome_rules_leave_the_report_proper_alone():
    # button and disclaimer phrases inside sentences, headings, table cells or lists are content: nothing goes
    stripped = strip_chrome(REPORT_WITH_LOOKALIKES)
    assert stripped.text == REPORT_WITH_LOOKALIKES.strip() and not stripped.removed
    standalone = strip_chrome(
        "# T\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\nExport to Sheets\n\nText.\n"
        "Gemini can make mistakes, so double-check it\n"
    )
    assert standalone.text == "# T\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\nText."
    assert [r["rule"] for r in standalone.removed] == ["gemini-export-to-sheets", "gemini-disclaimer"]
    flattened = "Table 1 Year Cost 2011 8.835 Export to Sheets Section 2 Launch"
    assert strip_chrome(flattened).text == flattened  # not known to be a Gemini export: left alone
    assert strip_chrome(flattened, product="gemini").text == "Table 1 Year Cost 2011 8.835 Section 2 Launch"


@pytest.mark.parametrize(
    "text",
    [
        "You said:" + "\n" * 3000 + "x",  # was cubic: 17 s at 3,000 newlines
        "You said:" + "\n\n " * 3000,
        "[" * 20000,  # was quadratic: 7 s
        "Conversation with Gemini\n" + " \n" * 80000,  # was quadratic: 5 s at 20,000 lines, 62 s at 80,000
        "Conversation with Gemini\nq\n" + "x " * 100 + " \n" * 80000 + "Contents Export",
        "[" * 80000 + "Opens in a new window](",  # 300 steps per "[" before
    ],
)
def test_chrome_rules_stay_fast_on_hostile_text(text):
    import time

    from drevalkit.ingest.chrome import strip_chrome

    started = time.monotonic()
    strip_chrome(text)
    assert time.monotonic() - started < 5
