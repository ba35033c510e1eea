"""Hostile content in every field that reaches a scorecard page stays inert: script tags, event handlers,
``javascript:`` / ``data:`` links, SVG, closing tags and comments come out as text or not at all."""

from urllib.parse import urlsplit

import pytest

from drevalkit.render.markdown import render_markdown, sanitise
from drevalkit.render.scorecard import render_scorecard
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

from .support import Page, sha256_source

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
