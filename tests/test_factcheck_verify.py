"""Verdicts must stand on their evidence, whatever the judge says: quotes are checked against the passages, and a
``right`` verdict whose figures differ from its quote is re-verified once with the discrepancy named."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Literal

import pytest
from pydantic import Field, ValidationError, create_model

from drevalkit.factcheck.numbers import figures, mismatches
from drevalkit.factcheck.verify import (
    BatchPassages,
    BatchVerdicts,
    quote_in,
    verdict_output,
    verdict_schema,
    verify_batch,
)
from drevalkit.llm import open_llm, strict_json_schema
from drevalkit.schemas import Claim, Evidence, StrictModel, Usage
from drevalkit.testing.openai_server import FakeOpenAIServer

PASSAGE = (
    "The programme was approved in 2011. In that year Congress capped the development cost at US$8 billion, "
    "after a review found the earlier estimate of “US$5 billion” unrealistic."
)


def test_quote_matching_ignores_whitespace_case_quotes_and_emphasis():
    assert quote_in("congress capped the  development cost at **US$8 billion**", [PASSAGE])
    assert quote_in('the earlier estimate of "US$5 billion" unrealistic', [PASSAGE])
    assert quote_in("The programme was approved ... capped the development cost", [PASSAGE])  # an ellipsis skips
    assert not quote_in("Congress capped development costs at US$6 billion", [PASSAGE])  # the claim, not the source
    assert not quote_in("capped the development cost ... The programme was approved", [PASSAGE])  # out of order
    assert not quote_in("US$8 billion", [PASSAGE])  # too short to show anything
    assert not quote_in("", [PASSAGE])


def test_figures_and_mismatches():
    assert [(f.kind, f.value) for f in figures("capped at US$6 billion in 2011, up 12.5%, 3,400 units, €1.2m")] == [
        ("money", 6e9),
        ("year", 2011),
        ("percent", 12.5),
        ("number", 3400),
        ("money", 1.2e6),
    ]
    assert mismatches("Congress capped costs at US$6 billion.", PASSAGE)
    assert not mismatches("Congress capped costs at $8bn in 2011.", PASSAGE)
    assert not mismatches("It cost about US$8.5 billion.", PASSAGE)  # hedged: within 10%
    assert not mismatches("It launched with 3 instruments.", "It was approved in 2011.")  # no figure of that kind
    assert mismatches("It launched in 2024.", "It launched on 25 December 2021.")  # years match exactly
    assert not mismatches("It launched in 2021.", "It launched on 25 December 2021.")


CLAIMS = [
    Claim(id="c1", text="Congress capped development costs at US$6 billion.", sentence="s"),
    Claim(id="c2", text="The programme was approved in 2011.", sentence="s"),
    Claim(id="c3", text="Congress capped the development cost at US$8 billion.", sentence="s"),
]
EVIDENCE = Evidence(
    id="e1", url="https://a.example/cost", passage=PASSAGE, retrieved_at="now", content_sha256="x", via="search"
)
# another claim's passage, with an id unlike the names the verifier knows passages by (passage-1, passage-2, ...)
APPROVAL = Evidence(
    id="e07a11c0ffee",
    url="https://b.example/",
    passage="It was approved in 2011.",
    retrieved_at="now",
    content_sha256="y",
    via="search",
)


def _answer(label: str, quote: str) -> dict:
    return {
        "quote": quote,
        "rationale": "r",
        "label": label,
        "evidence_ids": ["passage-1"],
        "cited_source_supports": "not_cited",
        "follow_up_query": "",
    }


def _verify(make_settings, answers, **settings):
    """Run the real verifier against a server that answers ``answers(request number, claim ids, prompt)``."""
    with FakeOpenAIServer() as server:

        def respond(body):
            ids = body["response_format"]["json_schema"]["schema"]["required"]
            return json.dumps(answers(len(server.requests), ids, body["messages"][1]["content"]))

        server.responder = respond

        async def go():
            client = open_llm(make_settings(server, **settings))
            try:
                return await verify_batch(client, CLAIMS, {c.id: [EVIDENCE] for c in CLAIMS}, 1, Usage())
            finally:
                await client.close()

        verdicts, _ = asyncio.run(go())
        return {v.claim_id: v for v in verdicts}, server.requests


def test_a_judge_that_calls_everything_right_is_held_to_its_evidence(make_settings):
    def always_right(number, ids, prompt):
        quotes = {
            "c1": CLAIMS[0].text,  # quotes the claim itself, as the small local judge does, every time
            "c2": "The programme was approved in 2011.",
            "c3": "Congress capped the development cost at US$8 billion",
        }
        return {cid: _answer("right", quotes[cid]) for cid in ids}

    verdicts, requests = _verify(make_settings, always_right)
    assert len(requests) == 2  # c1 is sent back once: its quote is not in the passage
    assert requests[1]["response_format"]["json_schema"]["schema"]["required"] == ["c1"]
    assert "not in the passages it cites (passage-1)" in requests[1]["messages"][1]["content"]
    assert verdicts["c1"].label == "unknown" and verdicts["c1"].reverified
    assert "quote not found in evidence" in verdicts["c1"].flags[0]
    assert verdicts["c2"].label == "right" and not verdicts["c2"].flags and not verdicts["c2"].reverified
    assert verdicts["c3"].label == "right" and not verdicts["c3"].flags


def test_a_verdict_with_a_bad_quote_stands_once_the_judge_quotes_its_evidence(make_settings):
    def quotes_better_when_told(number, ids, prompt):
        quote = CLAIMS[0].text if number == 1 else "Congress capped the development cost at US$8 billion"
        return {
            cid: _answer(
                "wrong" if cid == "c1" else "right",
                quote
                if cid == "c1"
                else {"c2": "The programme was approved in 2011.", "c3": "capped the development cost at US$8 billion"}[
                    cid
                ],
            )
            for cid in ids
        }

    verdicts, requests = _verify(make_settings, quotes_better_when_told)
    assert len(requests) == 2
    assert verdicts["c1"].label == "wrong" and verdicts["c1"].reverified
    assert verdicts["c1"].quote == "Congress capped the development cost at US$8 billion"
    assert "quote not found in evidence" in verdicts["c1"].flags[0]  # what happened first is still recorded


def test_right_verdict_with_other_figures_is_sent_back_once_with_the_discrepancy(make_settings):
    quote = "Congress capped the development cost at US$8 billion"

    def stubborn(number, ids, prompt):
        return {cid: _answer("right", quote if cid != "c2" else "The programme was approved in 2011.") for cid in ids}

    verdicts, requests = _verify(make_settings, stubborn)
    assert len(requests) == 2
    note = requests[1]["messages"][1]["content"]
    assert "'US$6 billion'" in note and "'US$8 billion'" in note and "A note from dreval" in note
    assert requests[1]["response_format"]["json_schema"]["schema"]["required"] == ["c1"]
    c1 = verdicts["c1"]
    assert c1.label == "unknown" and c1.reverified and any("numbers differ" in f for f in c1.flags)

    def corrected(number, ids, prompt):
        label = "wrong" if number == 2 else "right"
        return {cid: _answer(label if cid == "c1" else "right", quote) for cid in ids}

    verdicts, requests = _verify(make_settings, corrected)
    assert verdicts["c1"].label == "wrong" and verdicts["c1"].reverified
    assert any("numbers differ" in f for f in verdicts["c1"].flags)  # recorded either way


def test_without_reverification_the_flag_is_recorded_and_the_label_kept(make_settings):
    def right(number, ids, prompt):
        return {cid: _answer("right", "Congress capped the development cost at US$8 billion") for cid in ids}

    verdicts, requests = _verify(make_settings, right, reverify=False)
    assert len(requests) == 1
    assert verdicts["c1"].label == "right" and not verdicts["c1"].reverified
    assert verdicts["c1"].flags == [
        "numbers differ: the claim says 'US$6 billion' but the quoted evidence says 'US$8 billion'"
    ]
    # c2's year is not in that quote, but a quote without any year cannot contradict it: no flag
    assert verdicts["c2"].label == "right" and not verdicts["c2"].flags


def test_quotes_that_prove_nothing_do_not_pass():
    assert not quote_in("the ... and ... the", [PASSAGE])  # some piece must hold three words or more
    assert quote_in("Congress ... capped the development cost at US$8 billion", [PASSAGE])
    assert not quote_in("he programme was approv", [PASSAGE])  # word boundaries
    assert quote_in("the programme was approved", [PASSAGE])


def test_a_figure_free_quote_cannot_vouch_for_the_claims_figures(make_settings):
    def vague(number, ids, prompt):
        return {cid: _answer("right", "Congress capped the development cost") for cid in ids}

    verdicts, requests = _verify(make_settings, vague)
    assert len(requests) == 2  # c1 (US$6 billion against a passage saying US$8 billion) is sent back
    assert verdicts["c1"].label == "unknown" and any("numbers differ" in f for f in verdicts["c1"].flags)


def test_a_right_verdict_with_other_figures_that_cannot_be_rechecked_is_unknown(make_settings):
    def then_fail(number, ids, prompt):
        if number > 1:
            return {"not": "a verdict"}  # invalid output, no repair allowed: the re-verification fails
        return {cid: _answer("right", "Congress capped the development cost at US$8 billion") for cid in ids}

    verdicts, _ = _verify(make_settings, then_fail, invalid_retries=0)
    assert verdicts["c1"].label == "unknown"
    assert any(f.startswith("re-verification failed") for f in verdicts["c1"].flags)


def _model_per_batch(per_claim: dict[str, list[str]]) -> dict[str, Any]:
    """The schema of the pydantic model once built for every batch (a Literal of each claim's ids), as sent."""
    fields: dict[str, Any] = {}
    for i, (claim_id, ids) in enumerate(per_claim.items()):
        evidence = (list[Literal[tuple(ids)]], Field(max_length=5)) if ids else (list[str], Field(max_length=0))
        item = create_model(
            f"Verdict{i}",
            __base__=StrictModel,
            quote=(
                str,
                Field(description="the evidence sentence that addresses the claim, copied exactly; empty if none"),
            ),
            rationale=(str, Field(description="one to three sentences comparing the claim with the quote")),
            label=(Literal["right", "wrong", "unknown"], ...),
            evidence_ids=evidence,
            cited_source_supports=(Literal["yes", "no", "unclear", "not_cited"], ...),
            follow_up_query=(str, Field(description="for unknown claims: a better search query; else empty")),
        )
        fields[f"v{i}"] = (item, Field(alias=claim_id))
    return strict_json_schema(create_model("BatchVerdicts", __base__=StrictModel, **fields))


@pytest.mark.parametrize(
    "per_claim",
    [
        {"c1": ["e1a", "e2b"], "c2": [], "c3": ["e9c"]},
        {"c7": ["e0123456789"]},
        {"c2": [], "c5": ["e1", "e2", "e3", "e4", "e5", "e6"]},
    ],
)
def test_the_verdict_schema_is_the_one_the_per_batch_model_had(per_claim):
    # key for key and in order: the same request text, so the LLM cache keys and the server's prefix stay the same
    assert json.dumps(verdict_schema(per_claim)) == json.dumps(_model_per_batch(per_claim))


def _verdicts(evidence: dict[str, list[str]]) -> dict[str, Any]:
    return {cid: {**_answer("right", "q"), "evidence_ids": ids} for cid, ids in evidence.items()}


def test_a_verdict_may_cite_only_its_own_claims_evidence():
    first = verdict_output({"c1": ["e1"], "c2": ["e2"]})
    second = verdict_output({"c1": ["e3"], "c2": []})  # another batch after it: no shape is shared between them
    assert first.validate(_verdicts({"c1": ["e1"], "c2": ["e2"]})).root["c2"].evidence_ids == ["e2"]
    assert second.validate(_verdicts({"c1": ["e3"], "c2": []})).root["c1"].evidence_ids == ["e3"]
    refused = [
        (first, {"c1": ["e2"], "c2": ["e2"]}, "c1.evidence_ids: 'e2' is not one of this claim's (e1)"),  # c2's id
        (
            first,
            {"c1": ["e3"], "c2": ["e2"]},
            "c1.evidence_ids: 'e3' is not one of this claim's (e1)",
        ),  # another batch's
        (second, {"c1": ["e3"], "c2": ["e3"]}, "c2.evidence_ids: 'e3' is not one of this claim's (none: cite nothing)"),
        (second, {"c1": ["e1"], "c2": []}, "c1.evidence_ids: 'e1' is not one of this claim's (e3)"),
        (first, {"c1": ["e1"]}, "c2: Field required"),
        (first, {"c1": ["e1"], "c2": ["e2"], "c9": []}, "c9: Extra inputs are not permitted"),
        (first, {"c1": ["e1"] * 6, "c2": ["e2"]}, "at most 5 items"),
    ]
    for output, answer, problem in refused:
        with pytest.raises(ValidationError, match=re.escape(problem)):
            output.validate(_verdicts(answer))
    with pytest.raises(ValidationError, match="no claims to check the verdicts against"):
        BatchVerdicts.model_validate(_verdicts({"c1": ["e1"]}))  # without its batch's ids, nothing is accepted


def test_a_verdict_citing_another_claims_evidence_is_sent_back(make_settings):
    """Through the real client and server: the answer is invalid output, repaired in a second turn, as when the
    schema was a model of its own. The verifier knows the passages by their names in the prompt (passage-1 for c2's, passage-2
    for c3's); the verdicts come back with the evidence ids."""
    claims = CLAIMS[1:]

    def answers(number: int) -> dict[str, Any]:
        c3_cites = ["passage-1"] if number == 1 else ["passage-2"]  # first c2's passage, then its own
        return {
            "c2": {**_answer("right", "It was approved in 2011."), "evidence_ids": ["passage-1"]},
            "c3": {
                **_answer("right", "Congress capped the development cost at US$8 billion"),
                "evidence_ids": c3_cites,
            },
        }

    with FakeOpenAIServer() as server:
        server.responder = lambda body: json.dumps(answers(len(server.requests)))

        usage = Usage()

        async def go():
            client = open_llm(make_settings(server))
            try:
                return await verify_batch(client, claims, {"c2": [APPROVAL], "c3": [EVIDENCE]}, 1, usage)
            finally:
                await client.close()

        verdicts, _ = asyncio.run(go())
    assert len(server.requests) == 2 and usage.calls == 2 and usage.repairs == 1
    assert (
        "c3.evidence_ids: 'passage-1' is not one of this claim's (passage-2)"
        in server.requests[1]["messages"][-1]["content"]
    )
    assert "[passage-1]" in server.requests[0]["messages"][1]["content"] and APPROVAL.id not in str(server.requests)
    assert [(v.label, v.evidence_ids) for v in verdicts] == [("right", [APPROVAL.id]), ("right", ["e1"])]


def test_the_last_rounds_verdicts_ask_for_no_follow_up_query():
    """No later search could use it: the schema lacks it (fewer tokens to generate), and an answer without it is
    read as asking for nothing; earlier rounds' schemas keep it required."""
    per_claim = {"c1": ["e1"], "c2": []}
    earlier, last = verdict_schema(per_claim), verdict_schema(per_claim, follow_up=False)
    for defs in earlier["$defs"].values():
        assert defs["required"][-1] == "follow_up_query" and "follow_up_query" in defs["properties"]
    for defs in last["$defs"].values():
        assert "follow_up_query" not in defs["properties"] and "follow_up_query" not in defs["required"]
        assert set(defs["required"]) == set(defs["properties"])
    answer = {
        cid: {k: v for k, v in verdict.items() if k != "follow_up_query"}
        for cid, verdict in _verdicts({"c1": ["e1"], "c2": []}).items()
    }
    assert verdict_output(per_claim, follow_up=False).validate(answer).root["c1"].follow_up_query == ""


def test_claims_sent_back_are_asked_after_the_same_passages_as_the_first_time(make_settings):
    """The second question repeats the first one's passages, in order, up to the claims: the server evaluates only
    the claims sent back and their notes again (the prompt cache keeps the rest), not a new list of passages."""
    claims = [CLAIMS[1], CLAIMS[0]]  # c2 stands on its passage; c1 (quoting itself) goes back
    evidence_for = {"c2": [APPROVAL], "c1": [EVIDENCE]}

    def answers(body: dict) -> str:
        ids = body["response_format"]["json_schema"]["schema"]["required"]
        quotes = {
            "c2": ("It was approved in 2011.", "passage-1"),
            "c1": (CLAIMS[0].text, "passage-2"),
        }  # by their names
        return json.dumps({c: {**_answer("right", quotes[c][0]), "evidence_ids": [quotes[c][1]]} for c in ids})

    with FakeOpenAIServer() as server:
        server.responder = answers

        async def go():
            client = open_llm(make_settings(server))
            try:
                return await verify_batch(client, claims, evidence_for, 1, Usage())
            finally:
                await client.close()

        verdicts, _ = asyncio.run(go())
    first, second = (r["messages"][1]["content"] for r in server.requests)
    assert server.requests[1]["response_format"]["json_schema"]["schema"]["required"] == ["c1"]
    passages = first.split("Claims to check")[0]
    assert second.split("Claims to check")[0] == passages and "approved in 2011" in passages
    assert "\nc2 (" not in second.split("Claims to check")[1]  # only the claim sent back is asked again
    assert [(v.label, v.evidence_ids) for v in verdicts] == [("right", [APPROVAL.id]), ("unknown", ["e1"])]
    assert "cites (passage-2)" in second  # the note names the passage as the verifier knows it


def test_a_passage_found_for_two_claims_is_shown_once_and_each_verdict_keeps_its_own_evidence(make_settings):
    """The same passage reached c1 through the report's citation and c3 by search (two evidence records): the
    verifier reads it once, marked as cited, under one name, and each claim's verdict maps that name back to the
    claim's own record."""
    cited = EVIDENCE.model_copy(update={"id": "e0c17ed0000", "via": "citation", "cited_ref": 2})
    found = EVIDENCE.model_copy(update={"id": "e5ea2c40000"})
    evidence_for = {"c1": [found, APPROVAL], "c3": [cited]}

    def answers(body: dict) -> str:
        assert body["response_format"]["json_schema"]["schema"]["required"] == ["c1", "c3"]
        quote = "Congress capped the development cost at US$8 billion"
        return json.dumps(
            {
                "c1": {**_answer("wrong", quote), "evidence_ids": ["passage-1"]},
                "c3": {**_answer("right", quote), "evidence_ids": ["passage-1"]},
            }
        )

    with FakeOpenAIServer() as server:
        server.responder = answers

        async def go():
            client = open_llm(make_settings(server))
            try:
                return await verify_batch(client, [CLAIMS[0], CLAIMS[2]], evidence_for, 1, Usage())
            finally:
                await client.close()

        verdicts, _ = asyncio.run(go())
    (request,) = server.requests
    prompt = request["messages"][1]["content"]
    assert prompt.count("<<<EVIDENCE ") == 2 and prompt.count("estimate of “US$5 billion” unrealistic") == 1
    assert "[passage-1] (cited by the report as [2])" in prompt and "[passage-2]\n" in prompt
    assert "c1 (evidence for this claim: passage-1, passage-2):" in prompt
    assert "c3 (evidence for this claim: passage-1):" in prompt
    assert [(v.label, v.evidence_ids) for v in verdicts] == [("wrong", [found.id]), ("right", [cited.id])]


def test_a_claim_without_evidence_lists_no_passage_and_a_claim_with_one_passage_twice_lists_it_once():
    """Edge cases of the names: a claim with nothing fetched is asked with no passage; a claim that reached the same
    passage twice (its citation and its search) knows it by one name, which maps back to its first record."""
    cited = EVIDENCE.model_copy(update={"id": "e0c17ed0000", "via": "citation", "cited_ref": 1})
    passages = BatchPassages.of(CLAIMS, {"c1": [EVIDENCE, cited], "c3": [APPROVAL]})
    assert passages.own == {"c1": {"passage-1": "e1"}, "c2": {}, "c3": {"passage-2": APPROVAL.id}}
    assert [(e.id, e.via) for e in passages.shown] == [("passage-1", "citation"), ("passage-2", "search")]
    assert passages.names == {"e1": "passage-1", cited.id: "passage-1", APPROVAL.id: "passage-2"}
