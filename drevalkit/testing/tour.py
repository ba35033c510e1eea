"""A tour of every stage of dreval against stand-ins, for a newcomer without a GPU, an API key or a network
(``make tour``, or ``python -m drevalkit.testing.tour OUT_DIR``).

It starts two local servers in the background, the stand-in judge (``python -m drevalkit.testing.openai_server
--responder both``: task generation from a script, claim extraction and verification by fixed rules, rubrics and
quality scores filled in from the request's schema) and the scripted research agent (``python -m
drevalkit.testing.agent_server``), then runs the real ``dreval`` commands one after the other in OUT_DIR: index the
sample corpus, generate tasks, freeze their rubrics, run the agent as two systems over the sample tasks, score both
and rank them. Each command is printed before it runs, with its own output after it. Everything goes to OUT_DIR,
the store and cache included (a private ``DREVAL_HOME``); the judge's endpoint is set in the commands' environment
only. The servers are stopped at the end, also when a step fails (the tour then says which, and exits 1) or on
Ctrl-C. ``OUT_DIR/tour.json`` records the servers, every command with its exit code and time, and the status.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = ".dreval-tour"  # marks a folder as a tour's, so a new tour may empty it
AGENT_MODEL = "scripted-agent"
JUDGE_MODEL = "stand-in-judge"
SYSTEMS = {  # system (its reports' folder name) -> what makes it differ from the other
    "scripted-mirothinker": ["--protocol", "mirothinker"],
    "scripted-tools-2-turns": ["--protocol", "openai-tools", "--max-turns", "2"],
}
STEP_TIMEOUT = 300.0
START_TIMEOUT = 30.0
_ANNOUNCED = re.compile(r" at (http://\S+)  model (\S+)")
_DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "samples"


class TourError(Exception):
    """A step of the tour failed; the message says which and why."""


@dataclass
class Server:
    """A stand-in server run as a background process, its output in a log file."""

    name: str
    module: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    model: str = ""
    announcement: str = ""

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            # its own session: Ctrl-C reaches the tour, which stops the servers itself
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            match = _ANNOUNCED.search(text)
            if match:
                self.url, self.model = match.groups()
                self.announcement = text[: match.end()].splitlines()[-1].strip()
                return
            if self.process.poll() is not None:
                raise TourError(
                    f"the {self.name} did not start (exit code {self.process.returncode}); its output "
                    f"({self.log}):\n{text.strip()[-2000:]}"
                )
            time.sleep(0.05)
        raise TourError(f"the {self.name} did not announce its URL within {START_TIMEOUT:.0f} s (see {self.log})")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def record(self) -> dict[str, Any]:
        process = self.process
        return {
            "name": self.name,
            "url": self.url,
            "model": self.model,
            "pid": process.pid if process else None,
            "log": str(self.log),
            "running": bool(process and process.poll() is None),
            "exit_code": process.returncode if process else None,
        }


@dataclass
class Step:
    title: str
    args: list[str]  # dreval's arguments
    note: str = ""  # what to look at in its output
    ok_codes: tuple[int, ...] = (0,)
    exit_code: int | None = None
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "command": ["dreval", *self.args],
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class Tour:
    out: Path
    samples: Path
    servers: list[Server] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    status: str = "running"
    error: str = ""
    total: int = 0  # steps planned
    started: float = field(default_factory=time.monotonic)

    # -- paths -----------------------------------------------------------------------------------------------
    def arg(self, path: Path) -> str:
        """A path as written in a command run in the tour folder: relative when that is shorter."""
        relative = os.path.relpath(path, self.out)
        return relative if len(relative) < len(str(path)) else str(path)

    @staticmethod
    def shown(path: Path) -> str:
        """A path as shown to the person who started the tour (relative to where they are, when inside it)."""
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    # -- running ---------------------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The user's environment without any dreval setting or OpenAI key, with a private DREVAL_HOME."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DREVAL_") and k != "OPENAI_API_KEY"}
        env["DREVAL_HOME"] = str(self.out / "home")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def run_step(self, number: int, step: Step, env: dict[str, str]) -> None:
        self.steps.append(step)
        print(f"\n[{number}/{self.total}] {step.title}", flush=True)
        print(f"$ dreval {shlex.join(step.args)}", flush=True)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "drevalkit.cli", *step.args],
                cwd=self.out,
                env=env,
                stdin=subprocess.DEVNULL,
                timeout=STEP_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            step.seconds = time.monotonic() - started
            raise TourError(f"step {number} ({step.title}) did not finish within {STEP_TIMEOUT:.0f} s") from None
        step.seconds, step.exit_code = time.monotonic() - started, done.returncode
        if done.returncode not in step.ok_codes:
            raise TourError(
                f"step {number} ({step.title}) failed: `dreval {shlex.join(step.args)}` exited with "
                f"code {done.returncode} (its output is above)"
            )
        if step.note:
            print(f"  -> {step.note}", flush=True)

    def plan(self, agent: Server) -> list[Step]:
        tasks = self.arg(self.samples / "tasks.jsonl")
        steps = [
            Step(
                "index the sample corpus for the offline `local` search backend",
                ["corpus", "add", self.arg(self.samples / "corpus")],
                "the pages the agent reads and the fact-checker checks against, now in the tour's own store",
            ),
            Step(
                "generate 4 research tasks from personas (no web search offline, so the searchability check is off)",
                [
                    "generate-tasks",
                    "--n",
                    "4",
                    "--domain",
                    "Health",
                    "--domain",
                    "History",
                    "--out",
                    "tasks.jsonl",
                    "--no-searchability",
                    "--dedup-method",
                    "lexical",
                ],
                "tasks.jsonl, with every rejected candidate in tasks.rejected.jsonl and the counts in "
                "tasks.summary.json",
            ),
            Step(
                "build and freeze a rubric for each generated task",
                ["rubric", "tasks.jsonl", "--out", "dreval-out"],
                "one frozen rubric per task in dreval-out/rubrics/",
            ),
        ]
        for system, options in SYSTEMS.items():
            steps.append(
                Step(
                    f"run the scripted agent as system {system} over the sample tasks",
                    [
                        "run-agent",
                        "--tasks",
                        tasks,
                        "--base-url",
                        agent.url,
                        "--model",
                        agent.model,
                        *options,
                        "--search",
                        "local",
                        "--out",
                        f"reports/{system}",
                    ],
                    f"reports/{system}/: a cited report, its sidecar (.meta.json) and its trace (.trace.jsonl) per task",
                )
            )
        for system in SYSTEMS:
            steps.append(
                Step(
                    f"score system {system}: quality against each task's rubric, and fact-checking",
                    ["score", f"reports/{system}", "--tasks", tasks, "--out", "dreval-out"],
                    f"a result JSON per report in dreval-out/results/{system}/, a scorecard in dreval-out/html/{system}/",
                )
            )
        steps.append(
            Step(
                "rank the two systems, with bootstrap intervals",
                ["leaderboard", "dreval-out", "--tasks", tasks],
                "dreval-out/leaderboard.{csv,json,md,html}",
            )
        )
        return steps

    def run(self) -> None:
        env = self.environment()
        logs = self.out / "logs"
        judge = Server(
            "stand-in judge",
            "drevalkit.testing.openai_server",
            ["--responder", "both", "--model", JUDGE_MODEL],
            logs / "judge.log",
        )
        agent = Server("scripted agent", "drevalkit.testing.agent_server", ["--model", AGENT_MODEL], logs / "agent.log")
        print(f"dreval tour in {self.shown(self.out)}: every stage against stand-ins, not models", flush=True)
        for server in (judge, agent):
            self.servers.append(server)
            server.start(env)
            assert server.process is not None  # start returns once the server has announced itself
            print(f"  started {server.announcement}  (pid {server.process.pid})", flush=True)
        env.update(DREVAL_BASE_URL=judge.url, DREVAL_MODEL=judge.model)
        print(
            f"  the commands run in {self.shown(self.out)} with DREVAL_HOME=home DREVAL_BASE_URL={judge.url} "
            f"DREVAL_MODEL={judge.model}",
            flush=True,
        )
        steps = self.plan(agent)
        self.total = len(steps)
        for number, step in enumerate(steps, start=1):
            self.run_step(number, step, env)
        self.check_outputs()

    def check_outputs(self) -> None:
        wanted = [self.out / "tasks.jsonl", self.out / "dreval-out" / "leaderboard.html"]
        wanted += [self.out / "dreval-out" / "html" / system for system in SYSTEMS]
        missing = [self.shown(path) for path in wanted if not path.exists()]
        if missing:
            raise TourError(f"the commands succeeded but these outputs are missing: {', '.join(missing)}")

    def stop_servers(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def write_record(self) -> None:
        record = {
            "status": self.status,
            "error": self.error,
            "seconds": round(time.monotonic() - self.started, 1),
            "samples": str(self.samples),
            "servers": [s.record() for s in self.servers],
            "steps": [s.record() for s in self.steps],
        }
        (self.out / "tour.json").write_text(json.dumps(record, indent=2) + "\n")

    def summary(self) -> None:
        out = self.out / "dreval-out"
        count = sum(1 for line in (self.out / "tasks.jsonl").read_text().splitlines() if line.strip())
        print("\nWhere everything is:", flush=True)
        rows = [
            (
                "generated tasks",
                f"{self.shown(self.out / 'tasks.jsonl')} ({count} tasks; rejected candidates, summary "
                f"and no-search answers beside it)",
            ),
            ("frozen rubrics", self.shown(out / "rubrics")),
        ]
        for system in SYSTEMS:
            rows.append((f"reports of {system}", self.shown(self.out / "reports" / system)))
        for system in SYSTEMS:
            rows.append((f"results of {system}", self.shown(out / "results" / system)))
            cards = sorted(card.name for card in (out / "html" / system).glob("*.html"))
            rows.append(("  scorecards", f"{self.shown(out / 'html' / system)}/ ({', '.join(cards)})"))
        rows += [
            ("leaderboard", self.shown(out / "leaderboard.html") + " (and .csv, .json, .md)"),
            ("server logs, tour record", f"{self.shown(self.out / 'logs')}, {self.shown(self.out / 'tour.json')}"),
        ]
        width = max(len(name) for name, _ in rows)
        for name, where in rows:
            print(f"  {name:<{width}}  {where}", flush=True)
        print(
            f"\nTour finished in {time.monotonic() - self.started:.0f} s. Every figure above comes from stand-ins: "
            f"the judge ({JUDGE_MODEL}) applies fixed rules and fills rubrics and quality scores from the request's "
            f"schema, and the agent ({AGENT_MODEL}) follows a script; none of it measures a real model.",
            flush=True,
        )


def prepare(out: Path) -> None:
    """Create OUT, or empty it when an earlier tour made it; refuse any other non-empty folder."""
    if out.exists() and not out.is_dir():
        raise TourError(f"{out} is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise TourError(f"{out} is not empty and was not made by the tour: choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by python -m drevalkit.testing.tour; a new tour empties this folder\n")


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run every stage of dreval against a stand-in judge and a scripted agent, in OUT_DIR."""
    parser = argparse.ArgumentParser(prog="python -m drevalkit.testing.tour", description=main.__doc__)
    parser.add_argument(
        "out_dir", type=Path, help="folder for everything the tour writes (emptied if an earlier tour made it)"
    )
    parser.add_argument(
        "--samples",
        type=Path,
        default=_DEFAULT_SAMPLES,
        help="the samples folder of a dreval checkout (corpus/ and tasks.jsonl; default: the one beside this package)",
    )
    args = parser.parse_args(argv)
    samples = args.samples.resolve()
    if not (samples / "corpus").is_dir() or not (samples / "tasks.jsonl").is_file():
        print(
            f"error: the tour needs the samples of a dreval checkout (corpus/ and tasks.jsonl), not found in "
            f"{samples}; pass --samples DIR",
            file=sys.stderr,
        )
        return 2
    out = args.out_dir.resolve()
    try:
        prepare(out)
    except TourError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    tour = Tour(out=out, samples=samples)
    previous = signal.signal(signal.SIGTERM, _terminate)
    code = 0
    try:
        tour.run()
        tour.status = "complete"
    except TourError as error:
        tour.status, tour.error, code = "failed", str(error), 1
    except KeyboardInterrupt:
        tour.status, tour.error, code = "interrupted", "interrupted (Ctrl-C)", 130
    except SystemExit as exit_:
        tour.status, tour.error, code = "interrupted", "terminated", int(exit_.code or 1)
    finally:
        tour.stop_servers()
        signal.signal(signal.SIGTERM, previous)
        tour.write_record()
    if code:
        print(
            f"\ntour stopped: {tour.error}; the stand-in servers are stopped. What was written so far is in "
            f"{tour.shown(out)}.",
            file=sys.stderr,
            flush=True,
        )
        return code
    tour.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
