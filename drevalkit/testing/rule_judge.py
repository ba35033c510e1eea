"""A deterministic rule-based stand-in for an LLM on the fact-check prompts, plugged into FakeOpenAIServer.

Extraction: every numbered sentence with a figure becomes a claim. Verification: a claim is right when one evidence
passage contains all its figures, wrong when a passage on the same subject (most of its words) has other figures,
unknown otherwise (with a follow-up query); the quote is the passage sentence holding the figures (or sharing most
words). Other prompts fall back to the server's schema-driven answers.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SENTENCE = re.compile(r"^(S\d+): (.+)$", re.MULTILINE)
# A fenced block (drevalkit.prompts.fence): <<<NAME id>>> ... <<<END NAME id>>>, with the line before it.
_BLOCK = r"<<<{name} (?P<block>[0-9a-f]+)>>>\n(.*?)\n?<<<END {name} (?P=block)>>>"
_EVIDENCE = re.compile(
    r"^\[([\w-]+)\]( \(cited by the report[^)\n]*\))?\n" + _BLOCK.format(name="EVIDENCE"),
    re.MULTILINE | re.DOTALL,
)
_CLAIM = re.compile(
    r"^(c\d+) \(evidence for this claim: ([^;)]+)(?:;[^)]*)?\):\n" + _BLOCK.format(name="CLAIM"),
    re.MULTILINE | re.DOTALL,
)
_BLOCK_END = re.compile(r"<<<END [A-Z_]+ [0-9a-f]+>>>")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_WORD = re.compile(r"[a-z]{4,}")
_MARKER = re.compile(r"\[\d+(?:[,\-]\s*\d+)*\]")


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def _sentences(passage: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", passage) if s.strip()]


def _quote(passage: str, figures: set[str], words: set[str]) -> str:
    """The passage sentence that holds the claim's figures, else the one sharing most of its words."""
    sentences = _sentences(passage) or [passage]
    for sentence in sentences:
        if figures and figures <= _numbers(sentence):
            return sentence
    return max(sentences, key=lambda s: len(words & set(_WORD.findall(s.lower()))))


def _schema_name(body: dict[str, Any]) -> str:
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")


def _after_blocks(prompt: str) -> str:
    """The instructions after the last fenced block (the blocks may hold any text)."""
    ends = list(_BLOCK_END.finditer(prompt))
    return prompt[ends[-1].end() :] if ends else prompt


def extract(prompt: str, schema: dict[str, Any]) -> str:
    stated = re.search(r"at most (\d+)", _after_blocks(prompt))
    assert stated is not None  # the extraction prompt always states how many claims it wants at most
    limit = int(stated.group(1))
    allowed = set(schema["$defs"]["ExtractedClaim"]["properties"]["sentence_id"]["enum"])
    claims = []
    for sentence_id, text in _SENTENCE.findall(prompt):
        text = _MARKER.sub("", text).strip()
        if sentence_id in allowed and _numbers(text):
            claims.append(
                {
                    "sentence_id": sentence_id,
                    "claim": text,
                    "kind": "number",
                    "worthiness": min(1.0, 0.3 + 0.1 * len(_numbers(text))),
                    "queries": [" ".join(text.split()[:10])],
                }
            )
    return json.dumps({"claims": claims[:limit]})


def verify(prompt: str, schema: dict[str, Any]) -> str:
    # the passage is what follows the title and URL lines of its block
    all_evidence = [
        (eid, bool(cited), block.split("\n\n", 1)[-1]) for eid, cited, _, block in _EVIDENCE.findall(prompt)
    ]
    claims, own = {}, {}
    for claim_id, ids, _, text in _CLAIM.findall(prompt):
        claims[claim_id] = text
        own[claim_id] = {e.strip() for e in ids.split(",")} - {"none"}
    answer = {}
    asked = next(iter(schema["$defs"].values()))["properties"] if schema.get("$defs") else {}
    for claim_id in schema["required"]:
        text = claims[claim_id]
        evidence = [item for item in all_evidence if item[0] in own.get(claim_id, set())]
        figures = _numbers(text)
        words = set(_WORD.findall(text.lower()))
        verdict = {
            "quote": "",
            "rationale": "No passage settles this claim.",
            "label": "unknown",
            "evidence_ids": [],
            "cited_source_supports": "not_cited",
            "follow_up_query": " ".join(text.split()[:8]) + " facts",
        }
        for eid, cited, passage in evidence:
            if figures and figures <= _numbers(passage):
                verdict.update(
                    rationale=f"{eid} states the same figures.",
                    label="right",
                    evidence_ids=[eid],
                    quote=_quote(passage, figures, words),
                    follow_up_query="",
                    cited_source_supports="yes" if cited else "not_cited",
                )
                break
        else:
            for eid, cited, passage in evidence:
                overlap = len(words & set(_WORD.findall(passage.lower()))) / max(len(words), 1)
                if overlap >= 0.6:
                    verdict.update(
                        rationale=f"{eid} gives different figures.",
                        label="wrong",
                        evidence_ids=[eid],
                        quote=_quote(passage, figures, words),
                        follow_up_query="",
                        cited_source_supports="no" if cited else "not_cited",
                    )
                    break
        if "follow_up_query" not in asked:  # the last round asks for none
            del verdict["follow_up_query"]
        answer[claim_id] = verdict
    return json.dumps(answer)


def respond(body: dict[str, Any]) -> str | None:
    name = _schema_name(body)
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")  # not a repair turn
    schema = body["response_format"]["json_schema"]["schema"] if name else {}
    if name == "ExtractedClaims":
        return extract(prompt, schema)
    if name == "BatchVerdicts":
        return verify(prompt, schema)
    return None
