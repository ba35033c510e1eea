"""A deterministic scripted stand-in for an LLM on the task-generation prompts, plugged into FakeOpenAIServer's
``responder`` hook (``server.responder = TaskScript()``).

It reads the fenced blocks of each prompt (the persona, the task, the answer) and answers every call of
``dreval generate-tasks`` with varied, plausible content derived from them: candidate tasks built from the
persona's subdomain (some with a time window, some too short, some near-paraphrases of a sibling, so every filter
and the dedup have work), qualification confidences and answer qualities spread over the whole scale, baseline
answers, single-page checks and synthesized personas. The same prompt always gets the same answer. Options make one
filter degenerate (every score identical) to exercise the summary's warning. Other prompts (rubrics, judging)
fall back to the server's schema-driven answers.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_BLOCK = re.compile(
    r"<<<(?P<name>[A-Z_]+) (?P<id>[0-9a-f]+)>>>\n(?P<body>.*?)\n?<<<END (?P=name) (?P=id)>>>", re.DOTALL
)
_FIELD = re.compile(r"^(Name|Role|Affiliation|Domain|Background): (.*)$", re.MULTILINE)

_REGIONS = [
    "Germany, France and Poland",
    "the Nordic countries",
    "Canada and Australia",
    "Japan and South Korea",
    "Brazil, Mexico and Chile",
    "the United Kingdom and Ireland",
    "India and Indonesia",
    "the Netherlands and Belgium",
    "Spain, Portugal and Italy",
    "Kenya, Nigeria and South Africa",
]
_DELIVERABLES = [
    "a comparison table with sources",
    "a dated timeline",
    "a ranked list of options with costs",
    "a one-page decision memo",
    "a chart-ready dataset",
    "a risk register",
    "an annotated bibliography",
    "a cost estimate with assumptions",
    "a map of stakeholders and positions",
    "a short FAQ",
]
_SOURCES = [
    "official statistics",
    "regulator decisions",
    "peer-reviewed studies",
    "company filings",
    "industry reports",
    "news coverage",
    "court rulings",
    "NGO reports",
]
_MONTHS = ["January", "March", "April", "June", "September", "October"]
_FIRST = [
    "Aino",
    "Bastien",
    "Chidi",
    "Dagny",
    "Esra",
    "Florin",
    "Giulia",
    "Haruto",
    "Ilse",
    "Jabari",
    "Kalani",
    "Liesel",
    "Mateus",
    "Nadia",
    "Oskar",
    "Pita",
    "Quirina",
    "Rashid",
    "Solveig",
    "Teodor",
]
_LAST = [
    "Abernathy",
    "Brennholt",
    "Castellví",
    "Dunmore",
    "Eskildsen",
    "Farouk",
    "Grünwald",
    "Halloway",
    "Iwu",
    "Jablonski",
    "Kettleby",
    "Lindahl",
    "Moravec",
    "Nakagawa",
    "Okparaeke",
    "Pellinen",
]
_ROLES = [
    "regional policy officer",
    "independent consultant",
    "union health and safety representative",
    "graduate researcher",
    "small business owner",
    "municipal councillor",
    "hospital data analyst",
    "retired engineer and volunteer",
    "procurement manager",
    "investigative journalist",
]


def _fraction(*parts: str) -> float:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _pick(options: list[str], *parts: str) -> str:
    return options[int(_fraction(*parts) * len(options))]


def blocks(prompt: str) -> dict[str, str]:
    """The first block of each name in a prompt: ``{"PERSONA": body, "TASK": body, ...}``."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(prompt):
        found.setdefault(match.group("name"), match.group("body"))
    return found


def persona_fields(body: str) -> dict[str, str]:
    fields = {k.lower(): v.strip() for k, v in _FIELD.findall(body)}
    domain = fields.get("domain", "")
    fields["domain"], _, fields["subdomain"] = (part.strip() for part in domain.partition(" / "))
    return fields


def _schema(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    return spec.get("name", ""), spec.get("schema") or {}


def _topic(fields: dict[str, str]) -> str:
    topic = (fields.get("subdomain") or fields.get("role") or "the subject").lower()
    return topic.split(",")[0].strip()


class TaskScript:
    """``FakeOpenAIServer.responder`` for task generation.

    ``constant_confidence`` / ``constant_quality``: answer every qualification (necessity) call with that value,
    as a broken judge copying an example would. ``fail_personas``: substrings of persona names whose generation
    call gets an unusable answer (a schema violation), to test failure accounting.
    """

    def __init__(
        self,
        *,
        constant_confidence: float | None = None,
        constant_quality: float | None = None,
        fail_personas: tuple[str, ...] = (),
    ):
        self.constant_confidence = constant_confidence
        self.constant_quality = constant_quality
        self.fail_personas = fail_personas
        self.calls: dict[str, int] = {}

    def __call__(self, body: dict[str, Any]) -> str | None:
        name, schema = _schema(body)
        # the first user message holds the blocks; a repair turn after an invalid answer comes last
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        handler = {
            "TaskDrafts": self.drafts,
            "PersonaDrafts": self.personas,
            "Qualification": self.qualification,
            "BaselineAnswer": self.answer,
            "NecessityJudgement": self.necessity,
            "SinglePageCheck": self.single_page,
        }.get(name)
        if handler is None:
            return None
        self.calls[name] = self.calls.get(name, 0) + 1
        return json.dumps(handler(prompt, schema), ensure_ascii=False)

    # -- generation ------------------------------------------------------------------------------------------
    def drafts(self, prompt: str, schema: dict[str, Any]) -> Any:
        fields = persona_fields(blocks(prompt).get("PERSONA", ""))
        if any(s in fields.get("name", "") for s in self.fail_personas):
            return {"unexpected": True}
        count = schema["properties"]["tasks"]["minItems"]
        topic, seed = _topic(fields), fields.get("name", "") + fields.get("role", "")
        chinese = "Chinese" in prompt.split("written in", 1)[-1][:40]
        tasks: list[dict[str, Any]] = []
        for i in range(count):
            kind = _fraction(seed, "kind", str(i))
            y1 = 2018 + int(_fraction(seed, "y", str(i)) * 5)
            y2 = min(2025, y1 + 2 + int(_fraction(seed, "span", str(i)) * 3))
            region, region2 = _pick(_REGIONS, seed, "r", str(i)), _pick(_REGIONS, seed, "r2", str(i))
            d1, d2 = _pick(_DELIVERABLES, seed, "d1", str(i)), _pick(_DELIVERABLES, seed, "d2", str(i))
            s1, s2 = _pick(_SOURCES, seed, "s1", str(i)), _pick(_SOURCES, seed, "s2", str(i))
            month = _pick(_MONTHS, seed, "m", str(i))
            window = ""
            if i > 0 and kind < 0.12 and tasks:  # a reworded sibling: the dedup should catch it
                first = tasks[0]
                text = (
                    first["task"]
                    .replace("Compare how", "Compare the ways")
                    .replace("between", "in the years between")
                    .replace(", and deliver", "; deliver")
                )
                window = first["time_window"]
            elif kind < 0.2:
                text = f"Summarise {topic}."  # too short for a research task
            elif chinese:
                window = f"{y1}年至{y2}年"
                text = (
                    f"请比较{region}在{window}期间关于{topic}的政策与数据变化，整理{d1}，并说明{s1}与{s2}之间的分歧"
                    "以及对决策的影响。"
                )
            elif kind < 0.45:
                window = f"between {y1} and {y2}"
                text = (
                    f"Compare how {region} handled {topic} {window}, and deliver {d1} plus {d2}, drawing on "
                    f"{s1} and {s2} and noting where they disagree."
                )
            elif kind < 0.7:
                window = f"from {month} {y1} to {month} {y2}"
                text = (
                    f"Assess what changed in {topic} in {region2} {window}: build {d1}, explain which measures "
                    f"worked and which were reversed, and cite {s1} for every figure."
                )
            elif kind < 0.88:
                window = f"since {y1}"
                text = (
                    f"I need {d1} of the main developments in {topic} {window} in {region}, with {d2} and an "
                    f"account of where {s1} and {s2} disagree about the effects."
                )
            else:
                text = (
                    f"Review the current evidence on {topic} for a non-specialist reader in {region2}; produce "
                    f"{d1} and {d2}, separating measured results from claims made by interested parties."
                )
            tasks.append(
                {
                    "task": text,
                    "deliverables": [d1, d2],
                    "time_window": window,
                    "time_sensitive": bool(window) or _fraction(seed, "ts", str(i)) < 0.5,
                    "search_angles": [f"{topic} policy and rules", f"{topic} outcomes data", f"{topic} critiques"],
                    "source_kinds": ["official statistics", "news reporting", "academic research"][: 2 + (i % 2)],
                    "search_queries": [
                        f"{topic} {region.split(',')[0]} {y1}",
                        f"{topic} evaluation {y2}",
                        f"{topic} statistics",
                    ],
                    "key_challenges": [f"figures on {topic} are scattered across {s1} and {s2}"],
                    "expected_search_rounds": 3 + int(_fraction(seed, "rounds", str(i)) * 8),
                }
            )
        return {"tasks": tasks}

    def personas(self, prompt: str, schema: dict[str, Any]) -> Any:
        count = schema["properties"]["personas"]["minItems"]
        domain = blocks(prompt).get("DOMAIN", "a domain").strip()
        made = []
        for i in range(count):
            first, last = _pick(_FIRST, domain, "f", str(i)), _pick(_LAST, domain, "l", str(i))
            role = _pick(_ROLES, domain, "role", str(i))
            sub = f"{domain.lower()} question {i + 1}: {_pick(_SOURCES, domain, 'sub', str(i))} on local change"
            background = (
                f"{first} {last} works as a {role} and has followed {domain.lower()} for many years. "
                * 1
                + f"This year a concrete decision is due: {first} must advise on {sub}, weighing costs, timing and "
                "the people affected. Previous attempts in the region were poorly documented, so the work starts "
                "from scattered reports, statistics that changed definitions twice, and news accounts that "
                "contradict each other. "
                + f"{first} reads official statistics, regulator papers, trade press and local journalism, keeps a "
                "spreadsheet of every figure with its source and date, and distrusts claims that cannot be traced "
                "to a document. The audience is a committee of non-specialists who want a clear recommendation, "
                "the evidence behind it, and an honest account of what is still unknown or disputed."
            )
            made.append(
                {
                    "name": f"{first} {last}",
                    "role": role.capitalize(),
                    "affiliation": f"An organisation in {domain}",
                    "subdomain": sub,
                    "background": background,
                    "kind": "expert" if i % 2 == 0 else "ordinary person",
                }
            )
        return {"personas": made}

    # -- filters ---------------------------------------------------------------------------------------------
    def qualification(self, prompt: str, schema: dict[str, Any]) -> Any:
        task = blocks(prompt).get("TASK", "")
        f = _fraction(task, "qualification")
        confidence = self.constant_confidence if self.constant_confidence is not None else round(0.4 + 0.58 * f, 2)
        deep = f > 0.15 and "Summarise" not in task
        return {
            "reasoning": f"The task {'needs' if deep else 'does not need'} several rounds of search: it asks for "
            "recent figures from several kinds of sources.",
            "recent_information": deep,
            "cross_verification": f > 0.3,
            "multiple_angles": deep,
            "fits_persona": True,
            "feasible": True,
            "requires_deep_research": deep,
            "confidence": confidence,
        }

    def answer(self, prompt: str, schema: dict[str, Any]) -> Any:
        task = blocks(prompt).get("TASK", "").split("\n")[0]
        return {
            "answer": f"## Answer from memory\n\nWithout searching I can only outline {task[:120]} in general "
            "terms. The figures for the most recent years are beyond what I can confirm, and I cannot "
            "list the sources the task asks for.\n\n- What is generally known: the broad trend.\n"
            "- What is missing: dated figures, the latest decisions, cross-checked sources."
        }

    def necessity(self, prompt: str, schema: dict[str, Any]) -> Any:
        task = blocks(prompt).get("TASK", "")
        if self.constant_quality is not None:
            scores = [self.constant_quality * 10] * 4
        else:
            scores = [round(1 + 8.5 * _fraction(task, "aspect", a), 1) for a in ("acc", "com", "dep", "tim")]
        return {
            "reasoning": "The answer stays general and cannot give the dated figures the task asks for.",
            "accuracy": scores[0],
            "completeness": scores[1],
            "depth": scores[2],
            "timeliness": scores[3],
            "search_necessary": _fraction(task, "necessary") > 0.1,
        }

    def single_page(self, prompt: str, schema: dict[str, Any]) -> Any:
        task = blocks(prompt).get("TASK", "")
        single = _fraction(task, "single") < 0.15
        return {
            "reasoning": "One result already is the requested comparison."
            if single
            else "Each result covers only part of the task.",
            "single_page": single,
            "page": "r1" if single else "none",
        }
