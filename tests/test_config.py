from pathlib import Path

import pytest

from drevalkit.agents.protocols.base import get_protocol
from drevalkit.agents.protocols.mirothinker import MiroThinkerProtocol
from drevalkit.config import ConfigError, Price, Settings, load_settings, redact_url


def test_precedence_file_then_env_then_overrides(tmp_path: Path):
    config = tmp_path / "dreval.toml"
    config.write_text('model = "from-file"\nconcurrency = 3\nsamples = 2\n[prices."m"]\ninput = 1.0\noutput = 2.0\n')
    env = {"DREVAL_MODEL": "from-env", "DREVAL_CONCURRENCY": "5"}
    settings = load_settings(config, {"concurrency": 7, "samples": None}, environ=env)
    assert settings.model == "from-env"
    assert settings.concurrency == 7
    assert settings.samples == 2
    assert settings.prices["m"].output == 2.0


def test_unknown_key_and_bad_values_are_clear(tmp_path: Path):
    config = tmp_path / "dreval.toml"
    config.write_text('modle = "typo"\n')
    with pytest.raises(ConfigError, match="unknown keys: modle"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="concurrency"):
        load_settings(None, {"concurrency": 0}, environ={})
    config.write_text("not = [valid")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, environ={})


def test_a_misspelt_setting_is_an_error_naming_it_and_the_close_match(tmp_path: Path):
    # keywords of score_report and load_settings overrides used to be dropped without a word
    with pytest.raises(ConfigError, match=r"max_token: is not a setting \(did you mean 'max_tokens'\?\)") as info:
        load_settings(None, {"max_token": 9000}, environ={})
    assert [p.name for p in info.value.problems] == ["max_token"]
    with pytest.raises(ConfigError, match=r"prices.m.inptu: is not a price rate \(did you mean 'input'\?\)"):
        load_settings(None, {"prices": {"m": {"inptu": 1.0}}}, environ={})
    with pytest.raises(ValueError, match="max_token"):
        Settings(max_token=9000)
    config = tmp_path / "dreval.toml"
    config.write_text('modle = "x"\n[judge]\nfetch_timeout = 3\nzzz = 1\n')
    with pytest.raises(ConfigError, match="unknown keys: judge.fetch_timeout") as info:
        load_settings(config, environ={})
    assert "judge.fetch_timeout (it belongs in [fetch]), judge.zzz, modle (did you mean 'model'?)" in str(info.value)
    config.write_text('[prices."m"]\ncached_inptu = 0.1\n')  # a price table's own keys are checked too
    with pytest.raises(ConfigError, match=r"prices.m.cached_inptu \(in .*dreval.toml\): is not a price rate"):
        load_settings(config, environ={})


def test_secrets_never_in_dumps_or_endpoint_label(tmp_path: Path):
    settings = load_settings(
        None, {"base_url": "https://judge.example:8443/v1/", "api_key": "sk-very-secret"}, environ={}
    )
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in settings.model_dump_json()
    assert redact_url(settings.base_url) == "https://judge.example:8443/v1"
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"api_key": "sk-very-secret", "samples": 0}, environ={})
    assert "sk-very-secret" not in str(info.value)
    for url in ("https://user:pw@judge.example/v1", "https://judge.example/v1?key=pw", "https://judge.example/v1#pw"):
        with pytest.raises(ConfigError) as info:
            load_settings(None, {"base_url": url}, environ={})
        assert "pw" not in str(info.value) and "base_url: must not carry" in str(info.value)


def test_openai_key_only_for_openai_and_home_override(tmp_path: Path):
    settings = load_settings(None, environ={"OPENAI_API_KEY": "k1", "DREVAL_HOME": str(tmp_path)})
    assert settings.api_key.get_secret_value() == "k1"
    assert settings.store_path == tmp_path / "store.sqlite3"
    local = load_settings(None, environ={"OPENAI_API_KEY": "k1", "DREVAL_BASE_URL": "http://127.0.0.1:8000/v1"})
    assert local.api_key is None  # never sent to another endpoint
    for lookalike in (
        "https://api.openai.com.attacker.example/v1",
        "https://evil.example/api.openai.com/v1",
        "https://xapi.openai.com/v1",
    ):
        settings = load_settings(None, environ={"OPENAI_API_KEY": "k1", "DREVAL_BASE_URL": lookalike})
        assert settings.api_key is None, lookalike
    official = load_settings(None, environ={"OPENAI_API_KEY": "k1", "DREVAL_BASE_URL": "https://API.openai.com/v1"})
    assert official.api_key.get_secret_value() == "k1"
    config = tmp_path / "dreval.toml"
    config.write_text('api_key = "from-file"\n')
    assert load_settings(config, environ={"OPENAI_API_KEY": "k1"}).api_key.get_secret_value() == "from-file"


def test_config_hash_ignores_secrets_and_concurrency():
    a = load_settings(None, {"model": "m", "api_key": "x", "concurrency": 1}, environ={})
    b = load_settings(None, {"model": "m", "api_key": "y", "concurrency": 9}, environ={})
    c = load_settings(None, {"model": "m", "samples": 3}, environ={})
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_config_hash_follows_every_declared_score_field():
    from drevalkit.config import Settings, score_fields, section_of

    base = Settings()
    changed = {
        "model": "m2",
        "allow_private_urls": True,
        "embedding_model": "x",
        "structured_output": "text",
        "local_context": 4096,
        "fetch_max_mb": 2.0,
        "search": "serper",
        "rounds": 1,
    }
    for name, value in changed.items():
        assert name in score_fields()
        assert base.model_copy(update={name: value}).config_hash() != base.config_hash(), name
    for name in ("concurrency", "timeout", "out", "cache", "cache_scope", "fetch_concurrency"):
        assert name not in score_fields()
    assert all(section_of(name) for name in Settings.model_fields)


def test_config_file_sections(tmp_path: Path):
    config = tmp_path / "dreval.toml"
    config.write_text('model = "flat"\n[fetch]\nfetch_max_mb = 2.5\n[judge]\nconcurrency = 3\n')
    settings = load_settings(config, environ={})
    assert (settings.model, settings.fetch_max_mb, settings.concurrency) == ("flat", 2.5, 3)
    config.write_text('[fetch]\nmodel = "wrong section"\n')
    with pytest.raises(ConfigError, match="fetch.model"):
        load_settings(config, environ={})


def test_price_cost_counts_cached_tokens_at_their_rate():
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    assert price.cost(prompt_tokens=1_000_000, cached_tokens=400_000, completion_tokens=100_000) == pytest.approx(
        0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 8.0
    )


def test_a_backend_url_changes_the_hash_only_when_that_backend_is_used():
    from drevalkit.config import Settings

    serper = Settings(search="serper")
    assert serper.model_copy(update={"tavily_url": "https://t.example/s"}).config_hash() == serper.config_hash()
    assert serper.model_copy(update={"serper_url": "https://s.example/s"}).config_hash() != serper.config_hash()
    local = Settings()
    for name in ("serper_url", "tavily_url", "brave_url", "searxng_url"):
        assert local.model_copy(update={name: "https://x.example/s"}).config_hash() == local.config_hash(), name
    searxng = Settings(search="searxng", searxng_url="http://a.example/search")
    assert searxng.model_copy(update={"searxng_url": "http://b.example/search"}).config_hash() != searxng.config_hash()


@pytest.mark.parametrize("url", ["http://api.openai.com/v1", "HTTP://API.OpenAI.com./v1", "http://api.openai.com:443"])
def test_plain_http_to_openai_is_refused_before_any_request(url: str):
    # the key would cross the network in clear text: refused for the judge, the agent and a jury member alike
    for name in ("base_url", "agent_base_url"):
        with pytest.raises(ConfigError, match=f"{name}: .*https://"):
            load_settings(None, {name: url, "api_key": "sk-k"}, environ={})
    from drevalkit.llm.factory import JudgeSpecError, jury_settings

    with pytest.raises(JudgeSpecError, match="https://"):
        jury_settings(load_settings(None, {}, environ={}), [f"gpt-4o@{url}"])
    assert load_settings(None, {"base_url": "http://api.openai.com.example/v1"}, environ={}).base_url


def test_agent_settings_section_and_url_check(tmp_path: Path):
    from drevalkit.config import SECTIONS, section_of

    assert "agent" in SECTIONS and section_of("agent_max_turns") == "agent"
    loaded = load_settings(
        None,
        {},
        environ={
            "DREVAL_AGENT_BASE_URL": "http://h:8000/v1/",
            "DREVAL_AGENT_MODEL": "x",
            "DREVAL_AGENT_MAX_TURNS": "7",
        },
    )
    assert (loaded.agent_base_url, loaded.agent_model, loaded.agent_max_turns) == ("http://h:8000/v1", "x", 7)
    with pytest.raises(ConfigError, match="credentials"):
        load_settings(None, {"agent_base_url": "http://user:pw@h/v1"}, environ={})
    config = tmp_path / "dreval.toml"
    config.write_text('[agent]\nagent_protocol = "mirothinker"\nagent_keep_tool_results = 3\n')
    from_file = load_settings(config, environ={})
    assert from_file.agent_protocol == "mirothinker" and from_file.agent_keep_tool_results == 3
    assert get_protocol("MiroThinker") is MiroThinkerProtocol


# ------------------------------------------- which config file is trusted (a ./dreval.toml may come with downloads)

UNTRUSTED = "not trusted to set"


@pytest.mark.parametrize(
    "toml, environ, refused",
    [
        ('[judge]\nbase_url = "http://evil.example/v1"\n', {"DREVAL_API_KEY": "k"}, "judge.base_url"),
        ('base_url = "https://api.openai.com/v1"\n', {"OPENAI_API_KEY": "k"}, "judge.base_url"),
        ('[search]\nserper_url = "http://evil.example/s"\n', {"SERPER_API_KEY": "k"}, "search.serper_url"),
        ('[search]\ntavily_url = "http://evil.example/s"\n', {"DREVAL_TAVILY_API_KEY": "k"}, "search.tavily_url"),
        ('[search]\nbrave_url = "http://evil.example/s"\n', {"BRAVE_API_KEY": "k"}, "search.brave_url"),
        ('[agent]\nagent_base_url = "http://evil.example/v1"\n', {"DREVAL_AGENT_API_KEY": "k"}, "agent.agent_base_url"),
        ("[fetch]\nallow_private_urls = true\n", {}, "fetch.allow_private_urls"),
    ],
)
def test_a_dreval_toml_found_in_the_working_folder_cannot_redirect_keys_or_open_the_guard(
    tmp_path: Path, monkeypatch, toml, environ, refused
):
    monkeypatch.chdir(tmp_path)
    Path("dreval.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ=environ)
    said = str(info.value)
    assert f"./dreval.toml was found in the working folder and is {UNTRUSTED} {refused}" in said
    assert "pass --config ./dreval.toml to trust it" in said and "dreval/dreval.toml" in said
    assert "\n" not in said and "evil.example" not in said and "'k'" not in said
    # named, the same file is the user's choice
    assert load_settings(Path("dreval.toml"), environ=environ) is not None
    assert load_settings(None, environ={**environ, "DREVAL_CONFIG": "dreval.toml"}) is not None


def test_a_working_folder_file_still_sets_harmless_settings_and_its_own_keys(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("dreval.toml").write_text(
        '[judge]\nmodel = "m"\nconcurrency = 3\nbase_url = "http://own.example/v1"\napi_key = "own"\n'
        '[search]\nsearch = "serper"\n[fetch]\nallow_private_urls = false\n[factcheck]\nmax_claims = 7\n'
    )
    settings = load_settings(None, environ={"SERPER_API_KEY": "s", "OPENAI_API_KEY": "o"})
    assert (settings.model, settings.concurrency, settings.search, settings.max_claims) == ("m", 3, "serper", 7)
    assert settings.base_url == "http://own.example/v1" and settings.api_key.get_secret_value() == "own"
    assert settings.serper_url == "https://google.serper.dev/search"  # the environment's key goes to serper itself
    # a URL the environment overrides is not the file's to point anywhere
    env = {"DREVAL_API_KEY": "k", "DREVAL_BASE_URL": "http://mine.example/v1"}
    assert load_settings(None, environ=env).base_url == "http://mine.example/v1"
    # the file's own key overridden by the environment's: the environment's key would go to the file's URL
    with pytest.raises(ConfigError, match="judge.base_url \\(it would receive DREVAL_API_KEY\\)"):
        load_settings(None, environ={"DREVAL_API_KEY": "k"})
    with pytest.raises(ConfigError, match="the key of an option"):
        load_settings(None, {"api_key": "typed"}, environ={})


def test_the_user_config_is_read_and_trusted(tmp_path: Path, monkeypatch):
    from drevalkit.config import find_config, user_config_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    user = tmp_path / "xdg" / "dreval" / "dreval.toml"
    assert user_config_file() == user and find_config(environ={}) is None
    user.parent.mkdir(parents=True)
    user.write_text('[judge]\nbase_url = "http://judge.example/v1"\n[fetch]\nallow_private_urls = true\n')
    settings = load_settings(None, environ={"DREVAL_API_KEY": "k"})
    assert settings.base_url == "http://judge.example/v1" and settings.allow_private_urls
    assert find_config(environ={}).describe() == f"config: {user} (your user config)"
    Path("dreval.toml").write_text("concurrency = 2\n")  # the working folder's file comes first, untrusted
    found = find_config(environ={})
    assert not found.trusted and found.describe() == (
        "config: ./dreval.toml (found in the working folder; not trusted for base URLs that receive a key, "
        "nor for allow_private_urls)"
    )


def test_a_dreval_variable_no_setting_reads_is_named_with_the_closest_one(tmp_path: Path):
    from click.testing import CliRunner

    from drevalkit.cli import main
    from drevalkit.config import unknown_variables

    environ = {"DREVAL_CONCURENCY": "3", "DREVAL_ZZ": "1", "DREVAL_MODEL": "m", "DREVAL_CONFIG": "", "HOME": "/h"}
    assert unknown_variables(environ) == [
        "DREVAL_CONCURENCY is not a dreval setting: ignored (did you mean 'DREVAL_CONCURRENCY'?)",
        "DREVAL_ZZ is not a dreval setting: ignored",
    ]
    env = {"DREVAL_HOME": str(tmp_path), "DREVAL_LOCAL_PARALEL": "4"}
    result = CliRunner().invoke(main, ["config"], env=env)
    assert result.exit_code == 0
    assert "DREVAL_LOCAL_PARALEL is not a dreval setting: ignored (did you mean 'DREVAL_LOCAL_PARALLEL'?)" in (
        result.stderr
    )
    assert "DREVAL_LOCAL_PARALEL" not in result.stdout
