import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from drevalkit.factcheck.claims import CHUNK_TOKENS, extract_claims
from drevalkit.factcheck.evidence import bm25_scores, split_passages
from drevalkit.factcheck.sentences import content_blocks, segment
from drevalkit.llm import open_llm
from drevalkit.llm.tokens import estimate_messages_tokens
from drevalkit.schemas import Report
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer
from drevalkit.testing.page_server import PageServer
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.static_site import StaticSite

from .support import check_report

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
URLS = json.loads((SAMPLES / "corpus" / "urls.json").read_text())

LABELLED = """# Grid storage in 2024

Copy
Share

## Deployment

The Hornsdale Power Reserve opened in December 2017 [1]. It was expanded to 150 MW in 2020 [2][3].
Experts think storage matters.

| Country | GW |
| --- | --- |
| China | 35 |

```python
print("not prose")
```

## Outlook

- Tesla supplied the original 100 MW system [1].
- Costs fell by 90% between 2010 and 2023 (BNEF).

## References
[1] Hornsdale. https://a.example/h
[2] AEMO. https://b.example/a
[3] Neoen. https://c.example/n
"""

# hand labels: (section, sentence start, cited refs) of every sentence segmentation must keep, in order
EXPECTED = [
    ("Deployment", "The Hornsdale Power Reserve opened", [1]),
    ("Deployment", "It was expanded to 150 MW", [2, 3]),
    ("Deployment", "Experts think storage matters", []),
    ("Deployment", "Country: China; GW: 35", []),
    ("Outlook", "Tesla supplied the original 100 MW", [1]),
    ("Outlook", "Costs fell by 90%", []),
]


def _report(text: str) -> Report:
    from drevalkit.citations import parse_citations

    citations, meta = parse_citations(text)
    return Report(system="s", task_id="t", text=text, citations=citations, meta=meta)


def test_segmentation_matches_hand_labels():
    sentences = segment(_report(LABELLED))
    got = [(s.section, s.text, s.cited_refs) for s in sentences]
    assert len(got) == len(EXPECTED), got
    for (section, text, refs), (want_section, want_start, want_refs) in zip(got, EXPECTED):
        assert section == want_section and text.startswith(want_start) and refs == want_refs
    joined = " ".join(t for _, t in content_blocks(LABELLED))
    for boilerplate in ("Copy", "Share", "print(", "https://a.example", "Grid storage in 2024", "---"):
        assert boilerplate not in joined


def _extract(server, make_settings, report, max_claims, queries=2):
    async def go():
        client = open_llm(make_settings(server))
        try:
            return await extract_claims(report, client, max_claims, queries)
        finally:
            await client.close()

    return asyncio.run(go())


def test_claim_extraction_links_sentence_section_refs_and_budget(make_settings):
    with FakeOpenAIServer() as server:
        server.responder = rule_judge.respond
        result = _extract(server, make_settings, _report(LABELLED), max_claims=3)
        request = server.requests[0]
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["$defs"]["ExtractedClaim"]["properties"]["sentence_id"]["enum"] == [f"S{i}" for i in range(1, 7)]
    assert result.found == 5 and result.skipped == 2 and len(result.claims) == 3
    by_start = {c.sentence.split()[0]: c for c in result.claims}
    assert by_start["It"].cited_refs == [2, 3] and by_start["It"].section == "Deployment"
    assert [c.id for c in result.claims] == ["c1", "c2", "c3"]
    assert all(c.queries for c in result.claims)


def test_extraction_asks_for_at_most_the_claims_it_can_use_and_cuts_a_longer_list(make_settings):
    # the prompt asks for at most 5 (1.5 times a budget of 2, at least 5): the schema carries the same limit, and a
    # server that ignores it loses the tail of its list, with no repair round
    def eight(body):
        claims = [
            {
                "sentence_id": f"S{1 + i % 6}",
                "claim": f"Claim {i} about 2017.",
                "kind": "date",
                "worthiness": 0.1 * i,
                "queries": [f"query {i}"],
            }
            for i in range(8)
        ]
        return json.dumps({"claims": claims})

    with FakeOpenAIServer() as server:
        server.responder = eight
        result = _extract(server, make_settings, _report(LABELLED), max_claims=2)
        requests = server.requests
    assert len(requests) == 1  # accepted as sent: no repair round
    assert requests[0]["response_format"]["json_schema"]["schema"]["properties"]["claims"]["maxItems"] == 5
    assert "at most 5" in requests[0]["messages"][1]["content"]
    assert result.found == 5 and result.skipped == 3 and not result.failed_chunks
    assert sorted(c.text for c in result.claims) == ["Claim 3 about 2017.", "Claim 4 about 2017."]
    with FakeOpenAIServer() as server:
        server.responder = eight
        _extract(server, make_settings, _report(LABELLED), max_claims=6)
        assert "at most 9" in server.requests[0]["messages"][1]["content"]  # 1.5 times the budget of 6


def test_with_one_search_round_a_claim_gets_one_query(make_settings):
    """The second query is a spare for a later round: with one round the schema allows one, and a server that
    ignores the schema and sends two has the second cut, with no repair round."""

    def two_queries(body):
        claim = {"sentence_id": "S1", "claim": "It opened in 2017.", "kind": "date", "worthiness": 0.5}
        return json.dumps({"claims": [{**claim, "queries": ["first query", "second query"]}]})

    for queries in (1, 2):
        with FakeOpenAIServer() as server:
            server.responder = two_queries
            result = _extract(server, make_settings, _report(LABELLED), max_claims=2, queries=queries)
            schema = server.requests[0]["response_format"]["json_schema"]["schema"]
            assert len(server.requests) == 1
        assert schema["$defs"]["ExtractedClaim"]["properties"]["queries"]["maxItems"] == queries
        assert result.claims[0].queries == ["first query", "second query"][:queries]


def test_sentences_of_long_unbroken_strings_are_sent_for_claims_in_bounded_chunks(make_settings):
    # 600 "words" of 37,000 characters (keys, hashes, base64): counted in words alone they went in one call
    def key(i):
        return "".join(chr(97 + (j * 7919 + i) % 26) for j in range(300))

    text = " ".join(f"In {2000 + i % 20} the key was {key(i)} and {key(i + 1)}." for i in range(60))
    report = Report(system="s", task_id="t", text=f"# Keys\n\n{text}\n")
    with FakeOpenAIServer() as server:

        async def go():
            client = open_llm(make_settings(server))
            try:
                return await extract_claims(report, client, max_claims=5)
            finally:
                await client.close()

        extraction = asyncio.run(go())
        sizes = [estimate_messages_tokens(body["messages"]) for body in server.requests]
    assert extraction.sentences == 60 and not extraction.failed_chunks
    assert len(sizes) == 3 and max(sizes) < CHUNK_TOKENS + 1500  # the sentences and the instructions


def test_extraction_failure_is_reported_not_empty(make_settings):
    with FakeOpenAIServer() as server:
        server.responder = lambda body: "no json"
        result = _extract(server, make_settings, _report(LABELLED), max_claims=10)
    assert result.claims == [] and result.failed_chunks and "could not be extracted" in result.failed_chunks[0]


def test_passages_and_bm25():
    text = "\n".join(["Webb launched on 25 December 2021."] + ["Filler sentence about nothing much. " * 40])
    passages = split_passages(text, target_words=50)
    assert passages[0].startswith("Webb launched") and all(len(p.split()) <= 50 for p in passages)
    scores = bm25_scores("When did Webb launch in December?", passages)
    assert scores[0] == max(scores) > 0


def test_passages_ranked_with_their_pages_terms_score_as_from_their_text():
    """A page's passages are split into terms once (issue 20), and rank the same as passages read afresh."""
    from drevalkit.factcheck.checker import _read_page
    from drevalkit.factcheck.evidence import Candidate, rank

    text = (SAMPLES / "corpus" / "cost.html").read_text()
    page = _read_page(" ".join(text.split()[:400]) + "\n" + "Webb cost 10 billion dollars by launch in 2021.")

    def candidates(with_terms: bool) -> list[Candidate]:
        return [
            Candidate("u", "t", passage, "x", "now", "search", terms=words if with_terms else None)
            for passage, words in zip(page.passages, page.terms, strict=True)
        ]

    assert len(page.passages) > 3
    fresh = rank("What did the Webb telescope cost by 2021?", candidates(False), 10)
    kept = rank("What did the Webb telescope cost by 2021?", candidates(True), 10)
    assert [(c.passage, c.score) for c in kept] == [(c.passage, c.score) for c in fresh]
    assert "Webb cost 10 billion" in kept[0].passage and kept[0].score > 0


@pytest.fixture
def web(tmp_path):
    """The sample corpus served over HTTP, a search API that indexes it, and the sample report citing it."""
    with StaticSite(SAMPLES / "corpus") as site, FakeSearchServer() as search:
        search.corpus = [
            {
                "url": site.url(name),
                "title": name,
                "text": re.sub(r"<[^>]+>", " ", (SAMPLES / "corpus" / name).read_text()),
            }
            for name in URLS
        ]
        text = (SAMPLES / "report.md").read_text()
        for name, url in URLS.items():
            text = text.replace(url, site.url(name))
        report_path = tmp_path / "report.md"
        report_path.write_text(text)
        yield site, search, report_path


def test_factcheck_end_to_end_cites_fetched_evidence(web, make_settings):
    site, search, report_path = web
    with FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond
        settings = make_settings(judge, search="searxng", searxng_url=search.url("searxng"), allow_private_urls=True)
        result, usage = check_report(judge, settings, report_path)
    assert result.status == "complete", result.reasons
    assert len(result.claims) > 10
    assert result.counts.right > 0 and result.counts.wrong > 0
    fetched = {f.url: f for f in result.fetches}
    evidence = {e.id: e for e in result.evidence}
    for verdict in result.verdicts:
        if verdict.label in ("right", "wrong"):
            assert verdict.evidence_ids
        for eid in verdict.evidence_ids:
            item = evidence[eid]
            assert fetched[item.url].ok and item.content_sha256 == fetched[item.url].content_sha256
    assert all(count == 1 for count in site.hits.values())  # no URL fetched twice
    queries = [r["params"]["q"] for r in search.requests]
    assert len(queries) == len(set(queries))  # no query sent twice
    assert len(search.requests) / len(result.claims) <= 2.0
    assert result.citation_accuracy is not None
    wrong = [c.text for c in result.claims if any(v.claim_id == c.id and v.label == "wrong" for v in result.verdicts)]
    assert any("6 billion" in t for t in wrong), wrong  # the deliberate error in the sample report
    assert usage.searches == len(queries) and usage.fetches == len(result.fetches)

    # replay: stored evidence and cached answers only, zero network calls, the same verdicts
    calls, hits, searches = judge.completions, dict(site.hits), len(search.requests)
    with FakeOpenAIServer() as judge2:
        settings2 = settings.model_copy(update={"base_url": judge.url})
        replayed, usage2 = check_report(judge2, settings2, report_path, replay=True)
    assert [v.model_dump() for v in replayed.verdicts] == [v.model_dump() for v in result.verdicts]
    assert usage2.calls == 0 and judge.completions == calls and dict(site.hits) == hits
    assert len(search.requests) == searches and replayed.replay


def test_search_counts_are_of_distinct_queries_and_usage_counts_requests_sent(make_settings, tmp_path):
    # two claims open with the same ten words, so the rule judge gives them the same query: 3 claims, 2 queries
    report = tmp_path / "shared.md"
    report.write_text(
        "# Plants\n\nThe plant in the north of the region near the coast opened in 2017 with 100 MW.\n\n"
        "The plant in the north of the region near the coast grew to 150 MW in 2020.\n\n"
        "A second site in the south reached 80 MW in 2019.\n"
    )
    with FakeSearchServer(corpus=[]) as search, FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond
        settings = make_settings(judge, search="searxng", searxng_url=search.url("searxng"), rounds=1)
        result, usage = check_report(judge, settings, report)
        sent = len(search.requests)
        _, again = check_report(judge, settings, report)  # every answer is stored now
    assert len(result.claims) == 3 and sent == 2
    assert _queries_allowed(judge.requests) == 1  # one round: no spare query
    assert result.reasons[0].endswith("no fetch failed, searxng search found nothing"), result.reasons
    assert usage.searches == sent  # each request sent, once; not each claim that asked
    assert again.searches == 0 and len(search.requests) == sent  # stored answers are not searches sent


def test_active_round_retries_unknown_claims(web, make_settings):
    site, search, report_path = web
    with FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond
        settings = make_settings(
            judge, search="searxng", searxng_url=search.url("searxng"), allow_private_urls=True, rounds=2
        )
        result, _ = check_report(judge, settings, report_path)
    second = [v for v in result.verdicts if v.round == 2]
    queries = [r["params"]["q"] for r in search.requests]
    assert second and any(q.endswith(" facts") for q in queries)
    # the follow-up queries are asked for in the first round only: the last has no later search to use them
    verifying = [r for r in judge.requests if r["response_format"]["json_schema"]["name"] == "BatchVerdicts"]
    asked = [
        "follow_up_query" in next(iter(r["response_format"]["json_schema"]["schema"]["$defs"].values()))["properties"]
        for r in verifying
    ]
    assert asked[0] and not asked[-1]
    assert _queries_allowed(judge.requests) == 2  # a spare query for the second round


def _queries_allowed(requests: list[dict]) -> int:
    extracting = next(r for r in requests if r["response_format"]["json_schema"]["name"] == "ExtractedClaims")
    return extracting["response_format"]["json_schema"]["schema"]["$defs"]["ExtractedClaim"]["properties"]["queries"][
        "maxItems"
    ]


def test_hostile_cited_urls_finish_within_cap(make_settings, tmp_path):
    with PageServer() as pages, FakeSearchServer() as search, FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond
        # (never a redirect to a non-loopback address here: with the guard off it would really be requested)
        hostile = ["/drip", "/stall", "/huge", "/gzip-bomb", "/image.png", "/loop", "/error", "/huge-declared"]
        refs = "\n".join(f"[{i}] Page {i}. {pages.url(p)}" for i, p in enumerate(hostile, start=1))
        markers = "".join(f"[{i}]" for i in range(1, len(hostile) + 1))
        path = tmp_path / "hostile.md"
        path.write_text(f"# R\n\nThe plant opened in 2017 with 100 MW {markers}.\n\n## References\n{refs}\n")
        settings = make_settings(
            judge,
            search="searxng",
            searxng_url=search.url("searxng"),
            allow_private_urls=True,
            fetch_total_timeout=1.5,
            fetch_max_mb=1,
        )
        started = time.monotonic()
        result, _ = check_report(judge, settings, path)
        elapsed = time.monotonic() - started
    assert elapsed < 15
    records = {f.url: f for f in result.fetches}
    for page in hostile:
        record = records[pages.url(page)]
        assert not record.ok and record.error
    assert result.verdicts[0].label == "unknown"


def test_private_urls_are_not_fetched_without_permission(make_settings, tmp_path):
    with PageServer() as pages, FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond
        path = tmp_path / "r.md"
        path.write_text(f"# R\n\nThe plant opened in 2017 [1].\n\n## References\n[1] P. {pages.url('/article')}\n")
        settings = make_settings(judge, search="local")
        result, _ = check_report(judge, settings, path)
    assert sum(pages.hits.values()) == 0
    assert all(not f.ok and "private" in f.error for f in result.fetches)


def test_paragraph_longer_than_the_sentence_splitter_accepts_is_split_first(monkeypatch):
    from drevalkit.factcheck import sentences as segmentation

    nlp = segmentation.sentence_splitter()
    monkeypatch.setattr(nlp, "max_length", 20_000)  # spaCy raises on longer texts, as it does on > 1M by default
    monkeypatch.setattr(segmentation, "MAX_BLOCK_CHARS", 10_000)
    text = " ".join(f"Mission {i} launched {i} satellites in 2024." for i in range(1500))  # one 65K-char paragraph
    assert len(text) > 3 * nlp.max_length
    sentences = segmentation.segment(Report(system="s", task_id="t", text=text))
    assert len(sentences) == 1500
    assert sentences[-1].text == "Mission 1499 launched 1499 satellites in 2024."
    text = "One two. Three four five. " + "x" * 50
    spans = segmentation._bounded_spans(text, 30)
    assert text[slice(*spans[0])] == "One two. Three four five. " and all(end - start <= 30 for start, end in spans)


def _cited_report(tmp_path, live: int, dead: int) -> tuple[Path, Path]:
    """A report of claims with figures, each citing its own source: ``live`` pages in a folder to serve (each
    stating its claim), ``dead`` on hosts that do not resolve. Returns (report, site folder)."""
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    lines, refs = ["# Report", ""], []
    for n in range(1, live + dead + 1):
        # dead claims share no word with the live pages: the local search must not find a live page fetched earlier
        # in the run for them (which one is fetched first depends on timing)
        sentence = (
            f"The observatory recorded {100 + n} events in {2000 + n}"
            if n <= live
            else f"Harbour cranes lifted {100 + n} containers during {2000 + n}"
        )
        lines.append(f"{sentence} [{n}].")
        if n <= live:
            (folder / f"p{n}.html").write_text(
                f"<html><head><title>Log {n}</title></head><body><article><p>"
                f"{sentence}, the yearly log shows.</p></article></body></html>"
            )
            refs.append(f"[{n}] Log {n}. {{site}}/p{n}.html")
        else:
            refs.append(f"[{n}] Dead source {n}. http://dead-source-{n}.invalid/page")
    path = tmp_path / f"cited-{live}-{dead}.md"
    path.write_text("\n".join(lines + ["", "## References"] + refs) + "\n")
    return path, folder


@pytest.mark.parametrize("live, dead, status", [(0, 4, "failed"), (1, 3, "partial"), (3, 1, "complete")])
def test_factcheck_status_tells_how_much_evidence_it_had(make_settings, tmp_path, live, dead, status):
    report, folder = _cited_report(tmp_path, live, dead)
    with StaticSite(folder) as site, FakeOpenAIServer() as judge:
        report.write_text(report.read_text().replace("{site}", site.url("").rstrip("/")))
        judge.responder = rule_judge.respond
        # local search over an empty store; generous limits: the statuses must not depend on machine load
        settings = make_settings(judge, allow_private_urls=True, rounds=1, timeout=30.0, search_timeout=60.0)
        result, _ = check_report(judge, settings, report)
    assert len(result.claims) == live + dead
    assert result.status == status, result.reasons
    assert result.evidence_coverage == pytest.approx(live / (live + dead))
    assert result.citation_reachability == pytest.approx(live / (live + dead))
    assert result.fetch_failures == {"DNS": dead}
    assert [s.reachable for s in result.cited_sources] == [True] * live + [False] * dead
    if status == "failed":
        assert result.reasons[0] == (
            f"no evidence retrieved for any of the {dead} claims: {dead} fetches failed "
            f"(DNS {dead}), local search found nothing"
        )
        assert result.citation_accuracy is None
    elif status == "partial":
        assert result.reasons[0].startswith(f"evidence for only {live} of {live + dead} claims (coverage 25%")
    if live:
        assert sum(s.supported for s in result.cited_sources) == live and result.citation_accuracy == 1.0
        assert result.counts.right == live


def test_sources_linked_inline_are_fetched_as_cited_sources(make_settings, tmp_path):
    report, folder = _cited_report(tmp_path, 2, 0)
    with StaticSite(folder) as site, FakeOpenAIServer() as judge:
        text = (
            "# Report\n\n"
            + "\n".join(
                f"The observatory recorded {100 + n} events in {2000 + n} ([yearly log]({site.url(f'p{n}.html')}))."
                for n in (1, 2)
            )
            + "\n"
        )
        report.write_text(text)
        judge.responder = rule_judge.respond
        settings = make_settings(judge, allow_private_urls=True, rounds=1)
        result, _ = check_report(judge, settings, report)
        prompts = [
            r["messages"][1]["content"]
            for r in judge.requests
            if "BatchVerdicts" in json.dumps(r.get("response_format", {}))
        ]
    assert [c.cited_urls for c in result.claims] == [[site.url("p1.html")], [site.url("p2.html")]]
    assert result.status == "complete" and result.counts.right == 2
    assert [(s.index, s.reachable, s.supported) for s in result.cited_sources] == [(None, True, 1), (None, True, 1)]
    assert result.citation_accuracy == 1.0 and result.citation_reachability == 1.0
    assert all(e.via == "citation" and e.cited_ref is None for e in result.evidence)
    assert "(cited by the report inline)" in prompts[0] and "None" not in prompts[0].split("Claims to check")[0]


def test_a_report_with_nothing_checked_is_never_complete(make_settings, tmp_path):
    cjk = tmp_path / "zh.md"
    cjk.write_text("# 报告\n\n韦布望远镜由美国国家航空航天局与欧洲和加拿大的航天机构合作建造，是哈勃望远镜的继任者。\n")
    empty = tmp_path / "nothing.md"
    empty.write_text("# Notes\n\n---\n")
    with FakeOpenAIServer() as judge:
        judge.responder = rule_judge.respond  # extracts only sentences with figures: none here
        settings = make_settings(judge, rounds=1)
        zh, _ = check_report(judge, settings, cjk)
        nothing, _ = check_report(judge, settings, empty)
    assert zh.status == "partial" and "no verifiable claims found in the report's 1 sentences" in zh.reasons[0]
    assert nothing.status == "failed" and "no sentences could be read" in nothing.reasons[0]
