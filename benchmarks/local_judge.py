"""The embedded local judge: prompt and generation speed on this machine, and the wall time of the offline demo.

Uses DREVAL_LOCAL_MODEL if set, else the default model of the ``local`` extra. Run:
``python benchmarks/local_judge.py [--skip-demo]``. The LLM cache is off for the speed figures; the demo runs in a
fresh DREVAL_HOME so nothing is reused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.config import Settings, load_settings
from drevalkit.llm.backends.local import LocalChatBackend
from drevalkit.llm.local_model import resolve_local_model

DEMO = ROOT / "samples" / "demo"
DEMO_COMMAND = (
    f"score {DEMO}/report.md --task {DEMO}/task.json --rubric {DEMO}/rubric.json --max-claims 4 --rounds 1 "
    "--evidence-per-claim 2"
)


async def speeds(settings: Settings) -> dict[str, object]:
    """Prefill speed from a long prompt with a short answer, decode speed from a short prompt with a long answer,
    as llama.cpp itself times them."""
    model = resolve_local_model(settings.local_model, settings.home)
    backend = LocalChatBackend(model, settings)
    report = (ROOT / "samples" / "report.md").read_text()
    try:
        started = time.perf_counter()
        await backend.check()
        load = time.perf_counter() - started
        prefill = await backend.create(
            {
                "messages": [{"role": "user", "content": f"{report}\n\nSummarise the report above in one sentence."}],
                "max_tokens": 16,
                "temperature": 0.0,
                "seed": 0,
            }
        )
        decode = await backend.create(
            {
                "messages": [{"role": "user", "content": "Write 200 words on how telescopes work."}],
                "max_tokens": 200,
                "temperature": 0.0,
                "seed": 0,
            }
        )
    finally:
        await backend.close()
    p, d = prefill.model_extra["timings"], decode.model_extra["timings"]
    return {
        "model": model.label,
        "load_s": round(load, 2),
        "prompt_tokens": p["prompt_n"],
        "prompt_tokens_per_s": round(p["prompt_per_second"], 1),
        "generated_tokens": d["predicted_n"],
        "generation_tokens_per_s": round(d["predicted_per_second"], 1),
    }


def demo_wall_time() -> float:
    dreval = [sys.executable, "-m", "drevalkit.cli"]
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k not in ("DREVAL_BASE_URL", "DREVAL_API_KEY", "OPENAI_API_KEY")}
        env["DREVAL_HOME"] = home
        subprocess.run(
            [*dreval, "corpus", "add", str(ROOT / "samples" / "corpus")],
            env=env,
            check=True,
            capture_output=True,
            cwd=home,
        )
        started = time.perf_counter()
        subprocess.run([*dreval, *shlex.split(DEMO_COMMAND)], env=env, check=False, cwd=home)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    settings = load_settings(overrides={"cache": False, "backend": "local"})
    figures = asyncio.run(speeds(settings))
    print(f"local_judge: {os.cpu_count()} CPU threads")
    for key, value in figures.items():
        print(f"{key:26s} {value}")
    if not args.skip_demo:
        wall = demo_wall_time()
        print(
            f"{'offline_demo_wall_s':26s} {wall:.0f}  (dreval {DEMO_COMMAND.split(' --')[0].split('/')[-1]} ..., "
            "model already assembled, fresh store)"
        )


if __name__ == "__main__":
    main()
