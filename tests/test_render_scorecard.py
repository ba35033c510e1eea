"""Scorecard pages: rendered from a real scoring run of the sample report (test judge, rule-based fact-check,
offline corpus), re-rendered by ``dreval html``, skipped by ``--no-html``; the parts (markdown, chart, policy); the
header's cost when answers came from the cache. Hostile content in every field that reaches a scorecard page stays
inert: script tags, event handlers, ``javascript:`` / ``data:`` links, SVG, closing tags and comments come out as
text or not at all."""

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.render.markdown import Highlight, render_markdown, sanitise
from drevalkit.render.scorecard import render_scorecard
from drevalkit.render.svg import ChartRow, dimension_chart
from drevalkit.render.urls import is_http_url
from drevalkit.schemas import (
    CitedSource,
    Claim,
    Criterion,
    CriterionScore,
    Dimension,
    DimensionScore,
    Evidence,
    FactCheckCounts,
    FactCheckResult,
    FetchRecord,
    JudgeInfo,
    Persona,
    Provenance,
    QualityResult,
    Report,
    ReportRef,
    Rubric,
    Scorecard,
    Spread,
    Task,
    Usage,
    Verdict,
)

from .support import Page, make_card, score_samples, sha256_source

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


def test_dreval_html_rerenders_and_says_when_the_report_changed(scored, tmp_path, monkeypatch):
    work, card, html = scored
    monkeypatch.chdir(work)  # the normal case: dreval html from the folder the report was scored in
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
    assert result.exit_code == 1 and "broken.json: malformed JSON (" in result.output
    assert "); no page written" in result.output
    assert CliRunner().invoke(main, ["html", str(tmp_path / "nothing")]).exit_code == 2


def test_dreval_html_reads_reports_only_from_the_working_folder_or_reports(scored, tmp_path, monkeypatch):
    """Issue 17, item 8: a result file may come from someone else, so its report_ref must not pick any file."""
    work, card, html = scored
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    shutil.copytree(work / "out" / "results", out / "results")
    shutil.copytree(work / "out" / "rubrics", out / "rubrics")
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result_file = out / "results" / "sample-agent" / "jwst-first-years.json"
    page_file = out / "html" / "sample-agent" / "jwst-first-years.html"

    def render(*extra) -> tuple[Page, str]:
        result = CliRunner().invoke(main, ["html", str(result_file), *map(str, extra)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return Page(page_file.read_text()), result.output

    # the report (matching hash) outside the working folder: not read, and the page and stderr say why
    refused, output = render()
    assert not refused.find("article") and "outside the working folder" in " ".join(refused.text)
    assert "outside the working folder" in output and "--reports DIR" in output
    # the same file with its folder named: shown as when it was scored
    shown, output = render("--reports", work / "reports")
    assert shown.find("article") and page_file.read_text() == html and "outside" not in output
    # a link inside the working folder to a file outside it is refused
    (elsewhere / "link.md").symlink_to(card.report_ref.path)
    linked = card.model_copy(update={"report_ref": card.report_ref.model_copy(update={"path": "link.md"})})
    result_file.write_text(linked.model_dump_json())
    refused, output = render()
    assert not refused.find("article") and "link.md is, or links to, a file outside" in output
    # under a named folder but not a regular file (a device): refused before anything is read
    device = card.model_copy(update={"report_ref": card.report_ref.model_copy(update={"path": "/dev/zero"})})
    result_file.write_text(device.model_dump_json())
    refused, output = render("--reports", "/dev")
    assert not refused.find("article") and "/dev/zero is not a regular file" in output


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


def test_scorecard_header_says_answers_came_from_the_cache():
    card = make_card("S", "t1", 6.0)
    card.usage = Usage(
        cache_hits=24, from_cache_prompt_tokens=9000, from_cache_completion_tokens=1000, from_cache_cost=0.0123
    )
    page = " ".join(render_scorecard(card).split())
    assert "0 tokens, 0 calls; 24 answers from the cache (first cost 0.0123, 10000 tokens)" in page
    assert "0.0000 spent now; 24 answers from the cache" in page
    card.usage = Usage(cache_hits=1)
    assert "1 answer from the cache (what they first cost was not recorded)" in " ".join(render_scorecard(card).split())
    card.usage = Usage(calls=3, prompt_tokens=10, completion_tokens=5, cost=0.5)
    page = " ".join(render_scorecard(card).split())
    assert "15 tokens, 3 calls</div>" in page and "from the cache (" not in page


def test_a_cost_without_a_price_is_unknown_not_zero():
    card = make_card("S", "t1", 6.0)
    card.usage = Usage(calls=3, unpriced_calls=3, prompt_tokens=900, completion_tokens=100)
    page = Page(render_scorecard(card))
    text = " ".join(" ".join(page.text).split())
    assert "Cost unknown 1000 tokens, 3 calls; 3 calls without a price ([prices] in dreval.toml)" in text
    assert "0.0000" not in text
    card.usage = Usage(calls=3, unpriced_calls=1, prompt_tokens=900, completion_tokens=100, cost=0.25)
    text = " ".join(" ".join(Page(render_scorecard(card)).text).split())
    assert "Cost at least 0.2500 1000 tokens, 3 calls; 1 call without a price" in text


def test_a_failed_fact_check_shows_the_failure_not_a_right_ratio():
    card = make_card("S", "t1", 6.0, factcheck_status="failed", right=(0, 0, 1))
    card.factcheck.counts.unknown, card.factcheck.ratios = 0, {"right": 0.0}
    card.factcheck.reasons = ["claims of sentences S1-S45 could not be extracted: not valid JSON"]
    html = render_scorecard(card)
    page = Page(html)
    header = html.split("</style>")[1].split('<nav class="toc">')[0]
    assert "Right" not in header and "Evidence coverage" not in header and "0%" not in header
    assert re.search(r'id="stat-factcheck"><div class="k">Fact-check</div><div class="v s-failed">failed</div>', html)
    assert "claims of sentences S1-S45 could not be extracted" in header
    assert page.find("div", id="factcheck-failed") and 'class="k v-right">Right' not in html
    complete = render_scorecard(make_card("S", "t1", 6.0))  # a complete one keeps its headline ratio
    assert '<div class="k">Right</div><div class="v">75%' in complete and 'id="factcheck-failed"' not in complete


# ----------------------------------------------------------------------------- hostile content in every field


HOSTILE = (
    '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
    '<svg onload="alert(1)"><circle/></svg><a href="javascript:alert(1)" onclick="alert(2)">x</a>'
    '</textarea></title></style></script></html><!-- <iframe src="data:text/html,<script>alert(3)</script>">'
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">\x1b[31m\u202e'
)
LONG = "W" * 700
BAD_URLS = [
    "javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/etc/passwd",
    " javascript:alert(2)",
    "JaVaScRiPt:alert(3)",
]
HOSTILE_REPORT = f"""# {LONG} <script>document.title="pwned"</script>

The bridge opened in 1998 and cost 12 million euros [1]. {HOSTILE}

[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [vb](vbscript:x) [rel](/etc/passwd)
[proto](//evil.example/x) <a href="javascript:alert(2)" onclick="alert(3)">raw link</a> [ok](https://fine.example/a)

![img](javascript:alert(4)) ![pic](https://img.example/x.png "t\\" onerror=alert(5)")

<svg><script>alert(6)</script></svg>
<style>body {{ display: none }}</style>

```html
<script>document.title="pwned"</script>
```

Inline `<script>alert(7)</script>` code and a fake highlight <mark class="hl v-right" id="s-1">right!</mark>.

| <b onmouseover=alert(8)>cell</b> | {LONG} |
|---|---|
| javascript:alert(9) | [x](javascript:alert(10)) |

[1]: javascript:alert(11)

## References
[1] Bridge history. https://bridges.example/history
[2] <script>alert(12)</script> javascript:alert(13)
"""


def hostile_card() -> tuple[Scorecard, Rubric, Report]:
    judge = JudgeInfo(model=HOSTILE, endpoint="http://judge.example/" + HOSTILE, backend="openai")
    rubric = Rubric(
        task_id=HOSTILE,
        dimensions=[
            Dimension(
                id="coverage",
                name=HOSTILE,
                kind="general",
                definition=HOSTILE,
                weight=0.6,
                criteria=[Criterion(id="coverage.1", text=HOSTILE + LONG, explanation=HOSTILE, weight=1.0)],
            ),
            Dimension(
                id="task_evil",
                name=LONG + HOSTILE,
                kind="specific",
                definition=HOSTILE,
                weight=0.4,
                criteria=[Criterion(id="task_evil.1", text=HOSTILE, explanation=HOSTILE, weight=1.0)],
            ),
        ],
    )
    rubric.hash = rubric.content_hash()
    quality = QualityResult(
        rubric_hash=rubric.hash,
        scores=[
            CriterionScore(
                criterion_id="coverage.1",
                dimension_id="coverage",
                score=7.0,
                rationale=HOSTILE,
                samples=[6.0, 8.0],
                spread=Spread(n=2, std=1.0, min=6.0, max=8.0),
            ),
            CriterionScore(criterion_id="task_evil.1", dimension_id="task_evil", score=5.0, rationale=LONG),
        ],
        dimension_scores={
            "coverage": DimensionScore(dimension_id="coverage", weight=0.6, score=7.0, status="complete"),
            "task_evil": DimensionScore(
                dimension_id="task_evil", weight=0.4, score=None, status="failed", reason=HOSTILE
            ),
        },
        total=7.0,
        weight_judged=0.6,
        status="partial",
        reasons=[HOSTILE],
    )
    claim = Claim(
        id="c1",
        text=HOSTILE,
        sentence="The bridge opened in 1998 and cost 12 million euros [1].",
        section=HOSTILE,
        cited_refs=[1],
        cited_urls=BAD_URLS + ["https://ok.example/" + HOSTILE],
    )
    claim2 = Claim(id="c2", text=LONG, sentence=HOSTILE, section=LONG)
    evidence = [
        Evidence(
            id=f"e{n}",
            url=url,
            title=HOSTILE,
            passage=HOSTILE + LONG,
            retrieved_at=HOSTILE,
            content_sha256="ab" * 32,
            via="citation",
            cited_ref=1,
        )
        for n, url in enumerate(BAD_URLS + ["https://ok.example/page"])
    ]
    factcheck = FactCheckResult(
        claims=[claim, claim2],
        verdicts=[
            Verdict(
                claim_id="c1",
                label="wrong",
                quote=HOSTILE,
                rationale=HOSTILE,
                evidence_ids=[e.id for e in evidence],
                cited_source_supports=False,
                flags=[HOSTILE],
            ),
            Verdict(claim_id="c2", label="unknown", rationale=LONG),
        ],
        evidence=evidence,
        fetches=[FetchRecord(url=u, ok=False, error=HOSTILE) for u in BAD_URLS],
        counts=FactCheckCounts(wrong=1, unknown=1),
        ratios={"right": 0.0, "wrong": 0.5, "unknown": 0.5},
        cited_sources=[CitedSource(index=1, url=u, reachable=False, error=HOSTILE, claims=["c1"]) for u in BAD_URLS],
        fetch_failures={HOSTILE: 2},
        search_backend=HOSTILE,
        status="partial",
        reasons=[HOSTILE],
    )
    task = Task(
        id=HOSTILE,
        prompt=HOSTILE + LONG,
        persona=Persona(id=HOSTILE, name=HOSTILE, role=HOSTILE, affiliation=HOSTILE, domain=HOSTILE),
        deliverables=[HOSTILE],
        time_constraint=HOSTILE,
    )
    card = Scorecard(
        system=HOSTILE,
        task_id=HOSTILE + LONG,
        task=task,
        report_ref=ReportRef(path=HOSTILE, sha256="0" * 64, words=10, source_format=HOSTILE, citations=1),
        quality=quality,
        factcheck=factcheck,
        status="partial",
        reasons=[HOSTILE, LONG],
        provenance=Provenance(
            dreval_version=HOSTILE,
            judge=judge,
            prompt_versions={HOSTILE: HOSTILE},
            config_hash=HOSTILE,
            started_at=HOSTILE,
            finished_at=HOSTILE,
        ),
        usage=Usage(),
    )
    report = Report(
        system=HOSTILE,
        task_id=HOSTILE,
        text=HOSTILE_REPORT,
        meta={
            "flags": [HOSTILE, "citation [2] points to a page the agent never read: javascript:alert(1)"],
            "agent": {"termination": HOSTILE, "unread_citations": [{"url": u, "problem": HOSTILE} for u in BAD_URLS]},
            HOSTILE: {HOSTILE: [HOSTILE, 1, True, None]},
        },
    )
    return card, rubric, report


PAGE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "header",
    "nav",
    "section",
    "article",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "div",
    "span",
    "strong",
    "em",
    "small",
    "a",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "colgroup",
    "col",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
    "mark",
    "sup",
    "br",
    "hr",
    "pre",
    "code",
    "blockquote",
    "del",
    "s",
    "input",
    "label",
    "i",
    "svg",
    "g",
    "rect",
    "line",
    "text",
}


def assert_inert(html: str) -> Page:
    page = Page(html)
    assert not page.find("script") and not page.raw["script"]
    assert len(page.find("style")) == 1 and sha256_source(page.raw["style"][0]) in page.policy
    assert "unsafe-inline" not in page.policy and "script-src 'none'" in page.policy
    assert {tag for tag, _ in page.tags} <= PAGE_TAGS
    assert len(page.find("svg")) <= 1 and all("chart" in a.get("class", "") for a in page.find("svg"))
    assert [a.get("http-equiv") for a in page.find("meta") if a.get("http-equiv")] == ["Content-Security-Policy"]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert name not in ("style", "src", "srcdoc", "action", "formaction", "background", "xlink:href"), (
                tag,
                name,
            )
            if name == "href":
                if value.startswith("#"):
                    assert value[1:].split("-")[0] in (
                        "claim",
                        "ref",
                        "s",
                        "dimensions",
                        "criteria",
                        "factcheck",
                        "claims",
                        "report",
                        "problems",
                        "provenance",
                    ), value
                else:
                    parts = urlsplit(value)
                    assert parts.scheme in ("http", "https") and parts.netloc, value
        if tag == "input":
            assert attrs.get("type") == "radio" and attrs.get("name") == "verdict-filter"
    assert "\x1b" not in html and "\u202e" not in html
    return page


def test_every_field_of_a_hostile_result_is_inert():
    card, rubric, report = hostile_card()
    html = render_scorecard(card, rubric, report)
    page = assert_inert(html)
    text = " ".join(page.text)
    # the hostile text is shown as text, where it belongs
    assert text.count('<script>document.title="pwned"</script>') >= 20
    assert "Bridge history." in text and "javascript:alert(9)" in text
    title = next(i for i, (t, _) in enumerate(page.tags) if t == "title")
    assert page.tags[title + 1][0] == "style"  # a closing </title> in the system name did not end the title early
    # the report: only http(s) links with a host, the fake highlight is text, the real one is dreval's
    report_marks = [a for a in page.find("mark") if "key" not in a.get("class", "")]
    assert [m.get("id") for m in report_marks if m.get("id")] == ["s-1"] and "v-wrong" in report_marks[0]["class"]
    assert '<mark class="hl v-right" id="s-1">right!</mark>' in text
    assert "https://fine.example/a" in [a["href"] for a in page.find("a") if "href" in a]
    # the cited URLs and evidence URLs that are not http(s) are shown but not linked
    assert "javascript:alert(1)" in text and "//evil.example/x" in text


def test_missing_report_and_metadata_of_any_shape_are_inert():
    card, rubric, report = hostile_card()
    assert_inert(render_scorecard(card, None, None, HOSTILE))
    report.meta = {"deep": {"a": {"b": {"c": {"d": {"e": HOSTILE}}}}}, "many": list(range(500)), "url": BAD_URLS[0]}
    page = assert_inert(render_scorecard(card, rubric, report))
    assert "and 440 more" in " ".join(page.text)


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        "<svg><g onload=alert(1)></g></svg>",
        '<math><mi xlink:href="javascript:x">',
        '<iframe srcdoc="<script>x</script>"></iframe>',
        '<a href="#claim-1" onclick="x">ok</a>',
        '<mark class="hl v-right evil" id="injected" style="position:fixed">m</mark>',
        '<form action="https://x"><input>',
        '<a href="https://ok.example/" target="_blank">ok</a>',
        '<p style="background:url(https://x)">p</p>',
        '<object data="x"></object><embed src="x">',
        '<!-- comment --><a href=" javascript:x">s</a>',
        '<a href="//evil.example/">proto</a><a href="/local">rel</a>',
    ],
)
def test_the_sanitiser_removes_active_content(payload):
    clean = sanitise(payload)
    page = Page(clean)
    for tag, attrs in page.tags:
        assert tag in {"a", "mark", "p", "span", "sup"}, clean
        assert not any(n.startswith("on") or n in ("style", "src", "srcdoc", "target", "action") for n in attrs)
        if "href" in attrs:
            assert attrs["href"] in ("https://ok.example/", "#claim-1"), clean
        if "id" in attrs:
            assert attrs["id"] not in ("injected",), clean
    assert "<!--" not in clean and "alert" not in "".join(a.get("href", "") for _, a in page.tags)


def test_report_raw_html_is_text_and_links_are_http_only():
    rendered = render_markdown(HOSTILE_REPORT)
    page = Page(str(rendered.html))
    assert {t for t, _ in page.tags} <= {
        "h3",
        "h4",
        "p",
        "a",
        "span",
        "pre",
        "code",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "br",
        "mark",
        "sup",
    }
    hrefs = [a["href"] for a in page.find("a") if "href" in a]
    assert hrefs and all(h.startswith(("https://", "#ref-")) for h in hrefs)
    assert "<script>" in " ".join(page.text)  # shown, not run
    assert rendered.references == {1, 2}


def test_only_http_urls_with_a_host_are_links():
    assert is_http_url("https://example.org/a?b#c") and is_http_url("http://127.0.0.1:8080/")
    for url in BAD_URLS + ["https://", "http:/x", "ftp://x", "file:///etc/passwd", "https://x\n"]:
        assert not is_http_url(url), url
