"""Scorecard pages: rendered from a real scoring run of the sample report (test judge, rule-based fact-check,
offline corpus), re-rendered by ``dreval html``, skipped by ``--no-html``; and the parts (markdown, chart, policy)."""

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.render.markdown import Highlight, render_markdown
from drevalkit.render.scorecard import render_scorecard
from drevalkit.render.svg import ChartRow, dimension_chart
from drevalkit.schemas import Scorecard

from .support import Page, score_samples, sha256_source

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    work = tmp_path_factory.mktemp("scorecard")
    report = work / "reports" / "jwst-first-years.md"
    report.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / "report.md", report)
    score_samples(work, (report, "sample-agent"))
    out = work / "out"
    card = Scorecard.model_validate_json((out / "results" / "sample-agent" / "jwst-first-years.json").read_text())
    html = (out / "html" / "sample-agent" / "jwst-first-years.html").read_text()
    return work, card, html


def test_scorecard_of_a_real_run_shows_every_part(scored):
    _, card, html = scored
    page = Page(html)
    fc = card.factcheck
    assert card.status == "complete" and fc.claims and fc.counts.wrong >= 1
    # self-contained: no script, one style allowed by its hash, nothing remote
    assert page.find("script") == [] and len(page.raw["style"]) == 1
    policy = page.policy
    assert "unsafe-inline" not in policy and "script-src 'none'" in policy and "default-src 'none'" in policy
    assert sha256_source(page.raw["style"][0]) in policy
    assert not [a for t, a in page.tags if t in ("img", "iframe", "link", "object")]
    # header
    header = " ".join(page.text)
    assert "sample-agent" in header and "jwst-first-years" in header and "Dr. Amara Lindqvist" in header
    assert f"{card.quality.total:.2f}" in header and "Cost" in header and "Time" in header
    # chart: one bar per dimension, general and task-specific apart
    assert len(page.find("svg", class_="chart")) == 1
    general = page.find("rect", class_="bar-general")
    specific = page.find("rect", class_="bar-specific")
    kinds = [d for d in card.quality.dimension_scores]
    assert len(general) == 4 and len(general) + len(specific) == len(kinds)
    assert "General dimensions" in html and "Task-specific dimensions" in html
    # criteria with their rationales
    for score in card.quality.scores:
        assert score.rationale in header
    # claim table: a row per claim with its verdict, filter radios with counts
    rows = page.find("tr", class_="claim")
    assert len(rows) == len(fc.claims)
    labels = {v.claim_id: v.label for v in fc.verdicts}
    assert [r["data-verdict"] for r in rows] == [labels.get(c.id, "none") for c in fc.claims]
    assert {a["id"] for a in page.find("input", type="radio")} == {
        "vf-all",
        "vf-right",
        "vf-wrong",
        "vf-unknown",
        "vf-failed",
    }
    assert f"wrong {fc.counts.wrong}" in header
    # evidence: quoted passages and links to their sources
    evidence_links = [a["href"] for a in page.find("a") if a.get("href", "").startswith("https://")]
    assert {e.url for e in fc.evidence} <= set(evidence_links)
    # the report with its claims highlighted by verdict, each linked to its row, and [n] linked to References
    marks = [m for m in page.find("mark", class_="hl") if "key" not in m["class"].split()]
    marked = {m["id"] for m in marks if "id" in m}
    assert len(marked) >= 0.8 * len(fc.claims)
    for number, claim in enumerate(fc.claims, start=1):
        if f"s-{number}" in marked:
            mark = next(m for m in marks if m.get("id") == f"s-{number}")
            verdict = labels.get(claim.id, "none")
            if sum(1 for c in fc.claims if c.sentence == claim.sentence) == 1:
                assert f"v-{verdict}" in mark["class"].split()
            assert page.find("a", href=f"#claim-{number}")
    wrong_marks = [m for m in page.find("mark", class_="v-wrong") if "key" not in m["class"].split()]
    assert wrong_marks and all("claim" in m["title"] for m in wrong_marks)
    refs = {a["id"] for a in page.find("span", class_="ref-entry")}
    assert {f"ref-{n}" for n in range(1, 9)} <= refs
    cites = [a["href"] for a in page.find("a", class_="cite")]
    assert cites and all(href.startswith("#ref-") and href[1:] in refs for href in cites)
    # problems, provenance and usage
    assert "None: every part is complete." in header
    assert card.provenance.config_hash in header and card.report_ref.sha256 in header
    assert "test-key" not in html


def test_dreval_html_rerenders_and_says_when_the_report_changed(scored, tmp_path):
    work, card, html = scored
    out = tmp_path / "out"
    shutil.copytree(work / "out" / "results", out / "results")
    shutil.copytree(work / "out" / "rubrics", out / "rubrics")
    result = CliRunner().invoke(main, ["html", str(out / "results")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    again = (out / "html" / "sample-agent" / "jwst-first-years.html").read_text()
    assert again == html  # the same page from the result file, the frozen rubric and the unchanged report
    report = Path(card.report_ref.path)
    original = report.read_text()
    try:
        report.write_text(original.replace("1996", "1997"))
        result = CliRunner().invoke(main, ["html", str(out)], catch_exceptions=False)
        changed = Page((out / "html" / "sample-agent" / "jwst-first-years.html").read_text())
        assert "has changed since it was scored" in " ".join(changed.text) and "has changed" in result.output
        assert not changed.find("article") and len(changed.find("tr", class_="claim")) == len(card.factcheck.claims)
    finally:
        report.write_text(original)
    broken = out / "results" / "sample-agent" / "broken.json"
    broken.write_text("{")
    result = CliRunner().invoke(
        main, ["html", str(broken), str(out / "results" / "sample-agent" / "jwst-first-years.json")]
    )
    assert result.exit_code == 1 and "broken.json: not valid JSON (line 1 column 2); no page written" in result.output
    assert CliRunner().invoke(main, ["html", str(tmp_path / "nothing")]).exit_code == 2


def test_no_html_writes_only_the_result_and_removes_a_stale_page(tmp_path):
    report = tmp_path / "reports" / "jwst-first-years.md"
    report.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / "report.md", report)
    stale = tmp_path / "out" / "html" / "quick" / "jwst-first-years.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("an old page")
    score_samples(tmp_path, (report, "quick"), extra=("--no-html", "--no-factcheck"))
    assert (tmp_path / "out" / "results" / "quick" / "jwst-first-years.json").is_file()
    assert not stale.exists() and not list((tmp_path / "out" / "html").rglob("*.html"))


def test_markdown_highlights_links_and_anchors():
    text = (
        "# Title\n\nThe bridge opened in 1998 [1]. It cost **12 million** euros [2, 3]. Nobody checked this.\n\n"
        "| year | cost |\n|---|---|\n| 2001 | 4 million |\n\n"
        "See [the page](https://example.org/p) and https://example.org/bare.\n\n## References\n"
        "[1] First. https://a.example/1\n[2] Second. https://a.example/2\n"
    )
    rendered = render_markdown(
        text,
        [
            Highlight("The bridge opened in 1998 [1].", [(1, "right")]),
            Highlight("It cost 12 million euros [2, 3].", [(2, "wrong"), (3, "unknown")]),
            Highlight("year: 2001; cost: 4 million", [(4, "unknown")]),
            Highlight("A sentence the report does not have at all, anywhere.", [(5, "right")]),
        ],
    )
    page = Page(str(rendered.html))
    assert rendered.highlighted == {1, 2, 3, 4} and rendered.references == {1, 2}
    assert page.find("mark", id="s-1")[0]["class"] == "hl v-right"
    assert page.find("mark", id="s-2")[0]["class"] == "hl v-wrong"  # the worst verdict colours a shared sentence
    assert len(page.find("mark", class_="v-unknown")) == 2  # both cells of the table row
    assert [a["href"] for a in page.find("a", class_="claim-tag")] == ["#claim-1", "#claim-2", "#claim-3", "#claim-4"]
    assert [a["href"] for a in page.find("a", class_="cite")] == ["#ref-1", "#ref-2"]
    assert page.find("span", class_="cite-missing")  # [3] has no entry
    assert {a["id"] for a in page.find("span", class_="ref-entry")} == {"ref-1", "ref-2"}
    hrefs = [a["href"] for a in page.find("a") if a["href"].startswith("http")]
    assert hrefs == ["https://example.org/p", "https://example.org/bare", "https://a.example/1", "https://a.example/2"]
    assert page.find("h3") and not page.find("h1")  # the page has its own h1 and h2


def test_chart_escapes_names_and_shows_missing_scores():
    svg = str(
        dimension_chart(
            [
                ChartRow("Coverage", "general", 0.5, 7.5, std=0.4),
                ChartRow("<script>alert(1)</script>" + "x" * 300, "specific", 0.5, None, status="failed"),
            ]
        )
    )
    page = Page(svg)
    assert not page.find("script") and "&lt;script&gt;" in svg
    assert len(page.find("line", class_="whisker")) == 3
    assert page.find("rect", class_="bar-missing") and "not judged" in svg
    labels = [t for t in page.text if t.startswith("<script>")]
    assert "<script>alert(1)</script>xxxxxxxx…" in labels  # the label is cut ...
    assert any(len(t) > 300 for t in labels)  # ... and the full name is in the tooltip
    assert "style=" not in svg


def test_a_rubric_of_another_hash_is_not_used_for_names(scored):
    _, card, _ = scored
    from drevalkit.schemas import Dimension, Rubric

    other = Rubric(
        task_id=card.task_id,
        dimensions=[
            Dimension(id="coverage", name="Forged name", kind="general", definition="d", weight=1.0, criteria=[])
        ],
        hash="not-the-same",
    )
    html = render_scorecard(card, other, None, "gone")
    assert "Forged name" not in html and "gone" in html
    assert re.search(r'id="report-missing"', html)
