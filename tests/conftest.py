from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from drevalkit.config import Settings
from drevalkit.factcheck.fetch import extract_text
from drevalkit.schemas import Task
from drevalkit.testing.agent_server import AgentServer
from drevalkit.testing.llama import tiny_llama_server
from drevalkit.testing.openai_server import FakeOpenAIServer
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.static_site import StaticSite

from .support import run_tour, stand_in_env, tiny_model_or_skip

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def empty_config_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("config-home")


@pytest.fixture(autouse=True)
def no_user_config(empty_config_home, monkeypatch):
    """The user's own ~/.config/dreval/dreval.toml is read by every command: never the developer's in a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty_config_home))


@pytest.fixture
def judge_server():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def llama():
    """llama.cpp's real server with the tiny model, one for the whole session (loading it costs seconds). Tests
    read its counters before and after what they run: other tests have used it before them."""
    with tiny_llama_server(tiny_model_or_skip()) as server:
        yield server


@pytest.fixture
def second_server():
    """A second judge at its own test server (juries)."""
    with FakeOpenAIServer(model="judge-b") as server:
        yield server


@pytest.fixture
def make_settings(tmp_path):
    """Settings pointing at a test server, with the store and outputs in the test's folder and fast backoff."""

    def make(server: FakeOpenAIServer, **overrides) -> Settings:
        values = dict(
            base_url=server.url,
            api_key="test-secret-key",
            model=server.model,
            home=tmp_path / "home",
            out=tmp_path / "out",
            backoff_base=0.01,
            backoff_max=0.05,
            timeout=3.0,
        )
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def sample_task() -> Task:
    return Task.model_validate_json((SAMPLES / "task.json").read_text())


@pytest.fixture
def sample_report_path(tmp_path) -> Path:
    path = tmp_path / "reports" / "jwst-first-years.md"
    path.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / "report.md", path)
    return path


def cli_env(monkeypatch, folder: Path, values: dict[str, str]) -> dict[str, str]:
    """A CLI run's environment: in ``folder``, none of the caller's dreval settings or keys, then ``values``."""
    monkeypatch.chdir(folder)
    for key in list(os.environ):
        if key.startswith("DREVAL_") or key == "OPENAI_API_KEY":
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def judge_env(judge_server, tmp_path, monkeypatch):
    """Environment for CLI runs against the test server (no config file, store in the test folder)."""
    return cli_env(
        monkeypatch,
        tmp_path,
        stand_in_env(judge_server, tmp_path / "home", "test-secret-key") | {"DREVAL_TIMEOUT": "3"},
    )


@pytest.fixture
def llama_env(llama, tmp_path, monkeypatch):
    """Environment for CLI runs judged by the real llama.cpp server: a store of the test's own (so no answer comes
    from another test's cache), short answers (the tiny model rambles to the limit), no repair turns and no
    retries (a call the server answered is counted once), and time for a busy machine."""
    values = {
        "DREVAL_BASE_URL": llama.base_url,
        "DREVAL_MODEL": llama.alias,
        "DREVAL_HOME": str(tmp_path / "home"),
        "DREVAL_MAX_TOKENS": "32",
        "DREVAL_INVALID_RETRIES": "0",
        "DREVAL_MAX_RETRIES": "0",
        "DREVAL_TIMEOUT": "900",
    }
    return cli_env(monkeypatch, tmp_path, values)


# ----------------------------------------------------------------------- the agent's world: served corpus, scripted agent


def corpus_docs(site: StaticSite) -> list[dict[str, str]]:
    """The sample corpus as a search API indexes it: each page's URL on ``site``, its title and its text."""
    corpus = SAMPLES / "corpus"
    docs = []
    for name in json.loads((corpus / "urls.json").read_text()):
        kind = "text/html" if name.endswith(".html") else "text/plain"
        text, title = extract_text(kind, (corpus / name).read_bytes(), "utf-8")
        docs.append({"url": site.url(name), "title": title or name, "text": text})
    return docs


@pytest.fixture(scope="module")
def corpus_web():
    """(site, search): the sample corpus served over HTTP and a fake search API indexing those pages."""
    with StaticSite(SAMPLES / "corpus") as site, FakeSearchServer() as search:
        search.corpus = corpus_docs(site)
        yield site, search


@pytest.fixture
def agent():
    """The scripted agent behind an OpenAI-compatible endpoint."""
    with AgentServer() as server:
        yield server


# ---------------------------------------------------------------------------------------------------------- the tour


@pytest.fixture(scope="session")
def tour(tmp_path_factory):
    """(out folder, finished process) of one complete tour (``make tour``) for the whole session, the slowest run of
    the suite: the tests that need a complete tour read its folder (copy it before writing into it)."""
    out = tmp_path_factory.mktemp("tour") / "tour"
    done = run_tour(out)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out, done
