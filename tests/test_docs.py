"""The docs cannot rot: a README of one screen, relative links that resolve, a site navigation that lists every page,
a CLI reference generated for the whole ``dreval`` group, commands in the docs that the CLI knows, the documented
commands that work offline run against the tour's stand-ins (the others listed with why they are not run),
screenshots captioned with the dreval version they were taken with, and a strict build of the site (when mkdocs is
installed)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

import drevalkit
from drevalkit.cli import main
from drevalkit.testing.agent_server import AgentServer
from drevalkit.testing.openai_server import FakeOpenAIServer, make_responder

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
IMAGES = DOCS / "images"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
BASH_BLOCK = re.compile(r"^```(?:bash|sh|console)\n(.*?)^```", re.M | re.S)


def doc_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def relative_links(path: Path) -> Iterator[str]:
    """The relative targets of a markdown file's links and images, outside code."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    for target in LINK.findall(text):
        if SCHEME.match(target) or target.startswith(("#", "/")):
            continue
        yield target.split("#", 1)[0]


def nav_files(entry: object) -> Iterator[str]:
    if isinstance(entry, str):
        yield entry
    elif isinstance(entry, dict):
        for value in entry.values():
            yield from nav_files(value)
    elif isinstance(entry, list):
        for item in entry:
            yield from nav_files(item)


def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def test_readme_fits_one_screen():
    size = len(README.read_bytes())
    assert size <= 8 * 1024, f"README.md is {size} bytes: move the detail into a page under docs/"


def test_every_relative_link_resolves():
    broken = []
    for path in [README, *doc_pages()]:
        for target in relative_links(path):
            resolved = (path.parent / target).resolve()
            if resolved.is_relative_to(IMAGES) and not IMAGES.is_dir():
                continue  # the pictures come from `make screenshots`; checked once it has made them
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_the_navigation_lists_every_page_and_only_pages_that_exist():
    listed = set(nav_files(mkdocs_config()["nav"]))
    pages = {path.relative_to(DOCS).as_posix() for path in doc_pages()}
    assert listed - pages == set(), "mkdocs.yml lists pages that do not exist"
    assert pages - listed == set(), "pages under docs/ missing from mkdocs.yml's nav"


def test_the_cli_reference_is_generated_for_the_whole_group():
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    block = re.search(r"^::: mkdocs-click\n((?:[ \t]+:.*\n?)+)", page, re.M)
    assert block, "docs/reference/cli.md has no mkdocs-click block"
    options = dict(re.findall(r":(\w+):\s*(.*)", block.group(1)))
    assert options.get("module") == "drevalkit.cli"
    assert options.get("command") == "main"
    assert "commands" not in options, "the CLI reference must cover every command, not a chosen few"


SCREENSHOTS = ("scorecard.png", "leaderboard.png")  # made by `make screenshots`, recorded in images/screenshots.json
SCREENSHOT = re.compile(r"!\[[^\]]*\]\((?:[^)\s]*/)?images/([\w.-]+\.png)\)")
CAPTION = re.compile(
    r"\*A page of `make tour`'s stand-ins \([^)]*\), taken with dreval (\S+) by `make screenshots`\.\*"
)


def screenshot_captions() -> Iterator[tuple[Path, str, str]]:
    """(page, picture, the paragraph under it with its lines joined) for every screenshot shown in the docs, outside code."""
    for path in [README, *doc_pages()]:
        paragraphs = [
            " ".join(p.split()) for p in re.split(r"\n\s*\n", FENCE.sub("", path.read_text(encoding="utf-8")))
        ]
        for index, paragraph in enumerate(paragraphs):
            for picture in SCREENSHOT.findall(paragraph):
                if picture in SCREENSHOTS:
                    yield path, picture, paragraphs[index + 1] if index + 1 < len(paragraphs) else ""


def test_every_screenshot_says_the_dreval_version_it_was_taken_with():
    record = json.loads((IMAGES / "screenshots.json").read_text(encoding="utf-8"))
    version = record["dreval_version"]
    problems = []
    if version != drevalkit.__version__:
        problems.append(
            f"the screenshots were taken with dreval {version}, this is {drevalkit.__version__}: run make screenshots "
            f"and update the captions under them"
        )
    shown = set()
    for path, picture, caption in screenshot_captions():
        shown.add(picture)
        where = f"{path.relative_to(ROOT)}: {picture}"
        match = CAPTION.fullmatch(caption)
        if picture not in record["images"]:
            problems.append(f"{where} is not recorded in docs/images/screenshots.json")
        if not match:
            problems.append(
                f"{where} has no caption under it (*A page of `make tour`'s stand-ins (...), taken with dreval "
                f"{version} by `make screenshots`.*); found {caption!r}"
            )
        elif match.group(1) != version:
            problems.append(f"{where}: its caption says dreval {match.group(1)}, screenshots.json says {version}")
    assert shown == set(SCREENSHOTS), f"the docs show {sorted(shown)} of the screenshots {list(SCREENSHOTS)}"
    assert not problems, "\n".join(problems)


def documented_commands() -> Iterator[tuple[Path, str]]:
    """Every ``dreval ...`` line of a shell block in the README and the docs, continuation lines joined."""
    for path in [README, *doc_pages()]:
        for block in BASH_BLOCK.findall(path.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("dreval "):
                    yield path, line


def test_every_documented_command_and_option_exists():
    problems = []
    seen = 0
    for path, line in documented_commands():
        seen += 1
        words = shlex.split(line, comments=True)
        command: click.Command = main
        index = 1
        while isinstance(command, click.Group) and index < len(words) and not words[index].startswith("-"):
            sub = command.commands.get(words[index])
            if sub is None:
                problems.append(f"{path.name}: unknown command {words[index]!r} in {line!r}")
                break
            command, index = sub, index + 1
        else:
            known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
            known |= {"--help", "-h"}
            for word in words[index:]:
                flag = word.split("=", 1)[0]
                if flag.startswith("--") and flag not in known:
                    problems.append(f"{path.name}: {' '.join(words[:index])} has no option {flag}")
    assert seen >= 40, f"only {seen} documented dreval commands found: is the extraction broken?"
    assert not problems, "\n".join(problems)


def test_the_site_builds_strictly_and_documents_every_command(tmp_path):
    for module in ("mkdocs", "material", "mkdocs_click", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module)
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    missing = [" ".join(path) for path in command_paths() if f'id="dreval-{"-".join(path)}"' not in cli]
    assert not missing, f"commands without a section in the CLI reference: {missing}"
    assert "Sentinel" not in cli
    settings = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    from drevalkit.config import Settings

    undocumented = [name for name in Settings.model_fields if f"<code>{name}</code>" not in settings]
    assert not undocumented, f"settings missing from the configuration reference: {undocumented}"
    assert (site / "reference" / "scorecard.schema.json").is_file()


# ------------------------------------------------------------------------------ documented commands: run or listed
#
# Every documented ``dreval`` line is in exactly one of three lists: RUNS_OFFLINE (run below against the tour's
# stand-ins: the stand-in judge and the scripted agent), NEEDS (not run, with what it needs that a test does not
# have) or SAME_AS (the same shape as a command that is run, with why it is not run again). A command added to the
# docs fails test_every_documented_command_is_run_or_listed until someone puts it in one of them.

SAMPLES = ROOT / "samples"
DEEPRESEARCHEVAL = ROOT / "tests" / "data" / "import" / "deepresearcheval"  # a few files in its real layout
OK_CODES = (0, 1)  # 1: finished, some results partial or failed (the stand-ins may); 2: bad invocation, 3: no judge
COMMAND_TIMEOUT = 180.0


def command_key(line: str) -> str:
    """A documented command as the lists below name it: its words, comments dropped, whitespace normalised."""
    return " ".join(shlex.split(line, comments=True))


Check = Callable[[Path, str], None]  # (the scene's folder, the command's output); raises AssertionError


def writes(*patterns: str, at_least: int = 1) -> Check:
    """Each glob pattern (relative to the scene's folder) matches at least ``at_least`` files."""

    def check(folder: Path, output: str) -> None:
        for pattern in patterns:
            found = len(list(folder.glob(pattern)))
            assert found >= at_least, f"{pattern}: {found} files, expected at least {at_least}"

    return check


def says(*phrases: str) -> Check:
    def check(folder: Path, output: str) -> None:
        for phrase in phrases:
            assert phrase in output, f"the output does not say {phrase!r}"

    return check


def lacks(*phrases: str) -> Check:
    def check(folder: Path, output: str) -> None:
        for phrase in phrases:
            assert phrase not in output, f"the output says {phrase!r}"

    return check


def holds(path: str, what: str, test: Callable[[dict], bool]) -> Check:
    """The JSON file at ``path`` passes ``test``; ``what`` says what that checks."""

    def check(folder: Path, output: str) -> None:
        assert test(json.loads((folder / path).read_text(encoding="utf-8"))), f"{path}: not {what}"

    return check


def lines_in(path: str, count: int) -> Check:
    def check(folder: Path, output: str) -> None:
        lines = [line for line in (folder / path).read_text(encoding="utf-8").splitlines() if line.strip()]
        assert len(lines) == count, f"{path}: {len(lines)} lines, expected {count}"

    return check


@dataclass(frozen=True)
class Offline:
    """A documented command the test runs: in which scene's folder, and what it must leave behind."""

    scene: str
    checks: tuple[Check, ...]


JWST = "dreval-out/results/default/jwst-first-years.json"  # every `score report.md --task task.json ...` writes it


def complete(card: dict) -> bool:
    return card["status"] == "complete" and card["provenance"]["judge"]["model"] == "stand-in-judge"


# Each scene's commands run in this order, in the scene's own folder; a command's checks run right after it.
RUNS_OFFLINE: dict[str, Offline] = {
    # -- store: runs first and alone; every scene shares its DREVAL_HOME (the indexed corpus, the LLM cache)
    "dreval corpus add samples/corpus": Offline("store", (says("indexed 8 documents"),)),
    "dreval config": Offline("store", (says("base_url = 'http://127.0.0.1:", "model = 'stand-in-judge'"),)),
    # -- scoring: one report in each documented form, and the options that change what is written
    "dreval score samples/report.md --task samples/task.json": Offline(
        "scoring",
        (holds(JWST, "complete, by the stand-in judge", complete), writes("dreval-out/html/default/*.html")),
    ),
    "dreval score report.md --prompt Survey grid-scale battery deployments in the EU, 2020-2024": Offline(
        "scoring",
        (says("1 complete"), writes("dreval-out/results/default/task-*.json")),
    ),
    "dreval score output.json --task task.json": Offline(
        "scoring",
        (
            holds(
                JWST,
                "the DeepResearchEval file's report",
                lambda card: complete(card) and card["report_ref"]["source_format"] == "deepresearcheval",
            ),
        ),
    ),
    "dreval score report.md --task task.json --no-factcheck": Offline(
        "scoring", (holds(JWST, "quality only", lambda card: card["quality"] and not card["factcheck"]),)
    ),
    "dreval factcheck report.md": Offline(
        "scoring",
        (
            holds(
                "dreval-out/results/default/report.json",
                "fact-checked only",
                lambda card: card["factcheck"]["claims"] and not card["quality"],
            ),
        ),
    ),
    "dreval score report.md --task task.json --replay": Offline(
        "scoring",
        (holds(JWST, "a replay", lambda card: card["factcheck"]["replay"] is True), says(" 0 LLM calls")),
    ),
    # -- judge variance: a folder whose every result was judged 3 times, ranked with the judge's variance
    "dreval score report.md --task task.json --samples 3": Offline(
        "variance", (holds(JWST, "judged 3 times", lambda card: card["provenance"]["samples"] == 3),)
    ),
    "dreval leaderboard dreval-out --judge-variance": Offline(
        "variance", (writes("dreval-out/leaderboard.json"), lacks("there was no judge variance"))
    ),
    # -- generating tasks: plan, generate (20 tasks from the stand-in's script), revalidate, freeze rubrics
    "dreval generate-tasks --n 20 --out tasks.jsonl --dry-run": Offline("generating", (says("expected calls"),)),
    "dreval generate-tasks --n 20 --out tasks.jsonl": Offline(
        "generating", (lines_in("tasks.jsonl", 20), writes("tasks.summary.json", "tasks.rejected.jsonl"))
    ),
    "dreval generate-tasks --revalidate tasks.jsonl": Offline("generating", (writes("tasks.revalidation.json"),)),
    "dreval rubric tasks.jsonl": Offline("generating", (writes("dreval-out/rubrics/*.json", at_least=20),)),
    # -- trusting the judge: the stress probes and agreement with the shipped labels
    "dreval stress samples/report.md --task samples/task.json": Offline(
        "trusting", (writes("dreval-out/judge-cards/*.json", "dreval-out/judge-cards/*.html"),)
    ),
    "dreval agree samples/labels/claims.jsonl --corpus samples/corpus": Offline(
        "trusting", (writes("dreval-out/agree/claims/agreement.json"),)
    ),
    "dreval agree samples/labels/pairs.jsonl": Offline("trusting", (writes("dreval-out/agree/pairs/agreement.json"),)),
    # -- running agents: the scripted agent over the sample tasks, scored, rendered and ranked
    "dreval run-agent --tasks samples/tasks.jsonl --base-url http://127.0.0.1:PORT/v1 --model test-agent "
    "--protocol mirothinker --search local --out reports/scripted/": Offline(
        "agents", (writes("reports/scripted/*.md", "reports/scripted/*.meta.json", at_least=3),)
    ),
    "dreval score reports/scripted/ --tasks samples/tasks.jsonl": Offline(
        "agents", (says("3 complete"), writes("dreval-out/results/scripted/*.json", at_least=3))
    ),
    "dreval html dreval-out": Offline("agents", (says("scorecards written"),)),
    "dreval leaderboard dreval-out --tasks tasks.jsonl": Offline(
        "agents", (writes(*(f"dreval-out/leaderboard.{kind}" for kind in ("csv", "json", "md", "html"))),)
    ),
    "dreval leaderboard dreval-out --format md": Offline("agents", (says("| scripted"),)),
    # -- shards: the scripted agent and the scoring in two shards, a folder each, ranked from both folders
    "dreval run-agent --tasks samples/tasks.jsonl --base-url http://127.0.0.1:PORT/v1 --model test-agent "
    "--protocol mirothinker --search local --shard 1/2 --out machine-1/reports/scripted/": Offline(
        "shards",
        (says("shard 1/2: 2 of 3 tasks"), writes("machine-1/reports/scripted/.run-agent.1-of-2.json")),
    ),
    "dreval run-agent --tasks samples/tasks.jsonl --base-url http://127.0.0.1:PORT/v1 --model test-agent "
    "--protocol mirothinker --search local --shard 2/2 --out machine-2/reports/scripted/": Offline(
        "shards",
        (says("shard 2/2: 1 of 3 tasks"), writes("machine-2/reports/scripted/.run-agent.2-of-2.json")),
    ),
    "dreval score machine-1/reports/scripted/ --tasks samples/tasks.jsonl --shard 1/2 --out machine-1/dreval-out/": (
        Offline(
            "shards",
            (says("shard 1/2: 2 of 2 reports"), writes("machine-1/dreval-out/run.1-of-2.json")),
        )
    ),
    "dreval score machine-2/reports/scripted/ --tasks samples/tasks.jsonl --shard 2/2 --out machine-2/dreval-out/": (
        Offline(
            "shards",
            (says("shard 2/2: 1 of 1 reports"), writes("machine-2/dreval-out/run.2-of-2.json")),
        )
    ),
    "dreval leaderboard machine-1/dreval-out/ machine-2/dreval-out/ --tasks samples/tasks.jsonl": Offline(
        "shards",
        (
            holds(
                "machine-1/dreval-out/leaderboard.json",
                "one row of the 3 tasks from both folders, none missing",
                lambda board: (
                    len(board["results_dirs"]) == 2
                    and [(row["system"], row["results"], row["missing"]) for row in board["systems"]]
                    == [("scripted", 3, 0)]
                ),
            ),
            lacks("is missing", "no result"),
        ),
    ),
    # -- importing: DeepResearchEval's layout (data/method_results/<model>/, data/input_queries/query.jsonl)
    "dreval import deepresearcheval data/method_results/gemini_2.5_pro/ --out reports/gemini/": Offline(
        "importing", (writes("reports/gemini/*.meta.json", at_least=3),)
    ),
    "dreval score reports/gemini/": Offline("importing", (writes("dreval-out/results/gemini/*.json", at_least=2),)),
    "dreval import --tasks data/input_queries/query.jsonl --out tasks.jsonl": Offline(
        "importing", (lines_in("tasks.jsonl", 3),)
    ),
}

NEEDS: dict[str, str] = {
    "dreval score samples/report.md --task samples/task.json --backend local": (
        "needs the embedded 1.1 GB model (the `local` extra: the xllamacpp runtime and Qwen2.5-Coder-1.5B-Instruct "
        "from PyPI), minutes a report on a CPU; `make demo` runs it"
    ),
    "dreval score report.md --task task.json --search serper": "needs the network (the Serper search API and its key)",
    "dreval run-agent --tasks tasks.jsonl --base-url http://localhost:30000/v1 --model MiroThinker-v1.0-72B "
    "--protocol mirothinker --search serper --out reports/mirothinker-72b/": (
        "needs a GPU server (MiroThinker-72B served) and the network (Serper search API); its offline twin, the "
        "scripted agent with --search local, is run"
    ),
    "dreval run-agent --tasks tasks.jsonl --out reports/mirothinker-72b/ --protocol mirothinker "
    "--base-url http://gpu-host:30000/v1 --model MiroThinker-v1.0-72B --context-tokens 131072 --search serper "
    "--extract judge --concurrency 8 --max-turns 50": (
        "needs a GPU server (MiroThinker-72B served) and the network (Serper search API)"
    ),
    "dreval run-agent --tasks tasks.jsonl --base-url http://gpu-host:30000/v1 --model MiroThinker-v1.0-72B "
    "--protocol mirothinker --search serper --shard 1/4 --out reports/mirothinker-72b/": (
        "needs a GPU server (MiroThinker-72B served) and the network (Serper search API); its offline twin, the "
        "scripted agent in two shards, is run"
    ),
    "dreval run-agent --tasks tasks.jsonl --out reports/qwen2.5-72b/ --base-url http://gpu-host:8001/v1 "
    "--model qwen2.5-72b --context-tokens 65536 --concurrency 16": (
        "needs a GPU server (an agent model served with a tool-call parser); tests/test_real_server.py runs "
        "run-agent against llama.cpp's server with a tiny model"
    ),
    "dreval score reports/mirothinker-72b/ --tasks tasks.jsonl": (
        "needs the reports of the MiroThinker run above (a GPU server); the same shape, `score reports/scripted/ "
        "--tasks samples/tasks.jsonl`, is run"
    ),
    "dreval score report.md --task task.json --judge Qwen/Qwen2.5-72B-Instruct@http://gpu1:8000/v1 "
    "--judge meta-llama/Llama-3.3-70B-Instruct@http://gpu2:8000/v1": "needs two model endpoints (GPU servers)",
    "dreval stress runs/mirothinker/ --tasks tasks.jsonl --probes pad,inject,null-report --variants 5": (
        "needs files the user has (their own runs folder), and 5 variants of three probes per report are slow "
        "even against the stand-in; the stress stage is run on the sample report"
    ),
    "dreval agree my-labels.jsonl --results dreval-out/results": (
        "needs files the user has (their own label file, about reports they have scored)"
    ),
    "dreval generate-tasks --personas my-personas/ --synthesize-personas 3 --out mine.jsonl": (
        "needs files the user has (their own folder of personas)"
    ),
    "dreval generate-tasks --n 50 --against published/query.jsonl --id-prefix fresh24- --out fresh.jsonl": (
        "needs files the user has (a published task set to check the new tasks against); 50 tasks would also "
        "take about 40 s against the stand-in"
    ),
}

SAME_AS: dict[str, tuple[str, str]] = {  # command -> (the command run instead, why this one is not run as well)
    "dreval score report.md --task task.json": (
        "dreval score samples/report.md --task samples/task.json",
        "the same command on a copy of the same files",
    ),
    "dreval import FORMAT PATH... --out reports/SYSTEM/": (
        "dreval import deepresearcheval data/method_results/gemini_2.5_pro/ --out reports/gemini/",
        "a synopsis (FORMAT, PATH and SYSTEM are placeholders); its example is the next line",
    ),
    "dreval score runs/mirothinker/ --tasks tasks.jsonl --system mirothinker": (
        "dreval score reports/scripted/ --tasks samples/tasks.jsonl",
        "a folder of one system's reports with their task file; --system only names the system",
    ),
    "dreval html dreval-out/results/mirothinker/task-7.json --out site/": (
        "dreval html dreval-out",
        "the same rendering, of one result file into another folder",
    ),
    "dreval leaderboard dreval-out --out board.html": (
        "dreval leaderboard dreval-out --tasks tasks.jsonl",
        "the same ranking written to one file (the README's command writes all four formats)",
    ),
    **{
        f"dreval score reports/ --tasks tasks.jsonl --shard {k}/4 --out shard-{k}/": (
            "dreval score machine-1/reports/scripted/ --tasks samples/tasks.jsonl --shard 1/2 --out machine-1/dreval-out/",
            "the same command, one shard of four instead of one of two, on the user's own reports",
        )
        for k in range(1, 5)
    },
    "dreval leaderboard shard-1/ shard-2/ shard-3/ shard-4/ --tasks tasks.jsonl": (
        "dreval leaderboard machine-1/dreval-out/ machine-2/dreval-out/ --tasks samples/tasks.jsonl",
        "the same board read from four shards' folders instead of two",
    ),
    "dreval corpus add my-sources/": (
        "dreval corpus add samples/corpus",
        "the same command on the user's own folder of pages",
    ),
    "dreval generate-tasks --per-domain 5 --domain Health --domain Politics --language zh --out zh.jsonl": (
        "dreval generate-tasks --n 20 --out tasks.jsonl",
        "the same stage with other quotas and language; a second generation would add about 15 s",
    ),
}

KNOWN_BUGS: dict[str, str] = {}  # command -> the dreval bug that makes it fail (an xfail, strict: fixed = noticed)


def prepare_store(folder: Path) -> None:
    shutil.copytree(SAMPLES, folder / "samples")


def prepare_scoring(folder: Path) -> None:
    """The files the scoring guide names: the samples, a report and a task beside them (``report.md``,
    ``task.json``) and a DeepResearchEval output file (``output.json``)."""
    shutil.copytree(SAMPLES, folder / "samples")
    shutil.copy(SAMPLES / "report.md", folder / "report.md")
    shutil.copy(SAMPLES / "task.json", folder / "task.json")
    shutil.copy(DEEPRESEARCHEVAL / "gemini" / "deep_research_7_20250821_101500.json", folder / "output.json")


def prepare_samples(folder: Path) -> None:
    shutil.copytree(SAMPLES, folder / "samples")
    shutil.copy(SAMPLES / "tasks.jsonl", folder / "tasks.jsonl")


def prepare_importing(folder: Path) -> None:
    """DeepResearchEval's layout: an output folder per model and the query file."""
    shutil.copytree(DEEPRESEARCHEVAL / "gemini", folder / "data" / "method_results" / "gemini_2.5_pro")
    (folder / "data" / "input_queries").mkdir(parents=True)
    shutil.copy(DEEPRESEARCHEVAL / "query.jsonl", folder / "data" / "input_queries" / "query.jsonl")


# scene -> how its folder is prepared; "store" runs first, the others then two at a time (longest first, roughly)
SCENES: dict[str, Callable[[Path], None]] = {
    "store": prepare_store,
    "scoring": prepare_scoring,
    "generating": lambda folder: None,
    "trusting": prepare_samples,
    "agents": prepare_samples,
    "shards": prepare_samples,
    "importing": prepare_importing,
    "variance": prepare_scoring,
}


@dataclass
class Run:
    key: str
    args: list[str]
    code: int | None = None
    output: str = ""
    seconds: float = 0.0
    problem: str = ""  # what a check found wrong

    def report(self) -> str:
        return (
            f"`dreval {shlex.join(self.args)}` exited with {self.code} in {self.seconds:.1f} s:\n{self.output[-3000:]}"
        )


def documented_arguments() -> dict[str, list[str]]:
    """Each documented command's arguments (after ``dreval``), as the docs write them, by its key."""
    return {command_key(line): shlex.split(line, comments=True)[1:] for _, line in documented_commands()}


def run_scene(scene: str, folder: Path, env: dict[str, str], arguments: dict[str, list[str]], port: int) -> list[Run]:
    folder.mkdir(parents=True)
    SCENES[scene](folder)
    runs = []
    for key, case in RUNS_OFFLINE.items():
        if case.scene != scene:
            continue
        args = [word.replace("127.0.0.1:PORT/", f"127.0.0.1:{port}/") for word in arguments.get(key, [])]
        run = Run(key, args)
        runs.append(run)
        if not args:
            run.problem = "not found in the docs"
            continue
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "drevalkit.cli", *args],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            run.problem = f"did not finish within {COMMAND_TIMEOUT:.0f} s"
            continue
        finally:
            run.seconds = time.monotonic() - started
        run.code, run.output = done.returncode, done.stdout + done.stderr
        if run.code in OK_CODES:
            for check in case.checks:
                try:
                    check(folder, run.output)
                except (AssertionError, OSError, ValueError, KeyError, TypeError) as error:
                    said = str(error).splitlines()  # the check's message, without pytest's rewritten assert
                    run.problem = f"{type(error).__name__}: {said[0] if said else ''}"
                    break
    return runs


@pytest.fixture(scope="module")
def documented_runs(request, tmp_path_factory) -> dict[str, Run]:
    """The RUNS_OFFLINE commands run once, as ``make tour`` runs its commands: the stand-in judge (``--responder
    both``) and the scripted agent serving, the environment without the user's dreval settings or keys, a private
    DREVAL_HOME shared by the scenes, each scene in its own prepared folder. Only the scenes of the selected tests
    run (``-k`` one command: its scene), the store always."""
    selected = {
        item.callspec.params["key"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_documented_command_runs_offline"
    }
    scenes = [name for name in SCENES if name != "store" and any(RUNS_OFFLINE[k].scene == name for k in selected)]
    base = tmp_path_factory.mktemp("documented")
    arguments = documented_arguments()
    judge = FakeOpenAIServer(model="stand-in-judge")
    judge.responder = make_responder("both")
    with judge, AgentServer(model="test-agent") as agent:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("DREVAL_") and not key.endswith("_API_KEY") and key != "SEARXNG_URL"
        }
        env.update(
            DREVAL_HOME=str(base / "home"),
            DREVAL_BASE_URL=judge.url,
            DREVAL_MODEL=judge.model,
            PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            PYTHONUNBUFFERED="1",
        )

        def scene(name: str) -> list[Run]:
            return run_scene(name, base / name, env, arguments, agent.port)

        runs = {run.key: run for run in scene("store")}
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in pool.map(scene, scenes):
                runs.update({run.key: run for run in done})
    return runs


def test_every_documented_command_is_run_or_listed():
    documented = {command_key(line) for _, line in documented_commands()}
    lists = {"RUNS_OFFLINE": set(RUNS_OFFLINE), "NEEDS": set(NEEDS), "SAME_AS": set(SAME_AS)}
    listed = set().union(*lists.values())
    problems = [
        f"not normalised (write it as command_key gives it): {key!r}" for key in listed if key != command_key(key)
    ]
    problems += [f"in no list: {key!r}" for key in sorted(documented - listed)]
    problems += [f"no longer in the docs: {key!r}" for key in sorted(listed - documented)]
    names = list(lists)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            problems += [f"in both {first} and {second}: {key!r}" for key in sorted(lists[first] & lists[second])]
    problems += [f"NEEDS without a reason: {key!r}" for key, why in NEEDS.items() if not why.strip()]
    for key, (target, why) in SAME_AS.items():
        if target not in RUNS_OFFLINE or not why.strip():
            problems.append(f"SAME_AS must name a command that is run, and why: {key!r} -> {target!r}")
    problems += [
        f"RUNS_OFFLINE command in no scene: {key!r}" for key, c in RUNS_OFFLINE.items() if c.scene not in SCENES
    ]
    problems += [f"KNOWN_BUGS for a command that is not run: {key!r}" for key in KNOWN_BUGS if key not in RUNS_OFFLINE]
    assert not problems, "classify every documented dreval command:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[key])) if key in KNOWN_BUGS else key
        for key in RUNS_OFFLINE
    ],
)
def test_documented_command_runs_offline(key, documented_runs):
    run = documented_runs[key]
    assert run.code in OK_CODES, run.report()
    assert not run.problem, f"{run.problem}\n{run.report()}"
