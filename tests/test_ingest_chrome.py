"""Interface chrome removed from imported reports (drevalkit.ingest.chrome): the rules leave the report proper alone and
stay fast on hostile text."""

from pathlib import Path

import pytest

from drevalkit.ingest.chrome import is_narration, strip_chrome

from .support import REPORT_WITH_LOOKALIKES

NARRATED = Path(__file__).resolve().parent / "data" / "import" / "narration" / "api-agent-heat-pumps.md"


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
        "Let me search for " + "x " * 200000 + "information.",  # narration rules on one long line
        "I now have enough " + "data, " * 100000,
        ".)" * 200000 + "\n" + "Let me check. " * 50000,
    ],
)
def test_chrome_rules_stay_fast_on_hostile_text(text):
    import time

    from drevalkit.ingest.chrome import strip_chrome

    started = time.monotonic()
    strip_chrome(text)
    assert time.monotonic() - started < 5


def test_narration_lines_and_paragraphs_are_removed_and_recorded():
    stripped = strip_chrome(NARRATED.read_text())
    assert [(r["rule"], r["text"]) for r in stripped.removed] == [
        (
            "agent-narration",
            "I'll research the growth of heat pump sales in Europe for you. Let me start by searching for the latest "
            "market figures.",
        ),
        ("agent-narration", "Let me search for the association's annual market report."),
        ("agent-narration", "I need to find more specific information about the 2023 decline in Germany."),
        (
            "agent-narration",
            "Perfect! Now I have enough information to write a comprehensive report on European heat pump sales.",
        ),
        ("agent-narration", "Let me look at what drove the fall."),  # a whole line between lines of findings
        ("agent-narration", "I'll now compile the final report with these findings."),
    ]
    assert stripped.text.startswith("# Heat Pump Sales in Europe, 2019-2024\n\n## Market growth\n\nSales across 21")
    # in a paragraph of findings, the narration sentence stays (segmentation never takes it for a claim)
    assert "in 2022 [1]. Let me check the 2023 figure next. Sales then fell" in stripped.text
    assert "[1].\nHigh interest rates" in stripped.text
    for kept in ("- Let me search for the installer shortage", "Let me search for this inside a code block", "[3] "):
        assert kept in stripped.text


@pytest.mark.parametrize(
    "sentence",
    [
        "Let me search for the latest cost figures.",
        "Now, let me look up the 2023 figures.",
        "I'll now look for the launch date.",
        "I will search for more recent data.",
        "I need to find more specific information about the cost.",
        "I still need to verify the mirror size.",
        "Now I have enough information to write the report.",
        "I now have comprehensive data on all three instruments.",
        "I've gathered enough material.",
        "Great, I'm now searching for the partner agencies.",
        "Based on my research, I'll now write a comprehensive report.",
        "Let me compile the final report.",
        "Searching for recent launch data...",
        "让我搜索一下最新的数据。",
        "现在我已经有了足够的信息来撰写报告。",
    ],
)
def test_narration_is_recognised(sentence):
    assert is_narration(sentence)
    assert strip_chrome(f"# Report\n\n{sentence}\n\nThe plant opened in 1998 [1].").text == (
        "# Report\n\nThe plant opened in 1998 [1]."
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "Let me be clear: the cost grew twentyfold.",
        "Let us consider three scenarios for 2030.",
        "I will argue that the cap failed.",
        "The agency will now look for new partners.",
        "Researchers need to find more funding by 2026.",
        "We searched for records in three archives.",
        "Searching for planets is the telescope's main task.",
        "Now I have to say the data are thin, at 12 sites.",
        "They now have enough information to decide.",
    ],
)
def test_report_prose_is_not_narration(sentence):
    assert not is_narration(sentence)
    text = f"# Report\n\n{sentence}"
    assert strip_chrome(text).text == text
